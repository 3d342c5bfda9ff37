"""Read queries behind the dashboard API: projects, runs (filter, sort, page), one run, keys,
events, console, media and the full-resolution export."""

from __future__ import annotations

import math
import time
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

import orjson
from sqlalchemy import Float, String, and_, case, cast, exists, func, literal, not_, null, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from ..run_filter import ORDERING, Condition, Filter, Literal
from .curation import curation_fields, state_clause
from .db.models import PINNED_SUMMARY, console, events, media, media_files, metric_keys, record_chunks, runs, series_chunks

LIST_FIELDS = ("uuid", "run_id", "name", "project", "status", "start_time", "end_time", "heartbeat", "tags",
               "config", "summary", "updated", "exit_code", "n_records", "archived", "deleted")
SORTABLE = {"start_time", "end_time", "name", "id", "status", "duration", "updated", "project"}
JSON_SORTS = ("config.", "summary.")  # sort=config.KEY / sort=summary.KEY: by a config or last metric value


def effective_status(row: Dict[str, Any], stale_s: float, now: Optional[float] = None) -> Dict[str, Any]:
    """``status`` as readers show it: a ``running`` run whose heartbeat is older than ``stale_s``
    is ``crashed`` with ``vanished: true`` (its process died without saying so)."""
    now = time.time() if now is None else now
    beat = row.get("heartbeat") or row.get("updated") or 0
    if row["status"] == "running" and now - beat > stale_s:
        return {"status": "crashed", "vanished": True}
    return {"status": row["status"], "vanished": False}


def run_summary(row: Dict[str, Any], stale_s: float, now: Optional[float] = None) -> Dict[str, Any]:
    now = time.time() if now is None else now
    end = row.get("end_time")
    st = effective_status(row, stale_s, now)
    start = row.get("start_time")
    last = end or (row.get("heartbeat") if st["status"] != "running" else now)
    return {"uuid": row["uuid"], "id": row["run_id"], "name": row["name"], "project": row["project"],
            "status": st["status"], "vanished": st["vanished"], "exit_code": row.get("exit_code"),
            "start_time": start, "end_time": end,
            "duration": (last - start) if (start and last) else None, "tags": row.get("tags") or [],
            "config": row.get("config") or {}, "summary": row.get("summary") or {},
            "records": row.get("n_records", 0), "archived": row.get("archived"), "deleted": row.get("deleted")}


def list_projects(conn: Connection, allowed: Optional[str]) -> List[Dict[str, Any]]:
    live = func.sum(case((runs.c.deleted.is_(None), 1), else_=0))  # deleted runs are not counted (curation.py)
    q = select(runs.c.project, live, func.max(runs.c.updated)).group_by(runs.c.project)
    if allowed not in (None, "*"):
        q = q.where(runs.c.project == allowed)
    return [{"name": p, "runs": int(n or 0), "last_activity": t} for p, n, t in conn.execute(q.order_by(runs.c.project))]


def _plain_label(part: str) -> bool:
    """A key SQLite's JSON path syntax finds as written: printable ASCII, no quote or backslash.
    (SQLite compares path labels with the stored, escaped key text, so ``ü`` stored as ``\\u00fc``
    is never found by ``$."ü"``.)"""
    return part != "" and part.isascii() and part.isprintable() and '"' not in part and "\\" not in part


def _sqlite_each(col: Any, parts: Tuple[str, ...]) -> Tuple[Any, Any]:
    """``(json type, value)`` at ``parts`` in SQLite, found with ``json_each`` one level at a time:
    keys compared as decoded text, so any key (non-ASCII, quotes, empty) is found as written."""
    froms, conds, prev = [], [], None
    for part in parts:
        arg = col if prev is None else case((prev.c.type == "object", prev.c.value), else_=literal("{}"))
        each = func.json_each(arg).table_valued("key", "value", "type").alias()
        froms.append(each)
        conds.append(each.c.key == part)
        prev = each

    def one(c: Any) -> Any:
        return select(c).select_from(*froms).where(*conds).limit(1).scalar_subquery()
    return one(prev.c.type), one(prev.c.value)


