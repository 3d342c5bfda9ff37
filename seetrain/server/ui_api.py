"""UI-only routes (owned by the dashboard; ``create_app`` includes this router when it exists).

``GET /api/v1/ui/series?run=U&key=A&key=B...&x=step&points=N``: the ``/series`` answer for several
keys at once (the run page's first paint: one request instead of one per chart). Same downsampling
(:func:`seetrain.server.series.query`), same read check per run.

``GET /api/v1/ui/state``: what the ``seetrain ui`` watcher knows that the index cannot say: the
LOGDIR it follows and, per run uuid, a torn last line, skipped corrupt lines, missing media files,
a run directory that vanished, or a run.json that could not be read. Under ``seetrain server``
(no watcher) it answers ``{"logdir": null, "runs": {}}``. It reads ``app.state.watcher`` only.
"""

from __future__ import annotations

from typing import Any, Dict, List

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from . import queries, series
from .deps import JSONResponse, principal, readable_run
from .auth import Principal
from .ingest import norm_uuid

router = APIRouter()
MAX_KEYS = 100


@router.get("/ui/state")
def ui_state(request: Request, p: Principal = Depends(principal)) -> Dict[str, Any]:
    watcher = getattr(request.app.state, "watcher", None)
    if watcher is None:
        return {"logdir": None, "runs": {}}
    state = watcher.state()
    if p.project not in (None, "*"):  # a project-scoped key sees only its project's runs
        state["runs"] = {u: s for u, s in state["runs"].items() if p.can_read(_project_of(s["path"]))}
    return state


def _project_of(run_path: str) -> str:
    import os

    return os.path.basename(os.path.dirname(run_path))


@router.get("/ui/series")
def ui_series(request: Request, run: List[str] = Query(...), key: List[str] = Query(...),
              x: str = Query("step", pattern="^(step|time)$"), points: int = Query(1000, ge=0, le=100_000),
              p: Principal = Depends(principal)) -> JSONResponse:
    if len(key) > MAX_KEYS or len(run) > 20:
        raise HTTPException(422, f"at most {MAX_KEYS} keys and 20 runs in one request")
    store = request.app.state.store
    uuids = []
    with store.read() as conn:
        for u in run:
            uuid = norm_uuid(u)
            uuids.append(readable_run(p, queries.get_run(conn, uuid), uuid)["uuid"])
        out = []
        for k in key:
            out.extend(series.query(conn, uuids, k, x, None, None, points, None))
    return JSONResponse({"series": out})  # numpy arrays: encoded by orjson, not pydantic
