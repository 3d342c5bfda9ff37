"""Ingest: create/resume runs and append record batches, idempotent by (run uuid, writer, seq).

In-process API (the ``seetrain ui`` watcher calls these directly, the HTTP routes call them too)::

    from seetrain.server.ingest import ingest_run, store_records, upsert_run, add_records, store_media
    with store.write() as conn: ...          # or let ingest_run / store_records open the transactions

A batch is validated whole (every limit of :class:`~.validate.Limits`, media paths included) before
anything is written, so a bad batch stores nothing. :func:`store_records` then writes it in parts,
each in its own short write transaction (rows are built before the transaction begins), so a large
batch never holds the SQLite write lock for long; a re-sent or overlapping batch, or one cut short
by a crash between parts, stores each seq exactly once (the ``record_chunks`` seq ledger). Scalar
points go to packed ``series_chunks`` rows (one per key per part), see :mod:`.db.models`.

Shared runs (issue 23): every writer of a run has its own seqs; a batch names its ``writer`` (""
the primary, the default: old clients and one-writer runs are simply the primary). Each writer's
ledger, series, keys, events, console and media rows carry its label, and ``run_writers`` keeps
its last seq, count and status. Run-level fields (name, tags, config, summary) come from the
primary only; a non-primary writer (:func:`upsert_writer`) may create the run when it arrives
first. The run's status combines its writers' (:func:`combined_status`).
"""

from __future__ import annotations

import hashlib
import itertools
import operator
import time
import zlib
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from ..rundir.format import FINAL_STATUSES, PRIMARY_WRITER, STATUSES, media_kind, media_refs, ref_paths
from ..rundir.format import valid_writer_label
from . import forks, rewind, series
from .gc import UploadLease, hold_against_gc
from .db.models import PINNED_SUMMARY, console, events, media, media_files, record_chunks, run_writers, runs
from .validate import (IngestError, Limits, caption_text, check_media_path, check_project, check_run_body,
                       check_status, float_or_none, int_or_none, iter_refs, no_nul, norm_uuid, num,
                       validate_records)

__all__ = ["IngestError", "IngestResult", "Limits", "add_records", "check_writer", "combined_status", "finish_run",
           "ingest_records", "ingest_run", "store_media", "store_media_refs", "store_records", "upsert_run",
           "upsert_writer", "validate_records"]
PART_VALUES = 200_000  # values (points, config/summary keys) written in one transaction, at most
PART_KEYS = 5_000      # new (key, part) series rows in one transaction, at most (each is a row and a key upsert)

_RUN_FIELDS = ("project", "id", "name", "status", "exit_code", "start_time", "end_time", "heartbeat", "tags",
               "config", "summary")
_SCALAR_TYPES = frozenset(("metrics", "system"))
_get_data = operator.itemgetter("data")
_get_type = operator.itemgetter("type")


class IngestResult(NamedTuple):
    stored: int
    duplicates: int
    last_seq: int


def _lock_run(conn: Connection, uuid: str):
    q = select(runs).where(runs.c.uuid == uuid)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).mappings().first()


def upsert_run(conn: Connection, uuid: str, meta: Dict[str, Any], max_len: int = 256,
               limits: Limits = Limits()) -> Dict[str, Any]:
    """Create the run ``uuid`` from run.json fields, or merge ``meta`` into it (a retried create or a
    resume is the same run). Runs inside the caller's transaction; ``meta`` is checked against
    ``limits`` before anything is written. Returns the stored row."""
    uuid = norm_uuid(uuid)
    if not isinstance(meta, dict):
        raise IngestError(422, "the run body must be a JSON object (the fields of run.json)")
    meta = check_run_body(meta, limits)
    if meta.get("uuid") not in (None, "") and norm_uuid(meta["uuid"]) != uuid:
        raise IngestError(422, "the body's 'uuid' differs from the uuid in the URL")
    status = check_status(meta.get("status"), STATUSES)
    tags = meta.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise IngestError(422, "'tags' must be a list of strings")
    for k in ("config", "summary"):
        if meta.get(k) is not None and not isinstance(meta[k], dict):
            raise IngestError(422, f"'{k}' must be a JSON object")
    now = time.time()
    row = _lock_run(conn, uuid)
    rest = {k: v for k, v in meta.items() if k not in _RUN_FIELDS and k != "uuid"}
    forks.link(conn, uuid, meta.get("fork_from"))  # a forked run's link to its parent (issue 26)
    if row is None:
        project = check_project(meta.get("project"), max_len)
        rid = no_nul(str(meta.get("id") or uuid[:8])[:max_len])
        values = dict(uuid=uuid, project=project, run_id=rid, name=no_nul(str(meta.get("name") or rid)[:512]),
                      status=status or "running", exit_code=int_or_none(meta.get("exit_code"), 32),
                      start_time=float_or_none(meta.get("start_time")) or now,
                      end_time=float_or_none(meta.get("end_time")),
                      heartbeat=float_or_none(meta.get("heartbeat")), tags=tags or [],
                      config=meta.get("config") or {}, summary=meta.get("summary") or {}, meta=rest,
                      last_seq=-1, n_records=0, created=now, updated=now)
        conn.execute(insert(runs).values(**values))
        _put_writer(conn, uuid, PRIMARY_WRITER, {**{k: values[k] for k in _WRITER_STATE}, **_identity(meta)}, now)
        return values
    values: Dict[str, Any] = {"updated": now, "meta": {**(row["meta"] or {}), **rest}}
    if "project" in meta and meta["project"] != row["project"]:
        raise IngestError(409, f"run {uuid} belongs to project {row['project']!r}; a run cannot move project")
    edited = row.get("edited") or ()  # a user's edit of the name or tags wins over run.json (curation.py)
    if meta.get("name") and "name" not in edited:
        values["name"] = no_nul(str(meta["name"])[:512])
    if status:
        values["status"] = status
    for k in ("exit_code",):
        if k in meta:
            values[k] = int_or_none(meta[k], 32)  # runs.exit_code is a 32-bit column
    for k in ("start_time", "end_time", "heartbeat"):
        if meta.get(k) is not None:
            values[k] = float_or_none(meta[k])
    if tags is not None and "tags" not in edited:
        values["tags"] = tags
    if meta.get("config"):
        values["config"] = {**(row["config"] or {}), **meta["config"]}
    if meta.get("summary"):
        values["summary"] = {**(row["summary"] or {}), **meta["summary"]}
    _put_writer(conn, uuid, PRIMARY_WRITER, {**{k: values[k] for k in _WRITER_STATE if k in values}, **_identity(meta)},
                now)
    values.update(_combined(conn, uuid))  # a shared run: the status its writers' together make
    conn.execute(update(runs).where(runs.c.uuid == uuid).values(**values))
    return {**row, **values}


