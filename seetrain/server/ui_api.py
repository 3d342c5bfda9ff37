"""UI-only routes (owned by the dashboard; ``create_app`` includes this router when it exists).

(The dashboard's batched series live in ``GET /api/v1/series``, which takes several runs and keys;
``/ui/series`` is an alias of it in :mod:`seetrain.server.api_read`.)

``GET /api/v1/ui/compare?run=U&run=V...`` (or ``POST`` with ``{"run": [...]}``, for hundreds of
runs): what a compare page needs before its charts, in one
request: each run (as ``/runs/{uuid}``) and their scalar keys merged (``{"key", "kind", "count"}``,
counts summed over the runs). At most ``MAX_COMPARE`` runs; each is read-checked.

``GET /api/v1/ui/state``: what the ``seetrain ui`` watcher knows that the index cannot say: the
LOGDIR it follows and, per run uuid, a torn last line, skipped corrupt lines, missing media files,
a run directory that vanished, or a run.json that could not be read. Under ``seetrain server``
(no watcher) it answers ``{"logdir": null, "runs": {}}``. It reads ``app.state.watcher`` only.
"""

from __future__ import annotations

from typing import Any, Dict, List

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from . import queries
from .deps import principal, readable_run
from .auth import Principal
from .ingest import norm_uuid

router = APIRouter()
MAX_COMPARE = 1000


class CompareQuery(BaseModel):
    run: List[str] = Field(min_length=1)


@router.post("/ui/compare")
def ui_compare_post(body: CompareQuery, request: Request, p: Principal = Depends(principal)) -> Dict[str, Any]:
    """``GET /ui/compare`` with the runs in a JSON body (hundreds of uuids do not fit in a URL)."""
    return ui_compare(request, body.run, p)


@router.get("/ui/compare")
def ui_compare(request: Request, run: List[str] = Query(...), p: Principal = Depends(principal)) -> Dict[str, Any]:
    if len(run) > MAX_COMPARE:
        raise HTTPException(422, f"{len(run)} runs asked; a compare shows at most {MAX_COMPARE}")
    store = request.app.state.store
    runs, merged = [], {}
    with store.read() as conn:
        for u in dict.fromkeys(norm_uuid(u) for u in run):
            row = readable_run(p, queries.get_run(conn, u), u)
            runs.append(queries.run_detail(row, store.settings.heartbeat_stale_s))
            for k in queries.keys(conn, row["uuid"]):
                if k["kind"] != "scalar":
                    continue
                m = merged.setdefault(k["key"], {"key": k["key"], "kind": k["kind"], "count": 0})
                m["count"] += k["count"]
    return {"runs": runs, "keys": list(merged.values())}


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
