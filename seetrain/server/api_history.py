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

from . import queries
from .auth import Principal
from .db.models import series_chunks
from .deps import Store, principal, readable_run
from .ingest import norm_uuid
from .series import F8, chunk_steps

ARROW_STREAM = "application/vnd.apache.arrow.stream"

router = APIRouter()


def load_columns(conn: Connection, run_uuid: str, key: str, x: str = "step"):
    """``(steps, times, values)`` float64 arrays of every point of ``key``, sorted by ``x``."""
    c = series_chunks.c
    q = (select(c.n, c.step_min, c.step_stride, c.steps, c.times, c.vals)
         .where(c.run_uuid == run_uuid, c.key == key).order_by(c.id))
    rows = conn.execute(q).all()
    total = sum(r[0] for r in rows)
    steps, times, vals = np.empty(total, F8), np.empty(total, F8), np.empty(total, F8)
    o = 0
    for n, step_min, stride, st_blob, tm_blob, v_blob in rows:
        steps[o:o + n] = chunk_steps(n, step_min, stride, st_blob)
        times[o:o + n] = np.frombuffer(tm_blob, dtype=F8)
        vals[o:o + n] = np.frombuffer(v_blob, dtype=F8)
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
                      format: str = Query("arrow", pattern="^(arrow|json)$"), p: Principal = Depends(principal)):
    store: Store = request.app.state.store

    def produce():
        u = norm_uuid(uuid)
        with store.read() as conn:
            row = readable_run(p, queries.get_run(conn, u), u)
            steps, times, vals = load_columns(conn, row["uuid"], key, x)
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
