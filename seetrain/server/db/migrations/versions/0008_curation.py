"""Curation and blob garbage collection (issues 25/26): the runs' user-set notes, archived and
deleted times and which fields a user edited; ``blob_leases`` (uploads gc must not collect).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_RUN_COLUMNS = (("notes", sa.Text), ("archived", sa.Float), ("deleted", sa.Float), ("edited", sa.JSON))


def upgrade() -> None:
    for name, type_ in _RUN_COLUMNS:
        op.add_column("runs", sa.Column(name, type_))
    op.create_table("blob_leases",
                    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                              autoincrement=True),
                    sa.Column("sha256", sa.String(64), nullable=False),
                    sa.Column("started", sa.Float, nullable=False))
    op.create_index("ix_blob_leases_sha256", "blob_leases", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_blob_leases_sha256", "blob_leases")
    op.drop_table("blob_leases")
    with op.batch_alter_table("runs") as batch:
        for name, _ in reversed(_RUN_COLUMNS):
            batch.drop_column(name)