def _json_value(col: Any, dialect: str, key: str) -> Tuple[Any, Any]:
    """``(text, number)`` SQL expressions for the value at ``key`` in the JSON column ``col``.

    ``key`` is a top-level key when the object has it literally (``"opt.name"``), else a dotted
    path into nested objects (``opt`` -> ``name``), as the list filters always read it; any key
    text but ``"`` works the same on both databases (non-ASCII, commas, backslashes, empty segments).
    ``text`` is the value as Python's ``str()`` writes it for strings, numbers and booleans
    (``True``); ``number`` is the value when it is a JSON number, else NULL. Uses only JSON functions
    of SQLite (``json_extract``, ``json_type``, ``json_each``) and PostgreSQL (``->``, ``->>``,
    ``json_typeof``), each key passed as its own parameter; a segment names an object's key on both,
    never an array index."""
    if '"' in key or not key:
        raise ValueError(f"JSON key {key[:60]!r}: a config or summary key must be non-empty and have no '\"'")
    paths = [(key,)] + ([tuple(key.split("."))] if "." in key else [])
    texts, nums = [], []
    for parts in paths:
        if dialect == "postgresql":
            parent = col  # json -> text finds object keys only (json_extract_path would index arrays too)
            for part in parts[:-1]:
                parent = parent.op("->")(cast(literal(part), String))
            last = cast(literal(parts[-1]), String)
            txt, typ = parent.op("->>")(last), func.json_typeof(parent.op("->")(last))
            nums.append(case((typ == "number", cast(txt, Float)), else_=null()))
            texts.append(case((typ == "boolean", case((txt == "true", "True"), else_="False")),
                              (typ == "null", "None"), else_=txt))
            continue
        if all(map(_plain_label, parts)):
            jp = "$" + "".join(f'."{p}"' for p in parts)
            typ, val = func.json_type(col, jp), func.json_extract(col, jp)
        else:
            typ, val = _sqlite_each(col, parts)
        nums.append(case((typ.in_(("integer", "real")), cast(val, Float)), else_=null()))
        texts.append(case((typ == "true", "True"), (typ == "false", "False"), (typ == "null", "None"),
                          else_=cast(val, String)))
    if len(paths) == 1:
        return texts[0], nums[0]
    return func.coalesce(*texts), func.coalesce(*nums)


def _config_match(dialect: str, key: str, want: str) -> Any:
    """``config.KEY=VALUE``: the value's text equals VALUE, or both are the same number (``1e-3``
    matches 0.001), or both are the same boolean (``true`` matches ``True``)."""
    text, number = _json_value(runs.c.config, dialect, key)
    conds = [text == want]
    try:
        f = float(want)
    except ValueError:
        f = None
    if f is not None and math.isfinite(f):
        conds.append(number == f)
    if want.lower() in ("true", "false"):
        conds.append(text == want.capitalize())
    return or_(*conds)


def _has_tag(dialect: str, tag: str) -> Any:
    if dialect == "postgresql":
        return cast(runs.c.tags, JSONB).contains([tag])
    each = func.json_each(runs.c.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag))


def _text_cmp(dialect: str, expr: Any, op: str, text: str) -> Any:
    """``expr op text`` by code point on both databases (PostgreSQL's collation could sort otherwise)."""
    if dialect == "postgresql":
        expr = expr.collate("C")
    return {"<": expr < text, "<=": expr <= text, ">": expr > text, ">=": expr >= text}[op]


def _json_equal(text: Any, number: Any, lit: Literal) -> Any:
    """A JSON value equals ``lit`` (never NULL): the same number, the same text, or the boolean
    ``true``/``false`` names (as :func:`seetrain.run_filter._json_equal`)."""
    conds = [and_(number.is_(None), text.isnot(None), text == lit.text)]  # a number never equals text
    if lit.number is not None:
        conds.append(and_(number.isnot(None), number == lit.number))
    if lit.text.lower() in ("true", "false"):
        conds.append(and_(number.is_(None), text.isnot(None), text == lit.text.capitalize()))
    return or_(*conds)


def _condition(dialect: str, cond: Condition, eff: Any) -> Any:
    """One filter condition as a two-valued SQL expression (no NULL: ``!=`` negates ``=`` exactly)."""
    f, op = cond.field, cond.op
    negate = op in ("!=", "not in")
    if f.kind == "tag":
        hit = or_(*[_has_tag(dialect, lit.text) for lit in cond.values])
    elif f.kind in ("status", "name", "id"):
        col = {"status": eff, "name": runs.c.name, "id": runs.c.run_id}[f.kind]
        if op in ORDERING:
            return _text_cmp(dialect, col, op, cond.values[0].text)
        hit = col.in_([lit.text for lit in cond.values])
    else:
        text, number = _json_value(runs.c.config if f.kind == "config" else runs.c.summary, dialect, f.key)
        if op in ORDERING:
            lit = cond.values[0]
            if lit.number is not None:
                return and_(number.isnot(None), {"<": number < lit.number, "<=": number <= lit.number,
                                                 ">": number > lit.number, ">=": number >= lit.number}[op])
            return and_(number.is_(None), text.isnot(None), _text_cmp(dialect, text, op, lit.text))
        hit = or_(*[_json_equal(text, number, lit) for lit in cond.values])
    return not_(hit) if negate else hit


