"""series_chunks.step_stride: a chunk whose steps are evenly spaced stores only the stride.

Steps are then ``step_min + step_stride * arange(n)`` and the ``steps`` blob is empty, so a series
query by step reads half the bytes (bench_server.py, the 1M-point query).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("series_chunks", sa.Column("step_stride", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("series_chunks") as batch:
        batch.drop_column("step_stride")
