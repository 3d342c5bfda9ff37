"""History edits (issue 26): ``rewinds`` (a run writer's rewind records, with the last series
chunk they supersede points of) and ``run_forks`` (a forked run's link to its parent).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("rewinds",
                    sa.Column("run_uuid", sa.String(32), primary_key=True),
                    sa.Column("writer", sa.String(64), primary_key=True, server_default=""),
                    sa.Column("seq", sa.BigInteger, primary_key=True),
                    sa.Column("step", sa.BigInteger, nullable=False),
                    sa.Column("max_chunk", sa.BigInteger, nullable=False),
                    sa.Column("time", sa.Float))
    op.create_table("run_forks",
                    sa.Column("child_uuid", sa.String(32), primary_key=True),
                    sa.Column("parent_uuid", sa.String(32), nullable=False),
                    sa.Column("parent_id", sa.String(256)),
                    sa.Column("parent_project", sa.String(256)),
                    sa.Column("step", sa.BigInteger, nullable=False))
    op.create_index("ix_run_forks_parent_uuid", "run_forks", ["parent_uuid"])


def downgrade() -> None:
    op.drop_index("ix_run_forks_parent_uuid", table_name="run_forks")
    op.drop_table("run_forks")
    op.drop_table("rewinds")
