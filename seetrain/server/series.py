"""Metric series: packing points into chunks, loading them, and downsampling that never hides a spike.

Downsampling cuts the x range into ``points // 4`` equal buckets and keeps, per bucket, the first
and the last point and the points with the minimum and the maximum value (so at most ``points``
points come back, the series' own first and last points are always among them, and a single
spike survives any zoom level). ``ymin``/``ymax`` give, for every returned point, the band of
its bucket. Many series load from one statement per batch of runs and keys (:func:`load_many`).
"""

from __future__ import annotations

import warnings
from itertools import groupby
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import rewind
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
         end: Optional[float] = None, writer: Optional[str] = None, superseded: bool = False):
    """All points of one key as two float64 arrays ``(xs, ys)`` sorted by x (ties in arrival order),
    restricted to ``start <= x <= end``; points without an x (system metrics by step) are left out.
    ``writer`` (a shared run's writer label, "" the primary) keeps only its points; None: every writer's."""
    c = series_chunks.c
    q = _chunks_select(x, start, end).where(c.run_uuid == run_uuid, c.key == key).order_by(c.id)
    if writer is not None:
        q = q.where(c.writer == writer)
    cuts = rewind.cuts_of(conn, [run_uuid]).get(run_uuid)
    if cuts or superseded:  # a rewound run: its superseded points hidden (or alone shown)
        q = q.add_columns(c.writer, *rewind.extra_columns(x == "step"))
        rows = rewind.mask_rows(conn.execute(q).all(), cuts, x == "step", superseded, rewind.At(8, 7, 9),
                                chunk_steps)
        return _assemble(rows, x == "step", start, end)
    return _assemble(conn.execute(q).all(), x == "step", start, end)


# Runs (and keys) named in one SQL statement at most: far below SQLite's and PostgreSQL's limits
# on bound parameters.
IN_BATCH = 500


class LoadedSeries(NamedTuple):
    """The points of one (run, key) pair, as :func:`load` gives them (``writer``: whose points, when
    loaded writer by writer; None: every writer's)."""

    run: str
    key: str
    xs: np.ndarray
    ys: np.ndarray
    writer: Optional[str] = None


def load_many(conn: Connection, run_uuids: Sequence[str], keys: Sequence[str], x: str = "step",
              start: Optional[float] = None, end: Optional[float] = None,
              writers: Optional[Sequence[str]] = None, by_writer: bool = False,
              superseded: bool = False) -> Iterator[LoadedSeries]:
    """Every stored (run, key) pair of ``run_uuids`` x ``keys``, as :func:`load` would give each, from
    one statement per batch of runs and keys (rows streamed in index order, one series in memory
    at a time); pairs with no stored point are not yielded. ``writers`` keeps only those writers'
    points; ``by_writer`` yields one series per (run, key, writer) instead, writers in label order."""
    c = series_chunks.c
    runs, names = sorted(set(run_uuids)), sorted(set(keys))
    by_step = x == "step"
    cuts = rewind.cuts_of(conn, runs)  # rewound runs: superseded points hidden (or, asked for, alone shown)
    for i in range(0, len(runs), IN_BATCH):
        for j in range(0, len(names), IN_BATCH):
            q = (_chunks_select(x, start, end).add_columns(c.run_uuid, c.key, c.writer)
                 .where(c.run_uuid.in_(runs[i:i + IN_BATCH]), c.key.in_(names[j:j + IN_BATCH])))
            if writers is not None:
                q = q.where(c.writer.in_(sorted(set(writers))))
            if by_writer:
                q, group_of = q.order_by(c.run_uuid, c.key, c.writer, c.id), (lambda r: (r[7], r[8], r[9]))
            else:
                q, group_of = q.order_by(c.run_uuid, c.key, c.id), (lambda r: (r[7], r[8], None))
            masked = superseded or any(u in cuts for u in runs[i:i + IN_BATCH])
            if masked:
                q = q.add_columns(*rewind.extra_columns(by_step))
            rows = conn.execution_options(yield_per=256).execute(q)
            for (run, key, writer), group in groupby(rows, key=group_of):
                chunks = (rewind.mask_rows(group, cuts.get(run), by_step, superseded, rewind.At(10, 9, 11),
                                           chunk_steps) if masked else [r[:7] for r in group])
                xs, ys = _assemble(chunks, by_step, start, end)
                yield LoadedSeries(run, key, xs, ys, writer)


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