def filter_clause(dialect: str, flt: Filter, eff: Any) -> List[Any]:
    """WHERE terms for a parsed runs filter (:mod:`seetrain.run_filter`); ``eff`` is the effective status."""
    return [_condition(dialect, c, eff) for c in flt.conditions]


def _status_exprs(now: float, stale_s: float):
    """``(stale, effective status, duration)`` as SQL, the same as :func:`run_summary` computes."""
    beat = func.coalesce(func.nullif(runs.c.heartbeat, 0), runs.c.updated)
    stale = and_(runs.c.status == "running", beat < now - stale_s)
    eff = case((stale, "crashed"), else_=runs.c.status)
    last = func.coalesce(func.nullif(runs.c.end_time, 0),
                         case((and_(runs.c.status == "running", not_(stale)), literal(now, Float)),
                              else_=func.nullif(runs.c.heartbeat, 0)))
    duration = case((or_(runs.c.start_time.is_(None), runs.c.start_time == 0), null()),
                    else_=last - runs.c.start_time)
    return stale, eff, duration


def _order_by(dialect: str, sort: str, eff: Any, duration: Any) -> List[Any]:
    """ORDER BY for ``sort``: missing values last in either direction (JSON values: numbers before
    text), ties by newest start, then uuid so pages never overlap. ``-start_time`` (the default)
    reads the ``(project, start_time, uuid)`` index backwards: no sort at all."""
    desc = sort.startswith("-")
    field = sort.lstrip("-+") or "start_time"
    d = (lambda e: e.desc().nulls_last()) if desc else (lambda e: e.asc().nulls_last())
    if field.startswith(JSON_SORTS):
        col, key = (runs.c.config, field[7:]) if field.startswith("config.") else (runs.c.summary, field[8:])
        text, number = _json_value(col, dialect, key)
        keys = [number.is_(None).asc(), d(number), d(text)]
    elif field in SORTABLE:
        expr = {"id": runs.c.run_id, "status": eff, "duration": duration}.get(field)
        keys = [d(runs.c[field] if expr is None else expr)]
    else:
        raise ValueError(f"sort={sort!r}: sort by one of {sorted(SORTABLE)}, config.KEY or summary.KEY "
                         "(prefix '-' for descending)")
    if field == "start_time":
        return keys + [d(runs.c.uuid)]
    return keys + [runs.c.start_time.desc().nulls_last(), runs.c.uuid.desc()]


def list_runs(conn: Connection, *, allowed: Optional[str], project: Optional[str], status: Optional[str],
              tag: Optional[str], q: Optional[str], config: Dict[str, str], sort: str, limit: int, offset: int,
              stale_s: float, filter: Optional[Filter] = None, state: str = "active") -> Dict[str, Any]:
    """One page of runs, filtered, sorted and paged by the database (``total`` counts every match);
    ``state``: active (neither archived nor deleted), archived, deleted or all (:mod:`.curation`)."""
    dialect = conn.dialect.name
    now = time.time()
    stale, eff, duration = _status_exprs(now, stale_s)
    where = state_clause(state)
    if allowed not in (None, "*"):
        where.append(runs.c.project == allowed)
    if project:
        where.append(runs.c.project == project)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(runs.c.name.like(like, escape="\\"), runs.c.run_id.like(like, escape="\\")))
    if status == "crashed":
        where.append(or_(runs.c.status == "crashed", stale))
    elif status == "running":
        where.append(and_(runs.c.status == "running", not_(stale)))
    elif status:
        where.append(runs.c.status == status)
    if tag:
        where.append(_has_tag(dialect, tag))
    for k, v in config.items():
        where.append(_config_match(dialect, k, v))
    if filter is not None:
        where.extend(filter_clause(dialect, filter, eff))
    order = _order_by(dialect, sort, eff, duration)
    total = conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one()
    # sort the uuids alone, then read the page's rows (the sorter never carries config/summary JSON)
    page = [u for (u,) in conn.execute(select(runs.c.uuid).where(*where).order_by(*order).limit(limit).offset(offset))]
    rows = {r["uuid"]: r for r in conn.execute(select(*[runs.c[f] for f in LIST_FIELDS])
                                               .where(runs.c.uuid.in_(page))).mappings()} if page else {}
    alerts = alert_counts(conn, page)
    out = []
    for u in page:
        if u in rows:
            out.append(run_summary(dict(rows[u]), stale_s, now))
            out[-1]["alerts"] = alerts.get(u)
    return {"total": total, "runs": out}


