"""Metric histories as the public API returns them: :class:`KeySeries` per key, gathered in a
:class:`History`, and the downsampling both the offline and the server path apply.

Downsampling is the server's own (``seetrain/server/series.py``): the x range is cut into
``points // 4`` equal buckets and each bucket keeps its first and last point and the points with
its minimum and maximum value, so a single spike survives and offline and online answers agree.
``ymin``/``ymax`` give, for every returned point, the value band of its bucket. NumPy is used when
installed; without it the same algorithm runs in plain Python.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence

from .frames import to_pandas, to_polars


class KeySeries(NamedTuple):
    """The history of one key: equal-length ``x`` (steps or times) and ``y`` (values, floats);
    ``ymin``/``ymax`` are the band of each point's bucket (``None`` when ``with_minmax=False``);
    ``total`` counts the points before downsampling."""

    key: str
    x: List[float]
    y: List[float]
    ymin: Optional[List[float]]
    ymax: Optional[List[float]]
    downsampled: bool
    total: int


class History(Mapping[str, KeySeries]):
    """``{key: KeySeries}`` for one run, in the order the keys were asked for.

    ``to_pandas()`` / ``to_polars()`` give one long frame (``key``, x column, ``value``, and ``min``
    and ``max`` when kept); ``rows()`` the same as plain dicts.
    """

    def __init__(self, series: Sequence[KeySeries], x: str = "step") -> None:
        self._series: Dict[str, KeySeries] = {s.key: s for s in series}
        self.x = x

    def __getitem__(self, key: str) -> KeySeries:
        try:
            return self._series[key]
        except KeyError:
            raise KeyError(f"{key!r} was not asked for; this history has {list(self._series)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {len(s.x)}/{s.total} points" for k, s in self._series.items())
        return f"<History x={self.x} {parts}>"

    def columns(self) -> Dict[str, List[Any]]:
        """The long form as columns: ``key``, the x name, ``value`` (and ``min``, ``max``)."""
        minmax = any(s.ymin is not None for s in self._series.values())
        cols: Dict[str, List[Any]] = {"key": [], self.x: [], "value": []}
        if minmax:
            cols["min"], cols["max"] = [], []
        for s in self._series.values():
            cols["key"].extend([s.key] * len(s.x))
            cols[self.x].extend(s.x)
            cols["value"].extend(s.y)
            if minmax:
                cols["min"].extend(s.ymin if s.ymin is not None else s.y)
                cols["max"].extend(s.ymax if s.ymax is not None else s.y)
        return cols

    def rows(self) -> List[Dict[str, Any]]:
        cols = self.columns()
        names = list(cols)
        return [dict(zip(names, vals)) for vals in zip(*cols.values())]

    def to_pandas(self) -> Any:
        """A pandas DataFrame in long form (needs pandas)."""
        return to_pandas(self.columns())

    def to_polars(self) -> Any:
        """A polars DataFrame in long form (needs polars)."""
        return to_polars(self.columns())


def _as_floats(values: Sequence[Any]) -> List[float]:
    return [float(v) for v in values]


def sort_by_x(xs: Sequence[float], ys: Sequence[float]) -> "tuple[List[float], List[float]]":
    """``xs``/``ys`` as float lists sorted by x (ties keep their order), points without x dropped."""
    xs, ys = _as_floats(xs), _as_floats(ys)
    if any(x != x for x in xs):
        keep = [i for i, x in enumerate(xs) if x == x]
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
    if any(b < a for a, b in zip(xs, xs[1:])):
        order = sorted(range(len(xs)), key=xs.__getitem__)  # stable
        xs, ys = [xs[i] for i in order], [ys[i] for i in order]
    return xs, ys


def make_series(key: str, xs: Sequence[float], ys: Sequence[float], points: Optional[int],
                with_minmax: bool) -> KeySeries:
    """A :class:`KeySeries` of x-sorted points, downsampled to at most ``points`` (``None``/0: all)."""
    total = len(xs)
    n = int(points or 0)
    if n <= 0 or total <= max(n, 4):
        xs, ys = list(xs), list(ys)
        band = ys if with_minmax else None
        return KeySeries(key, xs, ys, band, band, False, total)
    try:
        import numpy  # noqa: F401
    except ImportError:
        x, y, lo, hi = _downsample_py(list(xs), list(ys), n)
    else:
        x, y, lo, hi = _downsample_np(xs, ys, n)
    return KeySeries(key, x, y, lo if with_minmax else None, hi if with_minmax else None, True, total)


def _downsample_np(xs: Sequence[float], ys: Sequence[float], points: int):
    import numpy as np

    xa, ya = np.asarray(xs, dtype="f8"), np.asarray(ys, dtype="f8")
    n = xa.size
    nb = max(1, points // 4)
    edges = np.linspace(float(xa[0]), float(xa[-1]), nb + 1)[1:-1]
    bounds = np.unique(np.concatenate(([0], np.searchsorted(xa, edges, side="left"), [n])))
    nan = np.isnan(ya)
    y_lo, y_hi = (np.where(nan, np.inf, ya), np.where(nan, -np.inf, ya)) if nan.any() else (ya, ya)
    nseg = bounds.size - 1
    keep = np.empty(4 * nseg, dtype=np.int64)
    amin, amax = keep[2 * nseg:3 * nseg], keep[3 * nseg:]
    for i in range(nseg):
        a, b = int(bounds[i]), int(bounds[i + 1])
        amin[i] = a + int(y_lo[a:b].argmin())
        amax[i] = a + int(y_hi[a:b].argmax())
    keep[:nseg] = bounds[:-1]
    keep[nseg:2 * nseg] = bounds[1:] - 1
    vmin, vmax = ya[amin], ya[amax]
    idx = np.unique(keep)
    seg = np.searchsorted(bounds, idx, side="right") - 1
    return xa[idx].tolist(), ya[idx].tolist(), vmin[seg].tolist(), vmax[seg].tolist()


def _linspace_inner(lo: float, hi: float, nb: int) -> List[float]:
    """``numpy.linspace(lo, hi, nb + 1)[1:-1]`` (the same rounding: ``lo + i * step``)."""
    step = (hi - lo) / nb
    return [lo + i * step for i in range(1, nb)]


def _downsample_py(xs: List[float], ys: List[float], points: int):
    n = len(xs)
    nb = max(1, points // 4)
    edges = _linspace_inner(xs[0], xs[-1], nb)
    bounds = sorted({0, n, *(bisect.bisect_left(xs, e) for e in edges)})
    keep, vmin, vmax = set(), [], []
    for a, b in zip(bounds, bounds[1:]):
        seg = range(a, b)
        lo_i = min(seg, key=lambda i: math.inf if ys[i] != ys[i] else ys[i])
        hi_i = max(seg, key=lambda i: -math.inf if ys[i] != ys[i] else ys[i])
        keep.update((a, b - 1, lo_i, hi_i))
        vmin.append(ys[lo_i])
        vmax.append(ys[hi_i])
    idx = sorted(keep)
    segs = [bisect.bisect_right(bounds, i) - 1 for i in idx]
    return [xs[i] for i in idx], [ys[i] for i in idx], [vmin[s] for s in segs], [vmax[s] for s in segs]
