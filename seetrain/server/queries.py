"""Read queries behind the dashboard API: projects, runs (filter, sort, page), one run, keys,
events, console, media and the full-resolution export."""

from __future__ import annotations

import time
import zlib
from typing import Any, Dict, Iterator, List, Optional

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .db.models import console, events, media, media_files, metric_keys, record_chunks, runs, series_chunks

LIST_FIELDS = ("uuid", "run_id", "name", "project", "status", "start_time", "end_time", "heartbeat", "tags",
               "config", "summary", "updated", "exit_code", "n_records")
SORTABLE = {"start_time", "end_time", "name", "id", "status", "duration", "updated", "project"}


def effective_status(row: Dict[str, Any], stale_s: float, now: Optional[float] = None) -> Dict[str, Any]:
    """``status`` as readers show it: a ``running`` run whose heartbeat is older than ``stale_s``
    is ``crashed`` with ``vanished: true`` (its process died without saying so)."""
    now = time.time() if now is None else now
    beat = row.get("heartbeat") or row.get("updated") or 0
    if row["status"] == "running" and now - beat > stale_s:
        return {"status": "crashed", "vanished": True}
    return {"status": row["status"], "vanished": False}


def run_summary(row: Dict[str, Any], stale_s: float) -> Dict[str, Any]:
    end = row.get("end_time")
    st = effective_status(row, stale_s)
    start = row.get("start_time")
    last = end or (row.get("heartbeat") if st["status"] != "running" else time.time())
    return {"uuid": row["uuid"], "id": row["run_id"], "name": row["name"], "project": row["project"],
            "status": st["status"], "vanished": st["vanished"], "exit_code": row.get("exit_code"),
            "start_time": start, "end_time": end,
            "duration": (last - start) if (start and last) else None, "tags": row.get("tags") or [],
            "config": row.get("config") or {}, "summary": row.get("summary") or {},
            "records": row.get("n_records", 0)}


def list_projects(conn: Connection, allowed: Optional[str]) -> List[Dict[str, Any]]:
    q = select(runs.c.project, func.count(), func.max(runs.c.updated)).group_by(runs.c.project)
    if allowed not in (None, "*"):
        q = q.where(runs.c.project == allowed)
    return [{"name": p, "runs": n, "last_activity": t} for p, n, t in conn.execute(q.order_by(runs.c.project))]


def _config_get(cfg: Dict[str, Any], dotted: str) -> Any:
    if dotted in cfg:
        return cfg[dotted]
    cur: Any = cfg
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def list_runs(conn: Connection, *, allowed: Optional[str], project: Optional[str], status: Optional[str],
              tag: Optional[str], q: Optional[str], config: Dict[str, str], sort: str, limit: int, offset: int,
              stale_s: float) -> Dict[str, Any]:
    cols = [runs.c[f] for f in LIST_FIELDS]
    sel = select(*cols)
    if allowed not in (None, "*"):
        sel = sel.where(runs.c.project == allowed)
    if project:
        sel = sel.where(runs.c.project == project)
    if q:
        like = f"%{q}%"
        sel = sel.where(runs.c.name.like(like) | runs.c.run_id.like(like))
    out = []
    for row in conn.execute(sel).mappings():
        r = run_summary(dict(row), stale_s)
        if status and r["status"] != status:
            continue
        if tag and tag not in r["tags"]:
            continue
        if any(str(_config_get(r["config"], k)) != v for k, v in config.items()):
            continue
        out.append(r)
    desc = sort.startswith("-")
    field = sort.lstrip("-+") or "start_time"
    if field not in SORTABLE:
        raise ValueError(f"sort={sort!r}: sort by one of {sorted(SORTABLE)} (prefix '-' for descending)")
    out.sort(key=lambda r: (r[field] is None, r[field] if r[field] is not None else 0), reverse=desc)
    if desc:  # keep missing values last either way
        out.sort(key=lambda r: r[field] is None)
    return {"total": len(out), "runs": out[offset:offset + limit]}


