"""Routes of the dashboard's analysis of many runs (docs/server-api.md, docs/ui.md): a metric's value
per run for parallel coordinates and scatter plots, parameter importance and group lines. Every route
takes the runs filter (``filter=``, :mod:`seetrain.run_filter`) to choose the project's runs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ..run_filter import parse as parse_filter
from . import analysis, queries
from .auth import Principal
from .deps import Store, principal, require

router = APIRouter()
MAX_RUNS = 10_000  # runs one analysis reads at most (the newest first); the answer says when it cut


def _runs(store: Store, conn: Any, p: Principal, project: str, flt: Optional[str]) -> Dict[str, Any]:
    require(p, project, write=False)
    try:
        parsed = parse_filter(flt) if flt else None
        return queries.list_runs(conn, allowed=p.project, project=project, status=None, tag=None, q=None, config={},
                                 sort="-start_time", limit=MAX_RUNS, offset=0,
                                 stale_s=store.settings.heartbeat_stale_s, filter=parsed)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def _agg(agg: str) -> str:
    if agg not in analysis.AGGS:
        raise HTTPException(422, f"agg={agg[:40]!r}: one of {', '.join(analysis.AGGS)}")
    return agg


@router.get("/projects/{project}/analysis/values")
def get_values(project: str, request: Request, metric: List[str] = Query([]), agg: str = "last",
               filter: Optional[str] = None, p: Principal = Depends(principal)):
    """Each matching run with its flattened config and ``metric``'s value(s) (``agg``: last, min, max)."""
    store: Store = request.app.state.store
    agg = _agg(agg)
    if len(metric) > 20:
        raise HTTPException(422, "at most 20 metrics in one request")
    with store.read() as conn:
        page = _runs(store, conn, p, project, filter)
        vals = {m: analysis.metric_values(conn, page["runs"], m, agg) for m in metric}
    runs = [{"uuid": r["uuid"], "id": r["id"], "name": r["name"], "status": r["status"], "tags": r["tags"],
             "config": analysis.flatten(r["config"]), "metrics": {m: vals[m][r["uuid"]] for m in metric}}
            for r in page["runs"]]
    keys = sorted({k for r in page["runs"] for k, v in (r["summary"] or {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return {"total": page["total"], "agg": agg, "runs": runs, "metric_keys": keys}


@router.get("/projects/{project}/analysis/importance")
def get_importance(project: str, request: Request, metric: str, agg: str = "last", filter: Optional[str] = None,
                   key: List[str] = Query([]), p: Principal = Depends(principal)):
    """Importance of config keys (``key``, or every key that differs) for ``metric``."""
    store: Store = request.app.state.store
    agg = _agg(agg)
    with store.read() as conn:
        page = _runs(store, conn, p, project, filter)
        vals = analysis.metric_values(conn, page["runs"], metric, agg)
    used = sum(v is not None for v in vals.values())
    keys = analysis.importance(page["runs"], vals, key or None)
    return {"metric": metric, "agg": agg, "runs": len(page["runs"]), "runs_used": used,
            "method": "correlation: Pearson's r; importance: fraction of variance explained by the key's "
                      f"values (numeric keys in {analysis.IMPORTANCE_BINS} quantile bins)",
            "keys": [asdict(k) for k in keys]}


@router.get("/projects/{project}/analysis/groups")
def get_groups(project: str, request: Request, group: List[str] = Query(...), metric: List[str] = Query([]),
               points: int = Query(200, ge=2, le=2000), filter: Optional[str] = None,
               p: Principal = Depends(principal)):
    """Runs grouped by config keys (or ``tag``): each group's runs and, per ``metric``, its mean line
    with a min–max band over steps."""
    store: Store = request.app.state.store
    if len(metric) > 20 or len(group) > 5:
        raise HTTPException(422, "at most 20 metrics and 5 group keys in one request")
    with store.read() as conn:
        page = _runs(store, conn, p, project, filter)
        groups: Dict[tuple, List[str]] = {}
        for r in page["runs"]:
            groups.setdefault(analysis.group_label(r, group), []).append(r["uuid"])
        uuids = [r["uuid"] for r in page["runs"]]
        lines = {m: analysis.group_lines(analysis.load_series(conn, uuids, m), groups, points) for m in metric}
    out = []
    for i, (label, us) in enumerate(sorted(groups.items(), key=lambda kv: kv[0])):
        one = {"label": list(label), "runs": us, "size": len(us), "metrics": {}}
        for m, ls in lines.items():
            line = next(gl for gl in ls if gl.label == label)
            one["metrics"][m] = {"x": line.x, "mean": line.mean, "min": line.min, "max": line.max, "count": line.count}
        out.append(one)
    return {"group": group, "total": page["total"], "groups": out}
