"""The schema (SQLAlchemy Core tables; Alembic migrations in ``migrations/`` build the same).

Scalar points are stored packed: one ``series_chunks`` row holds the points of one key from one
ingested batch as little-endian float64 arrays (steps, times, values), so a batch of 10,000 points
over 10 keys is 10 rows, not 10,000. Records themselves are kept, packed per batch, in
``record_chunks`` (the seq ledger that makes ingest idempotent, and the source of the export).
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String,
                        Table, Text)

metadata = MetaData()

# SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "runs", metadata,
    Column("uuid", String(32), primary_key=True),
    Column("project", String(256), nullable=False, index=True),
    Column("run_id", String(256), nullable=False),
    Column("name", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer),
    Column("start_time", Float),
    Column("end_time", Float),
    Column("heartbeat", Float),
    Column("tags", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("n_records", BigInteger, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_runs_project_start", "project", "start_time", "uuid"),  # the list's default page, no sort
)

record_chunks = Table(
    "record_chunks", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("seqs", LargeBinary, nullable=False),   # int64 little-endian, ascending
    Column("body", LargeBinary, nullable=False),   # zlib(orjson(list of records))
    Index("ix_record_chunks_run_last", "run_uuid", "last_seq"),
)

series_chunks = Table(
    "series_chunks", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False),
    Column("key", String(256), nullable=False),
    Column("n", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),  # float64 (NaN for system metrics)
    Column("times", LargeBinary, nullable=False),  # float64 epoch seconds
    Column("vals", LargeBinary, nullable=False),   # float64 (NaN/inf kept)
    Column("step_min", Float), Column("step_max", Float),
    Column("time_min", Float), Column("time_max", Float),
    Index("ix_series_chunks_run_key", "run_uuid", "key", "id"),
    Column("step_stride", Float),                  # set when steps are evenly spaced: then `steps` is empty
)

metric_keys = Table(
    "metric_keys", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last", JSON),
    Column("last_step", BigInteger),
)

events = Table(
    "events", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("time", Float),
    Column("event", String(64), nullable=False),
    Column("body", JSON, nullable=False),
)

console = Table(
    "console", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("time", Float),
    Column("stream", String(16), nullable=False),
    Column("line", Text, nullable=False),
)

media = Table(
    "media", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("step", BigInteger),
    Column("type", String(32), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("caption", Text),
    Column("meta", JSON, nullable=False),
)

media_files = Table(
    "media_files", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(128), nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(16), primary_key=True),               # public prefix shown in listings
    Column("hash", String(64), nullable=False, unique=True),  # sha256 of the whole key
    Column("project", String(256), nullable=False),           # "*" for every project
    Column("can_write", Boolean, nullable=False),
    Column("note", String(256), nullable=False),
    Column("created", Float, nullable=False),
)

# Facts about the server that outlive any one row elsewhere (e.g. that an API key was ever created:
# from then on the server never serves an anonymous request, even after the last key is revoked).
server_state = Table(
    "server_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("updated", Float, nullable=False),
)

# Saved views of the dashboard (issue 25): per project, a name, the page's URL state and its chart
# layout, as the page sent them (JSON objects the server does not interpret).
saved_views = Table(
    "saved_views", metadata,
    Column("project", String(256), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("layout", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)
