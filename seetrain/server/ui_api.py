"""UI-only routes (owned by the dashboard; ``create_app`` includes this router when it exists).

``GET /api/v1/ui/state``: what the ``seetrain ui`` watcher knows that the index cannot say: the
LOGDIR it follows and, per run uuid, a torn last line, skipped corrupt lines, missing media files,
a run directory that vanished, or a run.json that could not be read. Under ``seetrain server``
(no watcher) it answers ``{"logdir": null, "runs": {}}``. It reads ``app.state.watcher`` only.
"""

from __future__ import annotations

from typing import Any, Dict

from fastapi import APIRouter, Depends, Request

from .app import principal
from .auth import Principal

router = APIRouter()


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
