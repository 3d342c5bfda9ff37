"""Analysis of many runs, computed next to the data: a metric's value per run (last, min or max),
parameter importance (correlation and first-order variance explained) and group lines (mean with a
min–max band per group of runs). numpy only; docs/ui.md says how each is computed and its limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from .db.models import series_chunks
from .series import F8, chunk_steps

AGGS = ("last", "min", "max")
_ABSENT = object()
IMPORTANCE_BINS = 8  # a numeric key with more distinct values is cut into this many quantile bins


def flatten(obj: Any, prefix: str = "") -> Dict[str, Any]:
    """A nested config as dotted keys (``{"model": {"depth": 4}}`` -> ``{"model.depth": 4}``), as
    the page's columns and the filter's dotted paths read it."""
    out: Dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict) and v:
                out.update(flatten(v, key + "."))
            else:
                out[key] = v
    return out


def _number(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def load_series(conn: Connection, uuids: Sequence[str], key: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Every point of ``key`` of each run in ``uuids`` as ``(steps, values)`` sorted by step, in one
    query (points without a step are left out)."""
    c = series_chunks.c
    parts: Dict[str, List[Tuple[np.ndarray, np.ndarray]]] = {}
    for lo in range(0, len(uuids), 500):
        q = (select(c.run_uuid, c.n, c.step_min, c.step_stride, c.steps, c.vals)
             .where(c.key == key, c.run_uuid.in_(list(uuids[lo:lo + 500]))).order_by(c.run_uuid, c.id))
        for u, n, step_min, stride, steps, vals in conn.execute(q):
            parts.setdefault(u, []).append((chunk_steps(n, step_min, stride, steps), np.frombuffer(vals, F8)))
    out = {}
    for u, chunks in parts.items():
        xs = np.concatenate([s for s, _ in chunks])
        ys = np.concatenate([v for _, v in chunks])
        keep = ~np.isnan(xs)
        xs, ys = xs[keep], ys[keep]
        order = np.argsort(xs, kind="stable")
        out[u] = (xs[order], ys[order])
    return out


def metric_values(conn: Connection, runs: Sequence[Dict[str, Any]], metric: str, agg: str) -> Dict[str, Optional[float]]:
    """Per run uuid: ``metric``'s last value (the run's summary), or its min or max over every
    finite logged point; None when the run has no finite value."""
    if agg not in AGGS:
        raise ValueError(f"agg={agg!r}: one of {', '.join(AGGS)}")
    if agg == "last":
        return {r["uuid"]: _number((r.get("summary") or {}).get(metric)) for r in runs}
    series = load_series(conn, [r["uuid"] for r in runs], metric)
    out: Dict[str, Optional[float]] = {}
    for r in runs:
        ys = series.get(r["uuid"], (None, np.empty(0)))[1]
        ys = ys[np.isfinite(ys)]
        out[r["uuid"]] = (float(ys.min()) if agg == "min" else float(ys.max())) if ys.size else None
    return out


@dataclass
class KeyImportance:
    """How much one config key tells about the metric, over the ``n`` runs that have both."""

    key: str
    n: int
    correlation: Optional[float]  # Pearson's r of a numeric key with the metric; None for a categorical key
    importance: float  # the fraction of the metric's variance its groups explain (first-order, 0..1)
    kind: str  # "numeric" or "categorical"


def _variance_explained(groups: np.ndarray, y: np.ndarray) -> float:
    """Between-group sum of squares over the total (eta squared): 0 when the key tells nothing,
    1 when it fixes the metric."""
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0.0:
        return 0.0
    _, inv = np.unique(groups, return_inverse=True)
    sums, counts = np.bincount(inv, weights=y), np.bincount(inv)
    means = sums / counts
    return float((counts * (means - y.mean()) ** 2).sum() / total)


def _bins(x: np.ndarray) -> np.ndarray:
    """Group labels for a numeric key: its values, or quantile bins when it has many."""
    if np.unique(x).size <= IMPORTANCE_BINS:
        return x
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable")
    return np.floor(ranks * IMPORTANCE_BINS / x.size)


