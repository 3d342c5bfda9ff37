"""Metric series: packing points into chunks, loading them, and downsampling that never hides a spike.

Downsampling cuts the x range into ``points // 4`` equal buckets and keeps, per bucket, the first
and the last point and the points with the minimum and the maximum value (so at most ``points``
points come back, the series' own first and last points are always among them, and a single
spike survives any zoom level). ``ymin``/``ymax`` give, for every returned point, the band of
its bucket. Many series load from one statement per batch of runs and keys (:func:`load_many`).
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence

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


def _chunks_select(x: str, start: Optional[float], end: Optional[float]):
    """The chunk columns one series is assembled from (``x`` picks steps or times), restricted to
    chunks that can hold a point in ``start <= x <= end``."""
    c = series_chunks.c
    by_step = x == "step"
    lo_c, hi_c = (c.step_min, c.step_max) if by_step else (c.time_min, c.time_max)
    q = select(c.n, c.step_min, c.step_stride, c.steps if by_step else c.times, c.vals, lo_c, hi_c)
    if start is not None:
        q = q.where(hi_c >= start)
    if end is not None:
        q = q.where(lo_c <= end)
    return q


def _assemble(rows: Sequence[Any], by_step: bool, start: Optional[float], end: Optional[float]):
    """One series' chunk rows (in arrival order) -> ``(xs, ys)`` sorted by x, in range, without NaN x."""
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


def load(conn: Connection, run_uuid: str, key: str, x: str = "step", start: Optional[float] = None,
         end: Optional[float] = None):
    """All points of one key as two float64 arrays ``(xs, ys)`` sorted by x (ties in arrival order),
    restricted to ``start <= x <= end``; points without an x (system metrics by step) are left out."""
    c = series_chunks.c
    q = _chunks_select(x, start, end).where(c.run_uuid == run_uuid, c.key == key).order_by(c.id)
    return _assemble(conn.execute(q).all(), x == "step", start, end)


# Runs (and keys) named in one SQL statement at most: far below SQLite's and PostgreSQL's limits
# on bound parameters.
IN_BATCH = 500


class LoadedSeries(NamedTuple):
    """The points of one (run, key) pair, as :func:`load` gives them."""

    run: str
    key: str
    xs: np.ndarray
    ys: np.ndarray


def load_many(conn: Connection, run_uuids: Sequence[str], keys: Sequence[str], x: str = "step",
              start: Optional[float] = None, end: Optional[float] = None) -> Iterator[LoadedSeries]:
    """Every stored (run, key) pair of ``run_uuids`` x ``keys``, as :func:`load` would give each, from
    one statement per batch of runs and keys (rows streamed in index order, one series in memory
    at a time); pairs with no stored point are not yielded."""
    c = series_chunks.c
    runs, names = sorted(set(run_uuids)), sorted(set(keys))
    by_step = x == "step"
    for i in range(0, len(runs), IN_BATCH):
        for j in range(0, len(names), IN_BATCH):
            q = (_chunks_select(x, start, end).add_columns(c.run_uuid, c.key)
                 .where(c.run_uuid.in_(runs[i:i + IN_BATCH]), c.key.in_(names[j:j + IN_BATCH]))
                 .order_by(c.run_uuid, c.key, c.id))
            rows = conn.execution_options(yield_per=256).execute(q)
            for (run, key), group in groupby(rows, key=lambda r: (r[7], r[8])):
                xs, ys = _assemble([r[:7] for r in group], by_step, start, end)
                yield LoadedSeries(run, key, xs, ys)


# Buckets this many points long on average, or longer: one argmin/argmax per bucket (few buckets, a
# Python loop is cheap); shorter ones: whole-array passes (many small series, e.g. a compare page).
LOOP_BUCKET_LEN = 128


