"""Metric series: packing points into chunks, loading them, and downsampling that never hides a spike.

Downsampling cuts the x range into ``points // 4`` equal buckets and keeps, per bucket, the first
and the last point and the points with the minimum and the maximum value (so at most ``points``
points come back, the series' own first and last points are always among them, and a single
spike survives any zoom level). ``ymin``/``ymax`` give, for every returned point, the band of
its bucket.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from .db.models import series_chunks

F8 = np.dtype("<f8")


def stride_of(steps: np.ndarray) -> Optional[float]:
    """The constant positive spacing of ``steps`` (0.0 for one step), or None when there is none."""
    if steps.size == 0 or np.isnan(steps[0]):
        return None
    if steps.size == 1:
        return 0.0
    d = steps[1] - steps[0]
    if d > 0 and (steps == steps[0] + d * np.arange(steps.size)).all():
        return float(d)
    return None


def chunk_steps(n: int, step_min: Optional[float], stride: Optional[float], blob: bytes) -> np.ndarray:
    """The steps of one chunk, from its blob or, when evenly spaced, from its first step and stride."""
    if stride is not None:
        return step_min + stride * np.arange(n, dtype=F8)
    return np.frombuffer(blob, dtype=F8)


def load(conn: Connection, run_uuid: str, key: str, x: str = "step", start: Optional[float] = None,
         end: Optional[float] = None):
    """All points of one key as two float64 arrays ``(xs, ys)`` sorted by x (ties in arrival order),
    restricted to ``start <= x <= end``; points without an x (system metrics by step) are left out."""
    c = series_chunks.c
    by_step = x == "step"
    lo_c, hi_c = (c.step_min, c.step_max) if by_step else (c.time_min, c.time_max)
    q = (select(c.n, c.step_min, c.step_stride, c.steps if by_step else c.times, c.vals, lo_c, hi_c)
         .where(c.run_uuid == run_uuid, c.key == key).order_by(c.id))
    if start is not None:
        q = q.where(hi_c >= start)
    if end is not None:
        q = q.where(lo_c <= end)
    rows = conn.execute(q).all()
    total = sum(r[0] for r in rows)
    xs, ys = np.empty(total, F8), np.empty(total, F8)
    o = 0
    all_strided = by_step
    known_sorted, prev_hi = True, -np.inf  # strided chunks in step order need no sort check
    for n, step_min, stride, xblob, vblob, lo, hi in rows:
        strided = by_step and stride is not None
        xs[o:o + n] = chunk_steps(n, step_min, stride, xblob) if strided else np.frombuffer(xblob, dtype=F8)
        ys[o:o + n] = np.frombuffer(vblob, dtype=F8)
        o += n
        all_strided = all_strided and strided
        if not strided or lo < prev_hi:
            known_sorted = False
        else:
            prev_hi = hi
    if not all_strided:  # only evenly spaced steps are known to hold no NaN
        keep = ~np.isnan(xs)
        if not keep.all():
            xs, ys = xs[keep], ys[keep]
    if start is not None or end is not None:
        keep = np.ones(xs.size, bool)
        if start is not None:
            keep &= xs >= start
        if end is not None:
            keep &= xs <= end
        xs, ys = xs[keep], ys[keep]
    if not known_sorted and xs.size > 1 and (xs[1:] < xs[:-1]).any():
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    return xs, ys


def downsample(xs: np.ndarray, ys: np.ndarray, points: int) -> Dict[str, Any]:
    """``{"x", "y", "ymin", "ymax", "downsampled"}`` for sorted ``xs``; ``points <= 0`` keeps every point.

    Bucket edges are found by binary search on the sorted x (no per-point bucket ids), and each
    bucket's extremes by one argmin/argmax over its slice: about three passes over the data."""
    n = xs.size
    if points <= 0 or n <= max(points, 4):
        return {"x": xs, "y": ys, "ymin": ys, "ymax": ys, "downsampled": False}
    nb = max(1, points // 4)
    lo, hi = float(xs[0]), float(xs[-1])
    edges = np.linspace(lo, hi, nb + 1)[1:-1]
    bounds = np.concatenate(([0], np.searchsorted(xs, edges, side="left"), [n]))
    bounds = np.unique(bounds)  # empty buckets vanish
    if np.isnan(ys).any():  # NaN never wins a min or a max (an all-NaN bucket keeps its first point)
        y_lo, y_hi = np.where(np.isnan(ys), np.inf, ys), np.where(np.isnan(ys), -np.inf, ys)
    else:
        y_lo = y_hi = ys
    nseg = bounds.size - 1
    keep = np.empty(4 * nseg, dtype=np.int64)
    amin = keep[2 * nseg:3 * nseg]
    amax = keep[3 * nseg:]
    for i in range(nseg):
        a, b = int(bounds[i]), int(bounds[i + 1])
        amin[i] = a + int(y_lo[a:b].argmin())
        amax[i] = a + int(y_hi[a:b].argmax())
    keep[:nseg] = bounds[:-1]
    keep[nseg:2 * nseg] = bounds[1:] - 1
    vmin, vmax = ys[amin], ys[amax]
    idx = np.unique(keep)
    seg = np.searchsorted(bounds, idx, side="right") - 1
    return {"x": xs[idx], "y": ys[idx], "ymin": vmin[seg], "ymax": vmax[seg], "downsampled": True}


def query(conn: Connection, run_uuids: List[str], key: str, x: str = "step", start: Optional[float] = None,
          end: Optional[float] = None, points: int = 1000, after: Optional[float] = None) -> List[Dict[str, Any]]:
    """The ``/api/v1/series`` answer for several runs (numpy arrays; the response encodes them)."""
    out = []
    for u in run_uuids:
        lo = start
        xs, ys = load(conn, u, key, x, lo, end)
        if after is not None:
            cut = np.searchsorted(xs, after, side="right")
            xs, ys = xs[cut:], ys[cut:]
        d = downsample(xs, ys, points)
        d.update(run=u, key=key, total=int(xs.size), last_x=float(xs[-1]) if xs.size else None)
        out.append(d)
    return out
