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

# In runs.meta (and run_writers.meta): the summary keys set with run.summary[...], sorted. Their
# values win over logged ones (server/ingest.py), as read_run's summary(); not shown as environment.
PINNED_SUMMARY = "_summary_set"

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
    # curation (issue 25/26, server/curation.py): what a user set on the run, never what its process sent
    Column("notes", Text),
    Column("archived", Float),   # when it was archived (NULL: not archived)
    Column("deleted", Float),    # when it was soft-deleted (NULL: not deleted); purge removes the rows
    Column("edited", JSON),      # run fields a user edited ("name", "tags"): run.json no longer replaces them
)

record_chunks = Table(
    "record_chunks", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False),
    Column("writer", String(64), nullable=False, server_default="", default=""),  # "" the primary (issue 23)
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("seqs", LargeBinary, nullable=False),   # int64 little-endian, ascending
    Column("body", LargeBinary, nullable=False),   # zlib(orjson(list of records))
    Index("ix_record_chunks_run_writer_last", "run_uuid", "writer", "last_seq"),
)

series_chunks = Table(
    "series_chunks", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False),
    Column("writer", String(64), nullable=False, server_default="", default=""),  # "" the primary (issue 23)
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
    Column("writer", String(64), primary_key=True, server_default="", default=""),  # "" the primary (issue 23)
    Column("key", String(256), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last", JSON),
    Column("last_step", BigInteger),
)

events = Table(
    "events", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("writer", String(64), primary_key=True, server_default="", default=""),  # "" the primary (issue 23)
    Column("seq", BigInteger, primary_key=True),
    Column("time", Float),
    Column("event", String(64), nullable=False),
    Column("body", JSON, nullable=False),
)

console = Table(
    "console", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("writer", String(64), primary_key=True, server_default="", default=""),  # "" the primary (issue 23)
    Column("seq", BigInteger, primary_key=True),
    Column("time", Float),
    Column("stream", String(16), nullable=False),
    Column("line", Text, nullable=False),
)

media = Table(
    "media", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("writer", String(64), primary_key=True, server_default="", default=""),  # "" the primary (issue 23)
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

# The writers of a run (issue 23): every process that wrote it, each with its own gap-free seqs. The
# primary writer is "" (every run has it; a one-writer run has only it); its last_seq and n_records
# equal the runs row's. The run's status combines its writers' (see ingest.combined_status).
run_writers = Table(
    "run_writers", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("writer", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("n_records", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer),
    Column("host", String(256)),
    Column("rank", Integer),
    Column("pid", BigInteger),
    Column("start_time", Float),
    Column("end_time", Float),
    Column("heartbeat", Float),
    Column("meta", JSON, nullable=False),        # writer.json's other fields; its config and summary
    Column("updated", Float, nullable=False),
)


# Upload leases (server/gc.py): a blob written before the row that references it is committed is
# leased from the moment before it is written until that row is in; gc never collects a leased blob.
blob_leases = Table(
    "blob_leases", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("started", Float, nullable=False),
)

# Artifacts (issue 26, server/artifacts.py): named per project; a version is immutable (its digest
# names its content); files reference blobs by sha256 (or an external URI); aliases name one version
# of their artifact each (``latest`` is not stored: it is the newest version); edges join runs and
# versions (lineage).
artifacts = Table(
    "artifacts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project", String(256), nullable=False),
    Column("name", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Index("ux_artifacts_project_name", "project", "name", unique=True),
)

artifact_versions = Table(
    "artifact_versions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("artifact_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("n_files", Integer, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("producer", String(32)),              # the uuid of the run that logged it
    Column("created", Float, nullable=False),
    Column("deleted", Float),                    # set by rm: the files' rows are gone, the lineage stays
    Index("ux_artifact_versions_number", "artifact_id", "version", unique=True),
    Index("ix_artifact_versions_digest", "artifact_id", "digest"),
)

artifact_files = Table(
    "artifact_files", metadata,
    Column("version_id", BigInteger, primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("sha256", String(64), index=True),    # None for a reference to an external URI
    Column("size", BigInteger),
    Column("uri", Text),
    Column("etag", String(256)),
)

artifact_aliases = Table(
    "artifact_aliases", metadata,
    Column("artifact_id", BigInteger, primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version_id", BigInteger, nullable=False),
)

artifact_edges = Table(
    "artifact_edges", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("version_id", BigInteger, primary_key=True),
    Column("direction", String(8), primary_key=True),  # "input" (the run used it) or "output" (logged it)
    Column("time", Float),
    Index("ix_artifact_edges_version", "version_id"),
)

# THE registry of blob references: every column that holds the sha256 of a blob the store keeps.
# Blob garbage collection and purge (server/gc.py, server/curation.py) keep exactly the blobs some
# row of these columns names; a table that references blobs (artifact files, ...) appends its column.
BLOB_REFERENCES = [media_files.c.sha256]
BLOB_REFERENCES.append(artifact_files.c.sha256)  # artifact versions' files (server/artifacts.py)

# The rows that belong to one run, by their run uuid column: a purge deletes them (then the runs row).
# A table holding a run's own rows appends its column; rows that only point at a run and must outlive
# it (e.g. an artifact version that a run produced) do not belong here.
RUN_ROWS = [record_chunks.c.run_uuid, series_chunks.c.run_uuid, metric_keys.c.run_uuid, events.c.run_uuid,
            console.c.run_uuid, media.c.run_uuid, media_files.c.run_uuid, run_writers.c.run_uuid,
            artifact_edges.c.run_uuid]  # a purged run's lineage edges go; its versions keep `producer`

# History edits (issue 26). A rewind record of a run's writer: the points of that writer's series
# chunks up to ``max_chunk`` (every chunk stored before the rewind) whose step is above ``step`` are
# superseded: hidden from series, history and exports, listed on request (server/rewind.py).
rewinds = Table(
    "rewinds", metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("writer", String(64), primary_key=True, server_default="", default=""),
    Column("seq", BigInteger, primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("max_chunk", BigInteger, nullable=False),  # the highest series_chunks.id stored before it (0: none)
    Column("time", Float),
)

# A forked run's lineage link (seetrain.init(fork_from=(RUN, STEP))): the child's run.json names its
# parent; this table lets the parent's page list its children.
run_forks = Table(
    "run_forks", metadata,
    Column("child_uuid", String(32), primary_key=True),
    Column("parent_uuid", String(32), nullable=False, index=True),
    Column("parent_id", String(256)),
    Column("parent_project", String(256)),
    Column("step", BigInteger, nullable=False),
)
RUN_ROWS += [rewinds.c.run_uuid, run_forks.c.child_uuid]