def downsample(xs: np.ndarray, ys: np.ndarray, points: int, band_lo: Optional[np.ndarray] = None,
               band_hi: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """``{"x", "y", "ymin", "ymax", "downsampled"}`` for sorted ``xs``; ``points <= 0`` keeps every point.
    ``band_lo``/``band_hi`` (per point, e.g. the min and max across a shared run's writers) make the
    band: each bucket's lowest ``band_lo`` and highest ``band_hi`` instead of its lowest and highest ``y``.

    Bucket edges are found by binary search on the sorted x, each bucket's extremes by
    :func:`bucket_extremes`: about three passes over the data, with no Python loop per bucket
    where buckets are short (a compare page downsamples a thousand short series per request)."""
    n = xs.size
    if points <= 0 or n <= max(points, 4):
        return {"x": xs, "y": ys, "ymin": ys if band_lo is None else band_lo,
                "ymax": ys if band_hi is None else band_hi, "downsampled": False}
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
    if band_lo is not None and band_hi is not None:
        vmin, vmax = np.fmin.reduceat(band_lo, bounds[:-1]), np.fmax.reduceat(band_hi, bounds[:-1])
    idx = np.unique(keep)
    seg = np.searchsorted(bounds, idx, side="right") - 1
    return {"x": xs[idx], "y": ys[idx], "ymin": vmin[seg], "ymax": vmax[seg], "downsampled": True}


def _answer(xs: np.ndarray, ys: np.ndarray, points: int, after: Optional[float], band: bool,
            lo: Optional[np.ndarray] = None, hi: Optional[np.ndarray] = None) -> Dict[str, Any]:
    if after is not None:
        cut = np.searchsorted(xs, after, side="right")
        xs, ys = xs[cut:], ys[cut:]
        if lo is not None and hi is not None:
            lo, hi = lo[cut:], hi[cut:]
    d = downsample(xs, ys, points, lo, hi)
    if not band:
        del d["ymin"], d["ymax"]
    d.update(total=int(xs.size), last_x=float(xs[-1]) if xs.size else None)
    return d


class AcrossWriters(NamedTuple):
    """A shared run's writers' series of one key on one x axis: at each x any writer logged, their
    mean, min and max. A writer without a point at that x counts with its line's value there
    (linear between its neighbouring points: writers sample system metrics at their own times),
    none outside its own first..last x; with several points at one x, with its last."""

    xs: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    writers: int


def across_writers(series_: List[LoadedSeries]) -> AcrossWriters:
    """The mean with its min-max band across ``series_`` (one per writer, each sorted by x); ``writers``
    counts those with a point in the range asked (a writer rewound past it, or cut away, has none)."""
    series_ = [s for s in series_ if s.xs.size]
    if not series_:  # no writer has a point of this key: an empty line (nanmin of nothing would raise)
        none = np.empty(0, F8)
        return AcrossWriters(none, none, none, none, 0)
    xs = np.unique(np.concatenate([s.xs for s in series_]))
    grid = np.full((len(series_), xs.size), np.nan)
    for i, s in enumerate(series_):
        last = np.r_[s.xs[1:] != s.xs[:-1], True]  # the last point of each x
        own_x, own_y = s.xs[last], s.ys[last]
        inside = (xs >= own_x[0]) & (xs <= own_x[-1])
        grid[i, inside] = np.interp(xs[inside], own_x, own_y)
        grid[i, np.searchsorted(xs, own_x)] = own_y  # its own points exactly (a NaN stays NaN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an x where every writer logged NaN: NaN
        return AcrossWriters(xs, np.nanmean(grid, axis=0), np.nanmin(grid, axis=0), np.nanmax(grid, axis=0),
                             len(series_))


WRITER_VIEWS = ("", "each", "mean")  # every writer's points as one line; a line per writer; their mean


def query_keys(conn: Connection, run_uuids: List[str], keys: List[str], x: str = "step",
               start: Optional[float] = None, end: Optional[float] = None, points: int = 1000,
               after: Optional[float] = None, band: bool = True, writers: Optional[Sequence[str]] = None,
               view: str = "", superseded: bool = False) -> List[Dict[str, Any]]:
    """The ``/api/v1/series`` answer (numpy arrays; the response encodes them): one entry per key, then
    per run, in the order asked, each downsampled to ``points``. ``band=False`` leaves out ``ymin``/
    ``ymax`` (a chart of several runs draws no band: half the answer); the points kept are the same.

    Shared runs (issue 23): ``writers`` keeps those writers' points only; ``view="each"`` answers one
    entry per writer (``"writer"`` its label, in label order) after each (key, run); ``view="mean"``
    one entry per (key, run) whose ``y`` is the writers' mean at each x and whose band is their min
    and max (``"writers"``: how many). A rewound run's superseded points are left out;
    ``superseded=True`` gives only them (issue 26)."""
    none = np.empty(0, F8)
    out: List[Dict[str, Any]] = []
    if view == "each":
        got_each: Dict[tuple, List[Dict[str, Any]]] = {}
        for s in load_many(conn, run_uuids, keys, x, start, end, writers, by_writer=True, superseded=superseded):
            got_each.setdefault((s.run, s.key), []).append(dict(_answer(s.xs, s.ys, points, after, band),
                                                                writer=s.writer))
        for k in keys:
            for u in run_uuids:
                out.extend(dict(d, run=u, key=k) for d in got_each.get((u, k), ()))
        return out
    if view == "mean":
        per: Dict[tuple, List[LoadedSeries]] = {}
        for s in load_many(conn, run_uuids, keys, x, start, end, writers, by_writer=True, superseded=superseded):
            per.setdefault((s.run, s.key), []).append(s)
        for k in keys:
            for u in run_uuids:
                a = across_writers(per.get((u, k), []))
                out.append(dict(_answer(a.xs, a.mean, points, after, True, a.lo, a.hi), run=u, key=k,
                                writers=a.writers))
        return out
    got = {(s.run, s.key): _answer(s.xs, s.ys, points, after, band)
           for s in load_many(conn, run_uuids, keys, x, start, end, writers, superseded=superseded)}
    for k in keys:
        for u in run_uuids:
            d = got.get((u, k)) or _answer(none, none, points, after, band)
            out.append(dict(d, run=u, key=k))
    return out


def query(conn: Connection, run_uuids: List[str], key: str, x: str = "step", start: Optional[float] = None,
          end: Optional[float] = None, points: int = 1000, after: Optional[float] = None,
          band: bool = True, writers: Optional[Sequence[str]] = None, view: str = "") -> List[Dict[str, Any]]:
    """:func:`query_keys` for one key."""
    return query_keys(conn, run_uuids, [key], x, start, end, points, after, band, writers, view)
