"""``GET /api/v1/runs/{uuid}/history?key=K&x=step``: the full-resolution history of one key as
Arrow IPC (a stream of columns ``step`` int64, ``time`` float64, ``value`` float64), what the
Python API (:class:`seetrain.Api`) reads: a million points in a few megabytes of packed floats,
no JSON encoding on either side. Points are sorted by ``x`` (ties in arrival order) and points
without an ``x`` (system metrics have no step) are left out, as ``/series`` does; NaN and
infinities are kept."""

from __future__ import annotations

import io

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from . import queries, rewind
from .auth import Principal
from .db.models import series_chunks
from .deps import Store, principal, readable_run
from .ingest import norm_uuid
from .series import F8, chunk_steps

ARROW_STREAM = "application/vnd.apache.arrow.stream"

router = APIRouter()


def load_columns(conn: Connection, run_uuid: str, key: str, x: str = "step", superseded: bool = False):
    """``(steps, times, values)`` float64 arrays of every point of ``key``, sorted by ``x``; a rewound
    run's superseded points left out (``superseded=True``: only them)."""
    c = series_chunks.c
    q = (select(c.n, c.step_min, c.step_stride, c.steps, c.times, c.vals, c.id, c.writer)
         .where(c.run_uuid == run_uuid, c.key == key).order_by(c.id))
    rows = conn.execute(q).all()
    cuts = rewind.cuts_of(conn, [run_uuid]).get(run_uuid)
    parts = []
    for n, step_min, stride, st_blob, tm_blob, v_blob, cid, writer in rows:
        st = chunk_steps(n, step_min, stride, st_blob)
        tm, vs = np.frombuffer(tm_blob, dtype=F8), np.frombuffer(v_blob, dtype=F8)
        k = rewind.keep(st, rewind.limit(cuts, writer, cid), superseded) if (cuts or superseded) else None
        parts.append((st, tm, vs) if k is None else (st[k], tm[k], vs[k]))
    total = sum(p[0].size for p in parts)
    steps, times, vals = np.empty(total, F8), np.empty(total, F8), np.empty(total, F8)
    o = 0
    for st, tm, vs in parts:
        n = st.size
        steps[o:o + n], times[o:o + n], vals[o:o + n] = st, tm, vs
        o += n
    xs = steps if x == "step" else times
    keep = ~np.isnan(xs)
    if not keep.all():
        steps, times, vals = steps[keep], times[keep], vals[keep]
        xs = steps if x == "step" else times
    if xs.size > 1 and (xs[1:] < xs[:-1]).any():
        order = np.argsort(xs, kind="stable")
        steps, times, vals = steps[order], times[order], vals[order]
    return steps, times, vals


def arrow_bytes(steps: np.ndarray, times: np.ndarray, vals: np.ndarray) -> bytes:
    """One Arrow IPC stream of ``step`` (int64; null where a point has no step), ``time``, ``value``."""
    import pyarrow as pa

    nan_steps = np.isnan(steps)
    step_col = pa.array(np.where(nan_steps, 0, steps).astype(np.int64), mask=nan_steps if nan_steps.any() else None)
    table = pa.table({"step": step_col, "time": pa.array(times), "value": pa.array(vals)})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@router.get("/runs/{uuid}/history")
async def get_history(uuid: str, request: Request, key: str = Query(..., min_length=1, max_length=256),
                      x: str = Query("step", pattern="^(step|time)$"),
                      format: str = Query("arrow", pattern="^(arrow|json)$"), superseded: bool = False,
                      p: Principal = Depends(principal)):
    store: Store = request.app.state.store

    def produce():
        u = norm_uuid(uuid)
        with store.read() as conn:
            row = readable_run(p, queries.get_run(conn, u), u)
            steps, times, vals = load_columns(conn, row["uuid"], key, x, superseded)
        if format == "json":
            return None, {"run": row["uuid"], "key": key, "x": x, "total": int(steps.size),
                          "step": steps, "time": times, "value": vals}
        try:
            return arrow_bytes(steps, times, vals), None
        except ImportError:
            raise HTTPException(406, "this server has no pyarrow for format=arrow: ask for format=json, "
                                     "or install pyarrow beside the server (pip install 'seetrain[server]')") from None

    body, doc = await run_in_threadpool(produce)
    if body is None:
        from .deps import JSONResponse

        return JSONResponse(doc)
    return Response(body, media_type=ARROW_STREAM, headers={"Cache-Control": "no-store"})
