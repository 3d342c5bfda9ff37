"""The first schema: runs, packed record and series chunks, keys, events, console, media, API keys.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("uuid", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(256), nullable=False),
        sa.Column("run_id", sa.String(256), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("start_time", sa.Float),
        sa.Column("end_time", sa.Float),
        sa.Column("heartbeat", sa.Float),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("n_records", sa.BigInteger, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_runs_project", "runs", ["project"])
    op.create_table(
        "record_chunks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_uuid", sa.String(32), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("seqs", sa.LargeBinary, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_record_chunks_run_last", "record_chunks", ["run_uuid", "last_seq"])
    op.create_table(
        "series_chunks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_uuid", sa.String(32), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("times", sa.LargeBinary, nullable=False),
        sa.Column("vals", sa.LargeBinary, nullable=False),
        sa.Column("step_min", sa.Float), sa.Column("step_max", sa.Float),
        sa.Column("time_min", sa.Float), sa.Column("time_max", sa.Float),
    )
    op.create_index("ix_series_chunks_run_key", "series_chunks", ["run_uuid", "key", "id"])
    op.create_table(
        "metric_keys",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("last", sa.JSON),
        sa.Column("last_step", sa.BigInteger),
    )
    op.create_table(
        "events",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("time", sa.Float),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_table(
        "console",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("time", sa.Float),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_table(
        "media",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("step", sa.BigInteger),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("caption", sa.Text),
        sa.Column("meta", sa.JSON, nullable=False),
    )
    op.create_table(
        "media_files",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
    )
    op.create_index("ix_media_files_sha256", "media_files", ["sha256"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("project", sa.String(256), nullable=False),
        sa.Column("can_write", sa.Boolean, nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in ("api_keys", "media_files", "media", "console", "events", "metric_keys", "series_chunks",
                 "record_chunks", "runs"):
        op.drop_table(name)
