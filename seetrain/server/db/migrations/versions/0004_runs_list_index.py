"""runs (project, start_time, uuid): the runs table's default page (newest first in one project)
reads this index backwards and stops after one page, instead of sorting every run of the project
(bench_ui.py, GET /runs with 10,000 runs).

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_project_start", "runs", ["project", "start_time", "uuid"])


def downgrade() -> None:
    op.drop_index("ix_runs_project_start", table_name="runs")