def get_run(conn: Connection, uuid: str) -> Optional[Dict[str, Any]]:
    row = conn.execute(select(runs).where(runs.c.uuid == uuid)).mappings().first()
    return dict(row) if row else None


def run_detail(row: Dict[str, Any], stale_s: float) -> Dict[str, Any]:
    out = run_summary(row, stale_s)
    meta = row.get("meta") or {}
    out.update(heartbeat=row.get("heartbeat"), last_seq=row.get("last_seq"), description=meta.get("description"),
               environment={k: v for k, v in meta.items() if k not in ("description", PINNED_SUMMARY)})
    out.update(curation_fields(row))
    return out


def keys(conn: Connection, uuid: str, writer: Optional[str] = None) -> List[Dict[str, Any]]:
    """The run's keys; a shared run's counts summed over its writers (last value: the first writer's
    in label order, the primary's when it logged the key), or ``writer``'s alone."""
    mk = metric_keys.c
    q = (select(mk.key, mk.kind, mk.count, mk.last, mk.last_step).where(mk.run_uuid == uuid)
         .order_by(mk.key, mk.writer))
    if writer is not None:
        q = q.where(mk.writer == writer)
    out: List[Dict[str, Any]] = []
    for k, kind, n, last, s in conn.execute(q):
        if out and out[-1]["key"] == k:  # the same key from another writer
            out[-1]["count"] += n
        else:
            out.append({"key": k, "kind": kind, "count": n, "last": last, "last_step": s})
    return out


def list_events(conn: Connection, uuid: str, after_seq: int, limit: int, since: Optional[float] = None,
                event: Optional[str] = None, writer: Optional[str] = None) -> List[Dict[str, Any]]:
    """Events of a run in seq order: after ``after_seq``, at or after time ``since``, of kind ``event``
    (of ``writer`` alone, when given)."""
    if writer is None and only_primary(conn, uuid):
        writer = ""  # the primary's events by the primary key, as a one-writer run always read
    q = select(events.c.body).where(events.c.run_uuid == uuid, events.c.seq > after_seq)
    if writer is not None:
        q = q.where(events.c.writer == writer)
    if since is not None:
        q = q.where(events.c.time >= since)
    if event:
        q = q.where(events.c.event == event)
    return [b for (b,) in conn.execute(q.order_by(events.c.writer, events.c.seq).limit(limit))]


def alert_counts(conn: Connection, uuids: List[str]) -> Dict[str, Dict[str, Any]]:
    """Per run of ``uuids`` that has alerts: ``{"count", "level" (the highest), "last_time"}``."""
    if not uuids:
        return {}
    level = events.c.body["level"].as_string()
    q = (select(events.c.run_uuid, level, func.count(), func.max(events.c.time))
         .where(events.c.run_uuid.in_(uuids), events.c.event == "alert").group_by(events.c.run_uuid, level))
    rank = {"info": 0, "warn": 1, "error": 2}
    out: Dict[str, Dict[str, Any]] = {}
    for u, lvl, n, t in conn.execute(q):
        a = out.setdefault(u, {"count": 0, "level": "info", "last_time": t})
        a["count"] += n
        if t is not None and (a["last_time"] is None or t > a["last_time"]):
            a["last_time"] = t
        if rank.get(lvl, -1) > rank[a["level"]]:
            a["level"] = lvl
    return out


def only_primary(conn: Connection, uuid: str) -> bool:
    """Whether run ``uuid`` has no writer but its primary (a one-writer run)."""
    from .db.models import run_writers

    w = run_writers.c
    return conn.execute(select(w.writer).where(w.run_uuid == uuid, w.writer != "").limit(1)).first() is None


def list_console(conn: Connection, uuid: str, after_seq: int, limit: int,
                 writer: Optional[str] = None) -> List[Dict[str, Any]]:
    """Console lines in seq order; ``writer``'s alone (a shared run's writers each have their seqs:
    without ``writer`` its lines come writer by writer)."""
    if writer is None and only_primary(conn, uuid):
        writer = ""  # the primary's lines by the primary key, as a one-writer run always read
    q = (select(console.c.seq, console.c.time, console.c.stream, console.c.line)
         .where(console.c.run_uuid == uuid, console.c.seq > after_seq).order_by(console.c.writer, console.c.seq)
         .limit(limit))
    if writer is not None:
        q = q.where(console.c.writer == writer)
    return [{"seq": s, "time": t, "stream": st, "line": ln} for s, t, st, ln in conn.execute(q)]


