"""The tables of ``seetrain query`` (:data:`seetrain.query.tables.TABLES`) built from the server's
database, over the runs of the projects a key may read: the same columns and values as offline."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..query.tables import MetricParts, Rows, flatten
from .db.models import console, events, media, media_files, runs, series_chunks
from .queries import run_summary
from .series import F8, chunk_steps


def _scope(q: Any, project: Optional[str]) -> Any:
    return q if project in (None, "*") else q.where(runs.c.project == project)


def build(conn: Connection, names: List[str], project: Optional[str], stale_s: float) -> Dict[str, Any]:
    """Arrow tables ``names`` over the runs of ``project`` (``None`` or ``"*"``: every project)."""
    out: Dict[str, Any] = {}
    rows = {n: Rows(n) for n in names if n != "metrics"}
    need_runs = bool({"runs", "config", "summary"} & set(rows))
    if need_runs:
        for r in conn.execute(_scope(select(runs), project)).mappings():
            r = dict(r)
            if "runs" in rows:
                s = run_summary(r, stale_s)
                meta = r.get("meta") or {}
                git = meta.get("git") if isinstance(meta.get("git"), dict) else {}
                rows["runs"].add(run=r["uuid"], project=r["project"], id=r["run_id"], name=r["name"],
                                 status=s["status"], exit_code=r.get("exit_code"), start_time=r.get("start_time"),
                                 end_time=r.get("end_time"), duration=s["duration"],
                                 tags=[str(t) for t in (r.get("tags") or [])], host=_str(meta.get("host")),
                                 git_commit=_str(git.get("commit")), git_branch=_str(git.get("branch")),
                                 description=_str(meta.get("description")))
            if "config" in rows:
                rows["config"].key_values(r["uuid"], flatten(r.get("config") or {}))
            if "summary" in rows:
                summ = {k: v for k, v in (r.get("summary") or {}).items() if not str(k).startswith("sys/")}
                rows["summary"].key_values(r["uuid"], summ.items(), tags=True)
    scoped = _scope(select(runs.c.uuid), project).scalar_subquery() if project not in (None, "*") else None
    if "events" in rows:
        q = select(events.c.run_uuid, events.c.seq, events.c.time, events.c.event, events.c.body)
        if scoped is not None:
            q = q.where(events.c.run_uuid.in_(scoped))
        for u, seq, t, ev, body in conn.execute(q.order_by(events.c.run_uuid, events.c.seq)):
            body = body if isinstance(body, dict) else {}
            msg = body.get("message") if body.get("message") is not None else body.get("title")
            from ..query.tables import value_text

            rows["events"].add(run=u, seq=seq, time=t, event=ev, message=_str(msg), body=value_text(body))
    if "console" in rows:
        q = select(console.c.run_uuid, console.c.seq, console.c.time, console.c.stream, console.c.line)
        if scoped is not None:
            q = q.where(console.c.run_uuid.in_(scoped))
        for u, seq, t, stream, line in conn.execute(q.order_by(console.c.run_uuid, console.c.seq)):
            rows["console"].add(run=u, seq=seq, time=t, stream=stream, line=line)
    if "media" in rows:
        j = media.outerjoin(media_files, (media_files.c.run_uuid == media.c.run_uuid)
                            & (media_files.c.path == media.c.path))
        q = select(media.c.run_uuid, media.c.key, media.c.step, media.c.idx, media.c.type, media.c.path,
                   media.c.caption, media_files.c.sha256).select_from(j)
        if scoped is not None:
            q = q.where(media.c.run_uuid.in_(scoped))
        for u, key, step, idx, typ, path, caption, sha in conn.execute(q.order_by(media.c.run_uuid, media.c.key,
                                                                                  media.c.seq, media.c.idx)):
            rows["media"].add(run=u, key=key, step=step, idx=idx, type=typ, path=path, caption=caption, sha256=sha)
    out.update({n: t.arrow() for n, t in rows.items()})
    if "metrics" in names:
        out["metrics"] = _metrics(conn, scoped)
    return out


def _metrics(conn: Connection, scoped: Any) -> Any:
    """Every scalar point with a step (system metrics have none) of the scoped runs."""
    c = series_chunks.c
    q = select(c.run_uuid, c.key, c.n, c.step_min, c.step_stride, c.steps, c.times, c.vals)
    if scoped is not None:
        q = q.where(c.run_uuid.in_(scoped))
    parts = MetricParts()
    for u, key, n, step_min, stride, st_blob, tm_blob, v_blob in conn.execute(q.order_by(c.run_uuid, c.key, c.id)):
        steps = chunk_steps(n, step_min, stride, st_blob)
        times, vals = np.frombuffer(tm_blob, dtype=F8), np.frombuffer(v_blob, dtype=F8)
        if stride is None:
            keep = ~np.isnan(steps)
            if not keep.all():
                steps, times, vals = steps[keep], times[keep], vals[keep]
        parts.add(u, key, steps.astype(np.int64), times, vals)
    return parts.arrow()


def _str(v: Any) -> Optional[str]:
    return None if v is None else str(v)