def bucket_extremes(y_lo: np.ndarray, y_hi: np.ndarray, bounds: np.ndarray, loop: Optional[bool] = None):
    """Per bucket ``[bounds[i], bounds[i+1])`` (none empty), the index of the first minimum of ``y_lo``
    and of the first maximum of ``y_hi``; ``loop`` forces one of the two equal methods."""
    nseg = bounds.size - 1
    if loop is None:
        loop = y_lo.size >= LOOP_BUCKET_LEN * nseg
    if loop:
        amin, amax = np.empty(nseg, np.int64), np.empty(nseg, np.int64)
        for i in range(nseg):
            a, b = int(bounds[i]), int(bounds[i + 1])
            amin[i] = a + int(y_lo[a:b].argmin())
            amax[i] = a + int(y_hi[a:b].argmax())
        return amin, amax
    seg_of = np.repeat(np.arange(nseg), np.diff(bounds))

    def first(hit: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(hit)
        seg = seg_of[idx]
        return idx[np.concatenate(([True], seg[1:] != seg[:-1]))]

    return (first(y_lo == np.minimum.reduceat(y_lo, bounds[:-1])[seg_of]),
            first(y_hi == np.maximum.reduceat(y_hi, bounds[:-1])[seg_of]))


def downsample(xs: np.ndarray, ys: np.ndarray, points: int) -> Dict[str, Any]:
    """``{"x", "y", "ymin", "ymax", "downsampled"}`` for sorted ``xs``; ``points <= 0`` keeps every point.

    Bucket edges are found by binary search on the sorted x, each bucket's extremes by
    :func:`bucket_extremes`: about three passes over the data, with no Python loop per bucket
    where buckets are short (a compare page downsamples a thousand short series per request)."""
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
    amin, amax = bucket_extremes(y_lo, y_hi, bounds)
    keep = np.concatenate((bounds[:-1], bounds[1:] - 1, amin, amax))
    vmin, vmax = ys[amin], ys[amax]
    idx = np.unique(keep)
    seg = np.searchsorted(bounds, idx, side="right") - 1
    return {"x": xs[idx], "y": ys[idx], "ymin": vmin[seg], "ymax": vmax[seg], "downsampled": True}


def _answer(xs: np.ndarray, ys: np.ndarray, points: int, after: Optional[float], band: bool) -> Dict[str, Any]:
    if after is not None:
        cut = np.searchsorted(xs, after, side="right")
        xs, ys = xs[cut:], ys[cut:]
    d = downsample(xs, ys, points)
    if not band:
        del d["ymin"], d["ymax"]
    d.update(total=int(xs.size), last_x=float(xs[-1]) if xs.size else None)
    return d


def query_keys(conn: Connection, run_uuids: List[str], keys: List[str], x: str = "step",
               start: Optional[float] = None, end: Optional[float] = None, points: int = 1000,
               after: Optional[float] = None, band: bool = True) -> List[Dict[str, Any]]:
    """The ``/api/v1/series`` answer (numpy arrays; the response encodes them): one entry per key, then
    per run, in the order asked, each downsampled to ``points``. ``band=False`` leaves out ``ymin``/
    ``ymax`` (a chart of several runs draws no band: half the answer); the points kept are the same."""
    got = {(s.run, s.key): _answer(s.xs, s.ys, points, after, band)
           for s in load_many(conn, run_uuids, keys, x, start, end)}
    none = np.empty(0, F8)
    out = []
    for k in keys:
        for u in run_uuids:
            d = got.get((u, k)) or _answer(none, none, points, after, band)
            out.append(dict(d, run=u, key=k))
    return out


def query(conn: Connection, run_uuids: List[str], key: str, x: str = "step", start: Optional[float] = None,
          end: Optional[float] = None, points: int = 1000, after: Optional[float] = None,
          band: bool = True) -> List[Dict[str, Any]]:
    """:func:`query_keys` for one key."""
    return query_keys(conn, run_uuids, [key], x, start, end, points, after, band)
