"""saved_views: the dashboard's saved views per project (a name, the page's URL state, the chart
layout), issue 25.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("saved_views",
                    sa.Column("project", sa.String(256), primary_key=True),
                    sa.Column("name", sa.String(256), primary_key=True),
                    sa.Column("state", sa.JSON, nullable=False),
                    sa.Column("layout", sa.JSON, nullable=False),
                    sa.Column("created", sa.Float, nullable=False),
                    sa.Column("updated", sa.Float, nullable=False))


def downgrade() -> None:
    op.drop_table("saved_views")
