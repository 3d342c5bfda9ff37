"""server_state: facts about the server that must outlive the rows they came from. The first is
``keys_ever_created``: once a database has held an API key, the server never serves an anonymous
request again, even after the last key is revoked (issue 21). Databases that hold keys today get
the fact at upgrade.

Revision ID: 0005
Revises: 0004
"""
import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("server_state",
                    sa.Column("name", sa.String(64), primary_key=True),
                    sa.Column("value", sa.String(256), nullable=False),
                    sa.Column("updated", sa.Float, nullable=False))
    op.execute(sa.text("INSERT INTO server_state (name, value, updated) SELECT 'keys_ever_created', '1', :t "
                       "WHERE EXISTS (SELECT 1 FROM api_keys)").bindparams(t=time.time()))


def downgrade() -> None:
    op.drop_table("server_state")