def get_run(conn: Connection, uuid: str) -> Optional[Dict[str, Any]]:
    row = conn.execute(select(runs).where(runs.c.uuid == uuid)).mappings().first()
    return dict(row) if row else None


def run_detail(row: Dict[str, Any], stale_s: float) -> Dict[str, Any]:
    out = run_summary(row, stale_s)
    meta = row.get("meta") or {}
    out.update(heartbeat=row.get("heartbeat"), last_seq=row.get("last_seq"), description=meta.get("description"),
               environment={k: v for k, v in meta.items() if k not in ("description",)})
    return out


def keys(conn: Connection, uuid: str) -> List[Dict[str, Any]]:
    q = (select(metric_keys.c.key, metric_keys.c.kind, metric_keys.c.count, metric_keys.c.last,
                metric_keys.c.last_step).where(metric_keys.c.run_uuid == uuid).order_by(metric_keys.c.key))
    return [{"key": k, "kind": kind, "count": n, "last": last, "last_step": s} for k, kind, n, last, s in conn.execute(q)]


def list_events(conn: Connection, uuid: str, after_seq: int, limit: int) -> List[Dict[str, Any]]:
    q = (select(events.c.body).where(events.c.run_uuid == uuid, events.c.seq > after_seq)
         .order_by(events.c.seq).limit(limit))
    return [b for (b,) in conn.execute(q)]


def list_console(conn: Connection, uuid: str, after_seq: int, limit: int) -> List[Dict[str, Any]]:
    q = (select(console.c.seq, console.c.time, console.c.stream, console.c.line)
         .where(console.c.run_uuid == uuid, console.c.seq > after_seq).order_by(console.c.seq).limit(limit))
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
    return out


def blob_info(conn: Connection, sha: str) -> List[Dict[str, Any]]:
    """Which runs' projects hold the blob ``sha`` (for the read check), with its content type."""
    j = media_files.join(runs, runs.c.uuid == media_files.c.run_uuid)
    q = select(runs.c.project, media_files.c.content_type).select_from(j).where(media_files.c.sha256 == sha)
    return [{"project": p, "content_type": ct} for p, ct in conn.execute(q)]


def export_jsonl(conn: Connection, uuid: str) -> Iterator[bytes]:
    """Every stored record in seq order, one JSON line each."""
    q = (select(record_chunks.c.body).where(record_chunks.c.run_uuid == uuid).order_by(record_chunks.c.first_seq))
    recs: List[Dict[str, Any]] = []
    for (body,) in conn.execute(q):
        recs.extend(orjson.loads(zlib.decompress(body)))
    recs.sort(key=lambda r: r["seq"])
    for r in recs:
        yield orjson.dumps(r) + b"\n"


def export_csv(conn: Connection, uuid: str, key: Optional[str]) -> Iterator[bytes]:
    """Scalar points in long form: ``key,step,time,value`` (so no metric name can shadow a column)."""
    import numpy as np

    yield b"key,step,time,value\n"
    from .series import chunk_steps

    c = series_chunks.c
    q = (select(c.key, c.n, c.step_min, c.step_stride, c.steps, c.times, c.vals)
         .where(c.run_uuid == uuid).order_by(c.key, c.id))
    if key:
        q = q.where(c.key == key)
    for k, n, step_min, stride, st_blob, tm, vs in conn.execute(q):
        st = chunk_steps(n, step_min, stride, st_blob)
        kq = '"' + k.replace('"', '""') + '"' if any(c in k for c in ',"\n\r') else k
        lines = []
        for s, t, v in zip(st.tolist(), np.frombuffer(tm, "<f8").tolist(),
                           np.frombuffer(vs, "<f8").tolist()):
            lines.append(f"{kq},{'' if s != s else int(s)},{t!r},{v!r}\n")
        yield "".join(lines).encode()
