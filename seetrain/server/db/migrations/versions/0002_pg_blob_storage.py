"""PostgreSQL: store the packed arrays and zlib'd record bodies uncompressed (STORAGE EXTERNAL).

Packed float64 arrays hardly compress and the record bodies are compressed already; PostgreSQL's
TOAST compression of them cost about two thirds of the ingest time (bench_server.py). No-op on SQLite.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = {"series_chunks": ("steps", "times", "vals"), "record_chunks": ("seqs", "body")}


def _set(storage: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, cols in COLUMNS.items():
        for col in cols:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} SET STORAGE {storage}")


def upgrade() -> None:
    _set("EXTERNAL")


def downgrade() -> None:
    _set("EXTENDED")