# --- writers (issue 23) ------------------------------------------------------------------------
_WRITER_STATE = ("status", "exit_code", "start_time", "end_time", "heartbeat")  # a writer's own, as the run's
_ID_BITS = {"rank": 32, "pid": 64}  # run_writers' column sizes
_STATUS_PRECEDENCE = ("running", "crashed", "failed", "killed", "success")  # the first any writer has wins


def check_writer(label: Any) -> str:
    """A writer label as stored: ``""`` (or None) for the primary, else a valid label (422 otherwise)."""
    if label is None or label == PRIMARY_WRITER:
        return PRIMARY_WRITER
    if not valid_writer_label(label):
        raise IngestError(422, f"writer {str(label)[:70]!r} is not a writer label: 1 to 64 of A-Z a-z 0-9 . _ -, "
                               "not starting with a dot (leave it out, or \"\", for the primary writer)")
    return label


def combined_status(statuses: List[str], primary: Optional[str] = None) -> str:
    """The run's status from its writers' (as :mod:`seetrain.rundir.writers` reads a run directory):
    running while any writer runs; then crashed if any crashed; else the primary's (``primary``;
    without one, the worst: failed, killed, success)."""
    have = set(statuses)
    if "running" in have or "crashed" in have or primary is None:
        return next((s for s in _STATUS_PRECEDENCE if s in have), "running")
    return primary