def list_media(conn: Connection, uuid: str, key: Optional[str]) -> List[Dict[str, Any]]:
    j = media.outerjoin(media_files, (media_files.c.run_uuid == media.c.run_uuid) & (media_files.c.path == media.c.path))
    q = (select(media.c.key, media.c.step, media.c.seq, media.c.idx, media.c.type, media.c.path, media.c.caption,
                media.c.meta, media_files.c.sha256, media_files.c.size)
         .select_from(j).where(media.c.run_uuid == uuid).order_by(media.c.key, media.c.seq, media.c.idx))
    if key:
        q = q.where(media.c.key == key)
    out = []
    for r in conn.execute(q).mappings():
        d = {k: v for k, v in (r["meta"] or {}).items() if k != "_type"}
        d.update(key=r["key"], step=r["step"], seq=r["seq"], index=r["idx"], type=r["type"], path=r["path"],
                 caption=r["caption"], sha256=r["sha256"], size=r["size"],
                 url=f"/api/v1/media/{r['sha256']}" if r["sha256"] else None)
        out.append(d)
    _add_file_urls(conn, uuid, out)
    return out


def _add_file_urls(conn: Connection, uuid: str, items: List[Dict[str, Any]]) -> None:
    """A table's image cells: ``file_urls`` maps each of its ``files`` to its blob's url (None: not stored)."""
    tables = [d for d in items if isinstance(d.get("files"), list) and d["files"]]
    if not tables:
        return
    wanted = sorted({p for d in tables for p in d["files"] if isinstance(p, str)})
    urls: Dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        q = select(media_files.c.path, media_files.c.sha256).where(media_files.c.run_uuid == uuid,
                                                                   media_files.c.path.in_(wanted[i:i + 500]))
        urls.update((p, f"/api/v1/media/{sha}") for p, sha in conn.execute(q))
    for d in tables:
        d["file_urls"] = {p: urls.get(p) for p in d["files"] if isinstance(p, str)}


def blob_info(conn: Connection, sha: str) -> List[Dict[str, Any]]:
    """Which runs' projects hold the blob ``sha`` (for the read check), with its content type."""
    j = media_files.join(runs, runs.c.uuid == media_files.c.run_uuid)
    q = select(runs.c.project, media_files.c.content_type).select_from(j).where(media_files.c.sha256 == sha)
    return [{"project": p, "content_type": ct} for p, ct in conn.execute(q)]


def export_jsonl(conn: Connection, uuid: str) -> Iterator[bytes]:
    """Every stored record in seq order, one JSON line each; a shared run's writer by writer (the
    primary's first), the other writers' records carrying ``"writer": label``."""
    c = record_chunks.c
    q = select(c.writer, c.body).where(c.run_uuid == uuid).order_by(c.writer, c.first_seq)
    recs: List[Tuple[str, int, Dict[str, Any]]] = []
    for writer, body in conn.execute(q):
        part = orjson.loads(zlib.decompress(body))
        recs.extend((writer, r["seq"], {**r, "writer": writer} if writer else r) for r in part)
    recs.sort(key=lambda wr: wr[:2])
    for _, _, r in recs:
        yield orjson.dumps(r) + b"\n"


def export_csv(conn: Connection, uuid: str, key: Optional[str]) -> Iterator[bytes]:
    """Scalar points in long form: ``key,step,time,value`` (so no metric name can shadow a column);
    a rewound run's history, without the points its rewinds superseded."""
    import numpy as np

    yield b"key,step,time,value\n"
    from . import rewind
    from .series import chunk_steps

    c = series_chunks.c
    q = (select(c.key, c.n, c.step_min, c.step_stride, c.steps, c.times, c.vals, c.id, c.writer)
         .where(c.run_uuid == uuid).order_by(c.key, c.id))
    if key:
        q = q.where(c.key == key)
    cuts = rewind.cuts_of(conn, [uuid]).get(uuid)
    for k, n, step_min, stride, st_blob, tm, vs, cid, writer in conn.execute(q):
        st = chunk_steps(n, step_min, stride, st_blob)
        tm, vs = np.frombuffer(tm, "<f8"), np.frombuffer(vs, "<f8")
        live = rewind.keep(st, rewind.limit(cuts, writer, cid), False) if cuts else None
        if live is not None:
            st, tm, vs = st[live], tm[live], vs[live]
        kq = '"' + k.replace('"', '""') + '"' if any(c in k for c in ',"\n\r') else k
        lines = []
        for s, t, v in zip(st.tolist(), tm.tolist(), vs.tolist()):
            lines.append(f"{kq},{'' if s != s else int(s)},{t!r},{v!r}\n")
        yield "".join(lines).encode()
