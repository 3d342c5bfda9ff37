"""Shared runs (issue 23): a ``writer`` dimension ("" the primary) on the seq ledger, series, keys,
events, console and media, in the keys where seq is, and the ``run_writers`` table. Every existing
row belongs to the primary writer, and every existing run gets its primary writer's row.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# table -> its primary key with the writer (the order the queries read it in)
_KEYED = {"metric_keys": ["run_uuid", "writer", "key"], "events": ["run_uuid", "writer", "seq"],
          "console": ["run_uuid", "writer", "seq"], "media": ["run_uuid", "writer", "seq", "key", "idx"]}


def _writer_column() -> sa.Column:
    return sa.Column("writer", sa.String(64), nullable=False, server_default="")


def _columns(table: str, with_writer: bool) -> list:
    """The columns of ``table`` as 0001 made them, with the writer after run_uuid when asked."""
    first = [sa.Column("run_uuid", sa.String(32), nullable=False)]
    if with_writer:
        first.append(_writer_column())
    rest = {
        "metric_keys": lambda: [sa.Column("key", sa.String(256), nullable=False),
                                sa.Column("kind", sa.String(16), nullable=False),
                                sa.Column("count", sa.BigInteger, nullable=False), sa.Column("last", sa.JSON),
                                sa.Column("last_step", sa.BigInteger)],
        "events": lambda: [sa.Column("seq", sa.BigInteger, nullable=False), sa.Column("time", sa.Float),
                           sa.Column("event", sa.String(64), nullable=False),
                           sa.Column("body", sa.JSON, nullable=False)],
        "console": lambda: [sa.Column("seq", sa.BigInteger, nullable=False), sa.Column("time", sa.Float),
                            sa.Column("stream", sa.String(16), nullable=False),
                            sa.Column("line", sa.Text, nullable=False)],
        "media": lambda: [sa.Column("seq", sa.BigInteger, nullable=False),
                          sa.Column("key", sa.String(256), nullable=False),
                          sa.Column("idx", sa.Integer, nullable=False), sa.Column("step", sa.BigInteger),
                          sa.Column("type", sa.String(32), nullable=False),
                          sa.Column("path", sa.String(1024), nullable=False), sa.Column("caption", sa.Text),
                          sa.Column("meta", sa.JSON, nullable=False)],
    }[table]()
    return first + rest


def _copy_with_key(table: str, key: list) -> None:
    """SQLite: ``table`` rebuilt with the primary key ``key`` (the writer column added or dropped
    with it), its rows copied."""
    with_writer = "writer" in key
    cols = _columns(table, with_writer)
    kept = ", ".join(c.name for c in cols if c.name != "writer")
    op.create_table(f"{table}_new", *cols, sa.PrimaryKeyConstraint(*key, name=f"{table}_pkey"))
    op.execute(f"INSERT INTO {table}_new ({kept}) SELECT {kept} FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table in ("record_chunks", "series_chunks"):
        op.add_column(table, _writer_column())
    op.drop_index("ix_record_chunks_run_last", "record_chunks")
    op.create_index("ix_record_chunks_run_writer_last", "record_chunks", ["run_uuid", "writer", "last_seq"])
    for table, key in _KEYED.items():
        if pg:  # in place: a new column with a default, the key rebuilt
            op.add_column(table, _writer_column())
            op.drop_constraint(f"{table}_pkey", table, type_="primary")
            op.create_primary_key(f"{table}_pkey", table, key)
        else:  # SQLite changes a primary key by copying the table
            _copy_with_key(table, key)
    op.create_table("run_writers",
                    sa.Column("run_uuid", sa.String(32), primary_key=True),
                    sa.Column("writer", sa.String(64), primary_key=True),
                    sa.Column("last_seq", sa.BigInteger, nullable=False),
                    sa.Column("n_records", sa.BigInteger, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("exit_code", sa.Integer),
                    sa.Column("host", sa.String(256)),
                    sa.Column("rank", sa.Integer),
                    sa.Column("pid", sa.BigInteger),
                    sa.Column("start_time", sa.Float),
                    sa.Column("end_time", sa.Float),
                    sa.Column("heartbeat", sa.Float),
                    sa.Column("meta", sa.JSON, nullable=False),
                    sa.Column("updated", sa.Float, nullable=False))
    op.execute("INSERT INTO run_writers (run_uuid, writer, last_seq, n_records, status, exit_code, start_time, "
               "end_time, heartbeat, meta, updated) SELECT uuid, '', last_seq, n_records, status, exit_code, "
               "start_time, end_time, heartbeat, '{}', updated FROM runs")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_table("run_writers")
    for table, key in _KEYED.items():
        old = [c for c in key if c != "writer"]
        op.execute(f"DELETE FROM {table} WHERE writer <> ''")
        if pg:
            op.drop_constraint(f"{table}_pkey", table, type_="primary")
            op.create_primary_key(f"{table}_pkey", table, old)
            op.drop_column(table, "writer")
        else:
            _copy_with_key(table, old)
    op.drop_index("ix_record_chunks_run_writer_last", "record_chunks")
    op.create_index("ix_record_chunks_run_last", "record_chunks", ["run_uuid", "last_seq"])
    for table in ("record_chunks", "series_chunks"):
        op.execute(f"DELETE FROM {table} WHERE writer <> ''")
        with op.batch_alter_table(table) as batch:
            batch.drop_column("writer")