def _identity(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The writing process a run.json names (its rank, host and pid), for the primary's writer row."""
    out: Dict[str, Any] = {k: meta[k] for k, bits in _ID_BITS.items() if int_or_none(meta.get(k), bits) is not None}
    if isinstance(meta.get("host"), str):
        out["host"] = no_nul(meta["host"][:256])
    return out


def _put_writer(conn: Connection, uuid: str, writer: str, fields: Dict[str, Any], now: float) -> None:
    """Set a writer's fields in ``run_writers`` (the row made on first use)."""
    c = run_writers.c
    if conn.execute(update(run_writers).where(c.run_uuid == uuid, c.writer == writer)
                    .values(**fields, updated=now)).rowcount == 0:
        row = dict(run_uuid=uuid, writer=writer, last_seq=-1, n_records=0, status="running", meta={}, updated=now)
        row.update(fields)
        conn.execute(insert(run_writers).values(**row))


def _combined(conn: Connection, uuid: str) -> Dict[str, Any]:
    """The run-row fields its writers make together (status, heartbeat, end and exit code); ``{}``
    for a run whose only writer is the primary (its own fields are the run's)."""
    c = run_writers.c
    ws = conn.execute(select(c.writer, c.status, c.exit_code, c.heartbeat, c.end_time)
                      .where(c.run_uuid == uuid).order_by(c.writer)).all()
    if len(ws) == 0 or (len(ws) == 1 and ws[0].writer == PRIMARY_WRITER):
        return {}
    status = combined_status([w.status for w in ws], next((w.status for w in ws if w.writer == PRIMARY_WRITER), None))
    # the newest heartbeat of the writers still running: the run lives while one of them does, and
    # reads crashed (vanished) once the last stops beating without ending; with none running, the
    # last heartbeat of all
    live = [w.heartbeat for w in ws if w.heartbeat is not None and w.status == "running"]
    beats = [w.heartbeat for w in ws if w.heartbeat is not None]
    out: Dict[str, Any] = {"status": status, "heartbeat": max(live) if live else max(beats) if beats else None}
    ends = [w.end_time for w in ws]
    out["end_time"] = max(e for e in ends if e is not None) if status in FINAL_STATUSES and any(
        e is not None for e in ends) else None
    out["exit_code"] = next((w.exit_code for w in ws if w.status == status), None)
    return out


def upsert_writer(conn: Connection, uuid: str, writer: str, body: Dict[str, Any], max_len: int = 256,
                  limits: Limits = Limits()) -> Dict[str, Any]:
    """Create or update a non-primary writer of run ``uuid`` from its ``writer.json`` fields (rank,
    host, pid, status, exit_code, start_time, end_time, heartbeat; the rest kept in its meta). The
    body's ``run`` object (project, id, name, start_time) creates the run when this writer arrives
    before the primary (another machine synced first); it never changes an existing run's fields.
    Runs inside the caller's transaction; returns the writer's row."""
    uuid = norm_uuid(uuid)
    writer = check_writer(writer)
    if writer == PRIMARY_WRITER:
        raise IngestError(422, f"the primary writer's fields are the run's: PUT /api/v1/runs/{uuid}")
    if not isinstance(body, dict):
        raise IngestError(422, "the writer body must be a JSON object (the fields of writer.json)")
    body = check_run_body(body, limits)
    status = check_status(body.get("status"), STATUSES)
    for k, bits in {**_ID_BITS, "exit_code": 32}.items():
        if body.get(k) is not None and int_or_none(body[k], bits) is None:
            raise IngestError(422, f"the writer's '{k}' must be an integer of at most {bits} bits")
    if body.get("host") is not None and not isinstance(body["host"], str):
        raise IngestError(422, "the writer's 'host' must be a string")
    run_fields = body.get("run") or {}
    if not isinstance(run_fields, dict):
        raise IngestError(422, "the writer's 'run' must be a JSON object (project, id, name of the run)")
    if body.get("uuid") not in (None, "") and norm_uuid(body["uuid"]) != uuid:
        raise IngestError(422, "the body's 'uuid' differs from the uuid in the URL")
    now = time.time()
    row = _lock_run(conn, uuid)
    if row is None:  # this writer's machine synced before the primary's: the run begins here
        project = check_project(run_fields.get("project"), max_len)
        rid = no_nul(str(run_fields.get("id") or uuid[:8])[:max_len])
        conn.execute(insert(runs).values(
            uuid=uuid, project=project, run_id=rid, name=no_nul(str(run_fields.get("name") or rid)[:512]),
            status="running", start_time=float_or_none(run_fields.get("start_time") or body.get("start_time")) or now,
            tags=[], config={}, summary={}, meta={}, last_seq=-1, n_records=0, created=now, updated=now))
    elif run_fields.get("project") not in (None, row["project"]):
        raise IngestError(409, f"run {uuid} belongs to project {row['project']!r}; a writer cannot move it")
    c = run_writers.c
    old = conn.execute(select(c.meta).where(c.run_uuid == uuid, c.writer == writer)).first()
    fields: Dict[str, Any] = {k: body[k] for k in ("rank", "pid") if body.get(k) is not None}
    if body.get("host") is not None:
        fields["host"] = no_nul(body["host"][:256])
    for k in ("start_time", "end_time", "heartbeat"):
        if body.get(k) is not None:
            fields[k] = float_or_none(body[k])
    if status:
        fields["status"] = status
    if "exit_code" in body:
        fields["exit_code"] = int_or_none(body["exit_code"], 32)
    rest = {k: v for k, v in body.items() if k not in _WRITER_STATE and k not in ("rank", "pid", "host", "run", "uuid")}
    fields["meta"] = {**((old[0] if old else None) or {}), **rest}
    _put_writer(conn, uuid, writer, fields, now)
    conn.execute(update(runs).where(runs.c.uuid == uuid).values(updated=now, **_combined(conn, uuid)))
    return dict(conn.execute(select(run_writers).where(c.run_uuid == uuid, c.writer == writer)).mappings().first())


class _Rows(NamedTuple):
    """The rows of some new records of one run, built before the write transaction begins."""

    seqs: List[int]
    chunk: Dict[str, Any]             # the record_chunks row (the seq ledger and the export's source)
    series: List[Dict[str, Any]]
    kinds: Dict[str, list]            # key -> [kind, count, last, last_step] for metric_keys
    events: List[Dict[str, Any]]
    console: List[Dict[str, Any]]
    media: List[Dict[str, Any]]
    summary_set: Dict[str, Any]       # set with run.summary[...] (summary records): they win, as in read_run
    summary_logged: Dict[str, Any]    # each logged key's latest value
    config: Dict[str, Any]


def _in_seq_order(recs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The records sorted by seq, the first of each repeated seq kept."""
    arr = np.fromiter((r["seq"] for r in recs), dtype=np.int64, count=len(recs))
    if arr.size > 1 and not (arr[1:] > arr[:-1]).all():  # out of order or repeated: first of each seq, sorted
        batch: Dict[int, Dict[str, Any]] = {}
        for r in recs:
            batch.setdefault(r["seq"], r)
        return [batch[s] for s in sorted(batch)]
    return recs


def _stored_seqs(conn: Connection, uuid: str, lo: int, hi: int, writer: str = PRIMARY_WRITER) -> set:
    """The seqs in ``lo..hi`` that ``writer`` of the run has stored (its own ledger only)."""
    existing: set = set()
    c = record_chunks.c
    for (blob,) in conn.execute(select(c.seqs).where(
            c.run_uuid == uuid, c.writer == writer, c.last_seq >= lo, c.first_seq <= hi)):
        existing.update(np.frombuffer(blob, dtype="<i8").tolist())
    return existing


def _new_only(recs: List[Dict[str, Any]], existing: set) -> List[Dict[str, Any]]:
    return [r for r in recs if r["seq"] not in existing] if existing else recs


def _run_row(conn: Connection, uuid: str, lock: bool):
    row = _lock_run(conn, uuid) if lock else conn.execute(select(runs).where(runs.c.uuid == uuid)).mappings().first()
    if row is None:
        raise IngestError(404, f"run {uuid} does not exist; create it first with PUT /api/v1/runs/{uuid}")
    return row


def _writer_row(conn: Connection, uuid: str, writer: str, run_row: Any) -> Dict[str, Any]:
    """What ingest needs of a writer: its last seq (the primary's is the run row's) and, for a
    non-primary writer, its meta (its config and summary)."""
    if writer == PRIMARY_WRITER:
        return {"last_seq": run_row["last_seq"], "meta": None}
    c = run_writers.c
    w = conn.execute(select(c.last_seq, c.meta).where(c.run_uuid == uuid, c.writer == writer)).first()
    return {"last_seq": w[0], "meta": w[1] or {}} if w else {"last_seq": -1, "meta": {}}


def add_records(conn: Connection, uuid: str, recs: List[Dict[str, Any]],
                writer: str = PRIMARY_WRITER) -> IngestResult:
    """Append validated records of ``writer`` to run ``uuid`` inside the caller's transaction (one
    transaction for the whole batch: in a server, prefer :func:`store_records`); seqs that writer
    already stored are skipped (counted as duplicates). The run must exist (see :func:`upsert_run`)."""
    uuid, writer = norm_uuid(uuid), check_writer(writer)
    row = _run_row(conn, uuid, lock=True)
    w = _writer_row(conn, uuid, writer, row)
    if not recs:
        return IngestResult(0, 0, w["last_seq"])
    ordered = _in_seq_order(recs)
    existing = (_stored_seqs(conn, uuid, ordered[0]["seq"], ordered[-1]["seq"], writer)
                if ordered[0]["seq"] <= w["last_seq"] else set())
    new = _new_only(ordered, existing)
    if not new:
        return IngestResult(0, len(recs), w["last_seq"])
    last_seq = w["last_seq"]
    for part in rewind.split_parts([new]):  # a rewind ends its part (server/rewind.py)
        last_seq = _write(conn, uuid, row, _rows(uuid, part, writer), writer)
        rewind.store(conn, uuid, writer, part)
        row = _run_row(conn, uuid, lock=False)
    return IngestResult(len(new), len(recs) - len(new), last_seq)


def _parts(recs: List[Dict[str, Any]]) -> List[List[Dict[str, Any]]]:
    """Seq-ordered records cut into parts that each make a short write transaction: at most
    :data:`PART_VALUES` values and :data:`PART_KEYS` (key, part) series rows per part (a record is
    never cut: one record of the largest legal size is one part)."""
    if set(map(_get_type, recs)) <= _SCALAR_TYPES:  # the usual batch: scalars only; one part when it fits
        datas = list(map(_get_data, recs))
        if sum(map(len, datas)) <= PART_VALUES and len(set(map(tuple, datas))) * max(map(len, datas)) <= PART_KEYS:
            return [recs]
    parts: List[List[Dict[str, Any]]] = []
    cur: List[Dict[str, Any]] = []
    n_vals = n_keys = 0
    shapes: set = set()
    for r in recs:
        t = r["type"]
        if t in _SCALAR_TYPES:
            d = r["data"]
            vals, kt = len(d), tuple(d)
            keys = 0 if kt in shapes else len(kt)
        else:
            payload = r.get(t) if t in ("config", "summary") else None
            vals, kt, keys = 1 + (len(payload) if type(payload) is dict else 0), None, 0
        if cur and (n_vals + vals > PART_VALUES or n_keys + keys > PART_KEYS):
            parts.append(cur)
            cur, n_vals, n_keys, shapes = [], 0, 0, set()
            keys = len(kt) if kt is not None else 0
        cur.append(r)
        n_vals += vals
        n_keys += keys
        if kt is not None:
            shapes.add(kt)
    if cur:
        parts.append(cur)
    return parts


def ingest_records(store, uuid: str, records: Any, limits: Limits,
                   authorize: Optional[Callable[[], None]] = None, writer: Any = PRIMARY_WRITER) -> IngestResult:
    """The one way a batch of records is stored, by the HTTP route and by the in-process sink of
    ``seetrain ui``: checked whole against ``limits`` (nothing is written when a record is refused),
    then ``authorize()`` (the route's permission check: it may raise), then written in short
    transactions (:func:`store_records`) as ``writer``'s records."""
    writer = check_writer(writer)
    recs = validate_records(records, limits=limits)
    if authorize is not None:
        authorize()
    return store_records(store, uuid, recs, writer)


def store_records(store, uuid: str, recs: List[Dict[str, Any]], writer: str = PRIMARY_WRITER) -> IngestResult:
    """Append validated records of ``writer`` to run ``uuid`` in short write transactions (see
    :func:`_parts`); ``store`` is the app's :class:`~.app.Store`. Each part's rows are built before
    its transaction begins; the transaction checks the writer's seq ledger again and builds them
    anew only when a concurrent request stored some of the same seqs meanwhile. Seqs the writer
    already stored count as duplicates; the result's last seq is the writer's."""
    uuid, writer = norm_uuid(uuid), check_writer(writer)
    with store.read() as conn:
        row = _run_row(conn, uuid, lock=False)
        last_seq = _writer_row(conn, uuid, writer, row)["last_seq"]
    if not recs:
        return IngestResult(0, 0, last_seq)
    from . import artifacts  # artifact events: refused whole while a blob they name is missing

    arts = artifacts.incoming(uuid, recs)
    if arts:
        artifacts.check_blobs(store.blobs, arts)
    ordered = _in_seq_order(recs)
    stored = 0
    for part in rewind.split_parts(_parts(ordered)):  # a rewind ends its part (server/rewind.py)
        lo, hi = part[0]["seq"], part[-1]["seq"]
        with store.read() as conn:
            seen_last = _writer_row(conn, uuid, writer, _run_row(conn, uuid, lock=False))["last_seq"]
            existing = _stored_seqs(conn, uuid, lo, hi, writer) if lo <= seen_last else set()
        new = _new_only(part, existing)
        rows = _rows(uuid, new, writer) if new else None
        with store.write() as conn:  # the write's turn in arrival order: Store.write
            row = _run_row(conn, uuid, lock=True)
            w = _writer_row(conn, uuid, writer, row)
            if lo <= w["last_seq"]:  # did a concurrent request store some of these seqs meanwhile?
                now = _stored_seqs(conn, uuid, lo, hi, writer)
                if now != existing:
                    new = _new_only(part, now)
                    rows = _rows(uuid, new, writer) if new else None
            last_seq = _write(conn, uuid, row, rows, writer, w) if rows is not None else w["last_seq"]
            if rows is not None:
                rewind.store(conn, uuid, writer, new)
        stored += len(new)
    if arts:
        artifacts.apply(store, uuid, arts)  # idempotent: a batch sent again changes nothing
    return IngestResult(stored, len(recs) - stored, last_seq)


def _write(conn: Connection, uuid: str, row: Any, rows: _Rows, writer: str = PRIMARY_WRITER,
           w: Optional[Dict[str, Any]] = None) -> int:
    """Insert ``rows`` of ``writer`` and update the run's and the writer's rows (the run locked by
    the caller); returns the writer's last seq. Only the primary's records set the run's config and
    summary; another writer's are kept as its own (its ``run_writers`` meta)."""
    conn.execute(insert(record_chunks).values(**rows.chunk))
    if rows.series:
        _insert_series(conn, rows.series)
    if rows.kinds:
        _upsert_keys(conn, uuid, rows.kinds, writer)
    if rows.events:
        conn.execute(insert(events), rows.events)
    if rows.console:
        conn.execute(insert(console), rows.console)
    if rows.media:
        conn.execute(insert(media), rows.media)
    w = w if w is not None else _writer_row(conn, uuid, writer, row)
    last_seq = max(w["last_seq"], rows.seqs[-1])
    now = time.time()
    values: Dict[str, Any] = {"n_records": row["n_records"] + len(rows.seqs), "updated": now}
    own: Dict[str, Any] = {"last_seq": last_seq, "n_records": run_writers.c.n_records + len(rows.seqs)}
    summary_changed = bool(rows.summary_set or rows.summary_logged)
    if writer == PRIMARY_WRITER:
        values["last_seq"] = last_seq
        if summary_changed:
            values["summary"], pinned = _merged_summary(row["summary"] or {}, row["meta"] or {}, rows)
            if pinned is not None:
                values["meta"] = {**(row["meta"] or {}), PINNED_SUMMARY: pinned}
        if rows.config:
            values["config"] = {**(row["config"] or {}), **rows.config}
    elif summary_changed or rows.config:
        meta = dict(w["meta"] or {})
        if summary_changed:
            meta["summary"], pinned = _merged_summary(meta.get("summary") or {}, meta, rows)
            if pinned is not None:
                meta[PINNED_SUMMARY] = pinned
        if rows.config:
            meta["config"] = {**(meta.get("config") or {}), **rows.config}
        own["meta"] = meta
    conn.execute(update(runs).where(runs.c.uuid == uuid).values(**values))
    c = run_writers.c
    if conn.execute(update(run_writers).where(c.run_uuid == uuid, c.writer == writer)
                    .values(**own, updated=now)).rowcount == 0:
        conn.execute(insert(run_writers).values(run_uuid=uuid, writer=writer, last_seq=last_seq,
                                                n_records=len(rows.seqs), status="running",
                                                meta=own.get("meta", {}), updated=now))
    return last_seq


def _group_scalars(new: List[Dict[str, Any]]):
    """Metrics/system records grouped by their tuple of keys (arrival order), and the other records."""
    ms = [r for r in new if r["type"] in _SCALAR_TYPES]
    others = [r for r in new if r["type"] not in _SCALAR_TYPES] if len(ms) < len(new) else []
    kts = list(map(tuple, map(_get_data, ms)))
    if not kts:
        return {}, others
    first = kts[0]
    if kts.count(first) == len(kts):  # the usual batch: every record logs the same keys
        return {first: ms}, others
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for kt, r in zip(kts, ms):
        g = groups.get(kt)
        if g is None:
            g = groups[kt] = []
        g.append(r)
    return groups, others


def _group_values(kt: tuple, datas: List[Dict[str, Any]]) -> Optional[np.ndarray]:
    """The group's values as an (n, len(kt)) float64 array in one C conversion, or None when some
    value is not a number (or a NaN/Infinity tag): media refs, lists, text."""
    try:
        if len(kt) == 1:
            k = kt[0]
            vals = np.array([d[k] for d in datas], dtype="<f8")
            return vals[:, None] if vals.ndim == 1 else None
        try:  # one C pass over plain numbers (the group's dicts share one key order)
            flat = np.fromiter(itertools.chain.from_iterable(map(dict.values, datas)), dtype="<f8",
                               count=len(datas) * len(kt))
            return flat.reshape(len(datas), len(kt))
        except (ValueError, TypeError):  # None, a tag or something else: numpy's own conversion decides
            vals = np.array([list(d.values()) for d in datas], dtype="<f8")
            return vals if vals.ndim == 2 else None
    except (ValueError, TypeError):
        return None


def _merged_summary(old: Dict[str, Any], meta: Dict[str, Any], rows: _Rows) -> Tuple[Dict[str, Any], Optional[List[str]]]:
    """The summary after ``rows``, and the pinned keys when ``rows`` pinned new ones (else None).
    A key once set with ``run.summary[...]`` (a summary record, in this batch or any before) keeps
    the value set over every logged value, whatever the order: what ``read_run(...).summary()`` says."""
    pinned = set(meta.get(PINNED_SUMMARY) or ())
    new_pins = rows.summary_set.keys() - pinned
    pinned |= new_pins
    logged = {k: v for k, v in rows.summary_logged.items() if k not in pinned}
    return {**old, **logged, **rows.summary_set}, (sorted(pinned) if new_pins else None)


def _rows(uuid: str, new: List[Dict[str, Any]], writer: str = PRIMARY_WRITER) -> _Rows:
    """The rows of seq-ordered new records of ``writer``: the ledger chunk, packed series, keys,
    events, console, media."""
    seqs = [r["seq"] for r in new]
    chunk = dict(run_uuid=uuid, writer=writer, first_seq=seqs[0], last_seq=seqs[-1], n=len(new),
                 seqs=np.asarray(seqs, dtype="<i8").tobytes(), body=zlib.compress(orjson.dumps(new), 1))
    summary: Dict[str, Any] = {}
    config: Dict[str, Any] = {}
    ev_rows, con_rows = [], []
    groups, others = _group_scalars(new)
    for r in others:
        t = r["type"]
        if t == "event":
            ev_rows.append(dict(run_uuid=uuid, writer=writer, seq=r["seq"], time=num(r.get("time")),
                                event=no_nul(r["event"][:64]), body=r))
        elif t == "console":
            con_rows.append(dict(run_uuid=uuid, writer=writer, seq=r["seq"], time=num(r.get("time")),
                                 stream=no_nul(str(r.get("stream", "stdout"))[:16]), line=no_nul(r["line"])))
        elif t == "config":
            config.update(r["config"])
        elif t == "summary":
            summary.update(r["summary"])
    cols: Dict[str, List[tuple]] = {}  # key -> [(steps, times, vals, (step/time min/max) or None)], arrival order
    kinds: Dict[str, list] = {}        # key -> [kind, count, last, last_step, seq of last]
    latest: Dict[str, tuple] = {}      # key -> (seq, value): the summary of the metrics, by seq across groups
    media_rows: List[Dict[str, Any]] = []
    for kt, recs in groups.items():
        if not kt:
            continue
        if "system" not in set(map(_get_type, recs)):
            steps = [r.get("step") for r in recs]          # None -> NaN in the conversion
        else:
            steps = [r.get("step") if r["type"] == "metrics" else None for r in recs]
        st = np.array(steps, dtype="<f8")
        tms = np.array([r.get("time") for r in recs], dtype="<f8")
        datas = list(map(_get_data, recs))
        vals = _group_values(kt, datas)
        if vals is not None:
            last_step, last_seq = recs[-1].get("step"), recs[-1]["seq"]
            last = datas[-1]
            # steps, times and their bounds are the same for every key of the group: encoded once
            stride = series.stride_of(st)
            shared = (b"" if stride is not None else st.tobytes(), stride, tms.tobytes(),
                      (_nanmin(st), _nanmax(st), _nanmin(tms), _nanmax(tms)))
            by_key = np.ascontiguousarray(vals.T)
            for j, k in enumerate(kt):
                cols.setdefault(k, []).append((st, tms, by_key[j], shared))
                _bump(kinds, k, "scalar", len(recs), last[k], last_step, last_seq)
                _newer(latest, k, last_seq, last[k])
        else:
            _slow_group(uuid, kt, st, tms, recs, cols, kinds, latest, media_rows)
    series_rows = []
    for k, parts in cols.items():
        if len(parts) == 1 and parts[0][3] is not None:
            a_v = parts[0][2]
            steps_b, stride, times_b, bounds = parts[0][3]
        else:
            a_st, a_tm, a_v = (np.concatenate(x) if len(parts) > 1 else x[0] for x in list(zip(*parts))[:3])
            stride = series.stride_of(a_st)
            steps_b, times_b = b"" if stride is not None else a_st.tobytes(), a_tm.tobytes()
            bounds = (_nanmin(a_st), _nanmax(a_st), _nanmin(a_tm), _nanmax(a_tm))
        series_rows.append(dict(run_uuid=uuid, writer=writer, key=k, n=int(a_v.size), steps=steps_b, step_stride=stride, times=times_b,
                                vals=np.ascontiguousarray(a_v, dtype="<f8").tobytes(), step_min=bounds[0],
                                step_max=bounds[1], time_min=bounds[2], time_max=bounds[3]))
    for m in media_rows:
        m["writer"] = writer
    return _Rows(seqs, chunk, series_rows, kinds, ev_rows, con_rows, media_rows, summary,
                 {k: v for k, (_, v) in latest.items()}, config)


def _bump(kinds: Dict[str, list], key: str, kind: str, n: int, last: Any, last_step: Any, seq: int) -> None:
    """Count ``n`` more values of ``key``; its last value is the one of the highest seq (a batch's records
    are grouped by their keys, and a key's groups come in any order)."""
    c = kinds.get(key)
    if c is None:
        kinds[key] = [kind, n, last, last_step, seq]
    else:
        c[1] += n
        if seq > c[4]:
            c[2], c[3], c[4] = last, last_step, seq


def _newer(latest: Dict[str, tuple], key: str, seq: int, value: Any) -> None:
    """Keep ``value`` as ``key``'s latest unless a record of a higher seq gave one already."""
    got = latest.get(key)
    if got is None or seq > got[0]:
        latest[key] = (seq, value)


def _slow_group(uuid: str, kt: tuple, st: np.ndarray, tms: np.ndarray, recs: List[Dict[str, Any]],
                cols: Dict[str, List[tuple]], kinds: Dict[str, list], latest: Dict[str, tuple],
                media_rows: List[Dict[str, Any]]) -> None:
    """Records mixing scalars with media refs or other values: value by value."""
    per: Dict[str, tuple] = {}
    for i, r in enumerate(recs):
        step, seq = r.get("step"), r["seq"]
        for k, v in r["data"].items():
            f = num(v)
            if f is not None:
                p = per.get(k)
                if p is None:
                    p = per[k] = ([], [])
                p[0].append(i)
                p[1].append(f)
                _newer(latest, k, seq, v)
                _bump(kinds, k, "scalar", 1, v, step, seq)
                continue
            refs = media_refs(v)
            if refs:
                for j, ref in enumerate(refs):
                    path = check_media_path(ref.get("path"), f"seq {r['seq']} key {k[:60]!r} media path")
                    media_rows.append(dict(run_uuid=uuid, seq=r["seq"], key=k, idx=j, step=step,
                                           type=media_kind(ref)[:32], path=path, caption=caption_text(ref.get("caption")),
                                           meta={a: b for a, b in ref.items() if a not in ("path", "caption")}))
                _bump(kinds, k, media_kind(refs[0])[:16], len(refs), refs[-1], step, seq)
    for k, (idx, vals) in per.items():
        ix = np.asarray(idx, dtype=np.int64)
        cols.setdefault(k, []).append((st[ix], tms[ix], np.asarray(vals, dtype="<f8"), None))


def _nanmin(a: np.ndarray) -> Optional[float]:
    return None if np.isnan(a).all() else float(np.nanmin(a))


def _nanmax(a: np.ndarray) -> Optional[float]:
    return None if np.isnan(a).all() else float(np.nanmax(a))


_SERIES_COLS = ("run_uuid", "writer", "key", "n", "steps", "step_stride", "times", "vals", "step_min", "step_max", "time_min",
                "time_max")


def _executemany(conn: Connection, sql: str, rows: List[tuple]) -> None:
    """``sql`` (``?`` placeholders) run once per row straight on the driver: a batch's thousands of
    series and key rows without SQLAlchemy's per-row parameter processing (time inside the write lock)."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, rows)


def _insert_series(conn: Connection, series_rows: List[Dict[str, Any]]) -> None:
    cols = ", ".join(_SERIES_COLS)
    _executemany(conn, f"INSERT INTO series_chunks ({cols}) VALUES ({', '.join('?' * len(_SERIES_COLS))})",
                 [tuple(r[c] for c in _SERIES_COLS) for r in series_rows])


def _upsert_keys(conn: Connection, uuid: str, kinds: Dict[str, list], writer: str = PRIMARY_WRITER) -> None:
    """Add each key's count and set its last value, one upsert per key (SQLite and PostgreSQL alike)."""
    json_param = "CAST(? AS json)" if conn.dialect.name == "postgresql" else "?"
    _executemany(conn, "INSERT INTO metric_keys (run_uuid, writer, key, kind, count, last, last_step) "
                       f"VALUES (?, ?, ?, ?, ?, {json_param}, ?) ON CONFLICT (run_uuid, writer, key) DO UPDATE SET "
                       "count = metric_keys.count + excluded.count, last = excluded.last, last_step = excluded.last_step",
                 [(uuid, writer, k, kind, count, orjson.dumps(last).decode(), last_step)
                  for k, (kind, count, last, last_step, _) in kinds.items()])


def finish_run(conn: Connection, uuid: str, body: Dict[str, Any], limits: Limits = Limits()) -> Dict[str, Any]:
    """Mark a run ended: ``{"status", "exit_code", "end_time", "summary"}`` (all optional but status)."""
    status = body.get("status") if isinstance(body, dict) else None
    if type(status) is not str or status not in FINAL_STATUSES:
        raise IngestError(422, f"finish needs 'status' in {sorted(FINAL_STATUSES)}")
    meta = {"status": status, "end_time": body.get("end_time") or time.time()}
    for k in ("exit_code", "summary"):
        if k in body:
            meta[k] = body[k]
    if _lock_run(conn, norm_uuid(uuid)) is None:
        raise IngestError(404, f"run {uuid} does not exist")
    writer = check_writer(body.get("writer"))
    if writer != PRIMARY_WRITER:  # one writer of a shared run ended: the run's status combines theirs
        upsert_writer(conn, uuid, writer, {k: v for k, v in meta.items() if k != "summary"}, limits=limits)
        return dict(_lock_run(conn, norm_uuid(uuid)))
    return upsert_run(conn, uuid, meta, limits=limits)


def store_media(conn: Connection, blobs, uuid: str, path: str, tmp_file: str, sha256: str, size: int,
                content_type: str) -> None:
    """Put a finished temp file into the blob store (by sha256) and map (run, media path) to it."""
    check_media_path(path)
    hold_against_gc(conn)  # the blob is referenced in this transaction: no gc between the two
    blobs.put_file(sha256, tmp_file, content_type)
    _map_media(conn, uuid, path, sha256, size, content_type)


def _map_media(conn: Connection, uuid: str, path: str, sha256: str, size: int, content_type: str) -> None:
    conn.execute(media_files.delete().where(media_files.c.run_uuid == uuid, media_files.c.path == path))
    conn.execute(insert(media_files).values(run_uuid=uuid, path=path, sha256=sha256, size=size,
                                            content_type=content_type))


def _may_hold_refs(recs: List[Dict[str, Any]]) -> bool:
    """Whether some metrics value is a dict or a list (a media ref can only be one), in one C pass."""
    datas = [r["data"] for r in recs if r.get("type") == "metrics"]
    vtypes = set(map(type, itertools.chain.from_iterable(map(dict.values, datas))))
    return dict in vtypes or list in vtypes


def _file_sha256(path: str) -> Tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def ingest_run(store, meta: Dict[str, Any], recs: List[Dict[str, Any]],
               media_loader: Optional[Callable[[str], Optional[str]]] = None) -> IngestResult:
    """One call for in-process producers (the ui watcher): upsert the run from ``meta`` (run.json,
    which must carry ``uuid``), add ``recs``, and store the media they reference through
    ``media_loader(path) -> local file path or None``. ``store`` is the app's :class:`~.app.Store`.
    Everything is checked first (the server's limits, any number of records); raises
    :class:`IngestError` and stores nothing when run.json or a record is refused. The records are
    then written in short transactions (:func:`store_records`), the media files copied before the
    one transaction that maps them (:func:`store_media_refs`)."""
    uuid = norm_uuid(meta.get("uuid", ""))
    limits = Limits.of(store.settings)
    n = limits.batch_records  # the server's batches: any number of records is checked in slices of its size
    batches = [validate_records(recs[i:i + n], limits=limits) for i in range(0, len(recs), n)]
    recs = [r for b in batches for r in b] if len(batches) != 1 else batches[0]
    meta = check_run_body(meta, limits)
    with store.write() as conn:
        upsert_run(conn, uuid, meta, limits=limits)
    res = store_records(store, uuid, recs)
    if media_loader is not None:
        store_media_refs(store, uuid, recs, media_loader)
    return res


def store_media_refs(store, uuid: str, recs: List[Dict[str, Any]],
                     media_loader: Callable[[str], Optional[str]]) -> int:
    """Store the media files that validated records reference, each through
    ``media_loader(path) -> local file path or None`` (None: not stored); the files are copied into
    the blob store before the one transaction that maps them. Returns the files stored."""
    import mimetypes
    import os

    if not _may_hold_refs(recs):
        return 0
    found = []
    lease = UploadLease(store)  # the blobs are written before the transaction that maps them (gc.py)
    for r in recs:
        if r.get("type") == "metrics":
            for path in (p for ref in iter_refs(r) for p in ref_paths(ref)):  # a table's cells too
                local = media_loader(path)
                if local and os.path.isfile(local):
                    sha, size = _file_sha256(local)
                    ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
                    lease.add(sha)
                    store.blobs.put_file(sha, local, ctype)
                    found.append((path, sha, size, ctype))
    if found:
        with store.write() as conn:
            for path, sha, size, ctype in found:
                _map_media(conn, uuid, path, sha, size, ctype)
    lease.release()
    return len(found)