def importance(runs: Sequence[Dict[str, Any]], values: Dict[str, Optional[float]],
               keys: Optional[Sequence[str]] = None) -> List[KeyImportance]:
    """Importance of each config key (``keys``, or every key whose value differs between runs) for
    the metric ``values`` (uuid -> value), most important first. A key is numeric when every run
    that has it holds a number; else its values are categories (compared as their JSON text)."""
    flat = {r["uuid"]: flatten(r.get("config") or {}) for r in runs}
    have = [u for u in flat if values.get(u) is not None]
    if keys is None:
        seen: Dict[str, set] = {}
        for u in have:
            for k, v in flat[u].items():
                seen.setdefault(k, set()).add(repr(v))
        keys = sorted(k for k, vs in seen.items() if len(vs) > 1)
    out = []
    for k in keys:
        us = [u for u in have if k in flat[u] and not isinstance(flat[u][k], (dict, list))]
        if len(us) < 3:
            continue
        y = np.array([values[u] for u in us], F8)
        nums = [_number(flat[u][k]) for u in us]
        if all(v is not None for v in nums):
            x = np.array(nums, F8)
            if np.unique(x).size < 2:
                continue
            r = float(np.corrcoef(x, y)[0, 1]) if y.std() > 0 else 0.0
            out.append(KeyImportance(k, len(us), r, _variance_explained(_bins(x), y), "numeric"))
        else:
            cats = np.array([repr(flat[u][k]) for u in us])
            if np.unique(cats).size < 2:
                continue
            out.append(KeyImportance(k, len(us), None, _variance_explained(cats, y), "categorical"))
    out.sort(key=lambda ki: (-ki.importance, ki.key))
    return out


def group_label(run: Dict[str, Any], by: Sequence[str]) -> Tuple[str, ...]:
    """The run's values of the group keys as text (``tag``: its tags joined by commas; ``-`` when absent)."""
    flat = flatten(run.get("config") or {})
    out = []
    for k in by:
        if k in ("tag", "tags"):
            out.append(",".join(sorted(run.get("tags") or [])) or "-")
            continue
        key = k[len("config."):] if k.startswith("config.") else k
        v = (run.get("config") or {}).get(key, flat.get(key, _ABSENT))
        out.append("-" if v is _ABSENT else (str(v) if not isinstance(v, (dict, list)) else repr(v)))
    return tuple(out)



@dataclass
class GroupLine:
    """One group's line: at each x, the mean, min and max over the group's runs that have a value there."""

    label: Tuple[str, ...]
    runs: List[str]
    x: List[float]
    mean: List[Optional[float]]
    min: List[Optional[float]]
    max: List[Optional[float]]
    count: List[int]


def group_lines(series: Dict[str, Tuple[np.ndarray, np.ndarray]], groups: Dict[Tuple[str, ...], List[str]],
                points: int) -> List[GroupLine]:
    """Mean and min–max band per group. When all runs together log at most ``points`` distinct steps,
    the band is exact at every step; else the step range is cut into ``points`` equal buckets, each
    run counts with its mean in a bucket, and x is the bucket's middle. Non-finite values are left out."""
    allx = [series[u][0] for us in groups.values() for u in us if u in series]
    if not allx:
        return [GroupLine(label, us, [], [], [], [], []) for label, us in groups.items()]
    steps = np.unique(np.concatenate(allx))
    exact = steps.size <= points
    if exact:
        grid = steps
    else:
        lo, hi = float(steps[0]), float(steps[-1])
        edges = np.linspace(lo, hi, points + 1)
        grid = (edges[:-1] + edges[1:]) / 2
    out = []
    for label, us in groups.items():
        m = np.full((len(us), grid.size), np.nan)
        for i, u in enumerate(us):
            if u not in series:
                continue
            xs, ys = series[u]
            ok = np.isfinite(ys)
            xs, ys = xs[ok], ys[ok]
            if exact:
                m[i, np.searchsorted(grid, xs)] = ys  # several points at one step: the last one
            else:
                b = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, points - 1)
                cnt = np.bincount(b, minlength=points)
                s = np.bincount(b, weights=ys, minlength=points)
                with np.errstate(invalid="ignore", divide="ignore"):
                    m[i] = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
        count = (~np.isnan(m)).sum(axis=0)
        has = count > 0
        m = m[:, has]
        out.append(GroupLine(label, list(us), grid[has].tolist(), np.nanmean(m, axis=0).tolist(),
                             np.nanmin(m, axis=0).tolist(), np.nanmax(m, axis=0).tolist(),
                             count[has].astype(int).tolist()))
    return out
