"""Min/max bucketing of one metric series with NumPy, for ``seetrain mcp`` over a log directory.

The same rule as the server's downsampling (against a server the MCP tools ask the server, which
applies its own ``seetrain/server/series.py``): the x range is cut into ``points // 4`` equal
buckets and each keeps its first and last point and the points with its minimum and maximum
value, so a single spike survives any budget; ``ymin``/``ymax`` give each returned point the value
band of its bucket. Vectorised (``reduceat``): a million points take a few tens of milliseconds.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class Bucketed(NamedTuple):
    """Points kept (``x``, ``y``), each point's bucket band (``ymin``, ``ymax``), whether anything
    was dropped, and how many points there were (in the range asked for)."""

    x: np.ndarray
    y: np.ndarray
    ymin: np.ndarray
    ymax: np.ndarray
    downsampled: bool
    total: int


def sorted_by_x(x: np.ndarray, y: np.ndarray):
    """``(x, y)`` as float64 sorted by x (ties keep their order), points without an x dropped."""
    x = np.asarray(x, dtype="f8")
    y = np.asarray(y, dtype="f8")
    keep = ~np.isnan(x)
    if not keep.all():
        x, y = x[keep], y[keep]
    if x.size > 1 and (x[1:] < x[:-1]).any():
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    return x, y


def in_range(x: np.ndarray, y: np.ndarray, start: Optional[float], end: Optional[float]):
    """The points of sorted ``x`` with ``start <= x <= end`` (either bound may be None)."""
    a = 0 if start is None else int(np.searchsorted(x, start, side="left"))
    b = x.size if end is None else int(np.searchsorted(x, end, side="right"))
    return x[a:b], y[a:b]


def bucket(x: np.ndarray, y: np.ndarray, points: int) -> Bucketed:
    """At most ``points`` points of sorted ``x``/``y`` (``points <= 0``: all of them)."""
    n = int(x.size)
    if points <= 0 or n <= max(points, 4):
        return Bucketed(x, y, y, y, False, n)
    nb = max(1, points // 4)
    edges = np.linspace(float(x[0]), float(x[-1]), nb + 1)[1:-1]
    bounds = np.unique(np.concatenate(([0], np.searchsorted(x, edges, side="left"), [n])))
    starts, ends = bounds[:-1], bounds[1:]
    nan = np.isnan(y)
    lo, hi = (np.where(nan, np.inf, y), np.where(nan, -np.inf, y)) if nan.any() else (y, y)
    seg_min = np.minimum.reduceat(lo, starts)
    seg_max = np.maximum.reduceat(hi, starts)
    seg_of = np.repeat(np.arange(starts.size), ends - starts)
    at_min = np.flatnonzero(lo == seg_min[seg_of])   # every bucket has one: its first is the argmin
    at_max = np.flatnonzero(hi == seg_max[seg_of])
    amin = at_min[np.searchsorted(at_min, starts)]
    amax = at_max[np.searchsorted(at_max, starts)]
    keep = np.unique(np.concatenate((starts, ends - 1, amin, amax)))
    seg = np.searchsorted(bounds, keep, side="right") - 1
    return Bucketed(x[keep], y[keep], y[amin][seg], y[amax][seg], True, n)
