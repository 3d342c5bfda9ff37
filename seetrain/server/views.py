"""Saved views of the dashboard, per project: a name, the page's URL state and its chart layout,
stored in the server's database (under ``seetrain ui``: the ui's own index database, never a run
directory). Reading needs read access to the project; saving and deleting need write access
(a write key on a keyed server) and pass the Host/Origin/content-type guard (:mod:`.http_guard`)."""

from __future__ import annotations

import time
from typing import Any, Dict

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from sqlalchemy import delete, insert, select, update

from .auth import Principal
from .db.models import saved_views
from .deps import Store, principal, require

router = APIRouter()
MAX_NAME = 200
MAX_BYTES = 64_000  # state + layout of one view, as JSON


def _out(row: Any) -> Dict[str, Any]:
    return {"name": row["name"], "project": row["project"], "state": row["state"], "layout": row["layout"],
            "created": row["created"], "updated": row["updated"]}


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise HTTPException(422, f"a view's name is 1 to {MAX_NAME} printable characters")
    return name


@router.get("/projects/{project}/views")
def list_views(project: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    require(p, project, write=False)
    with store.read() as conn:
        rows = conn.execute(select(saved_views).where(saved_views.c.project == project)
                            .order_by(saved_views.c.name)).mappings()
        return [_out(r) for r in rows]


@router.get("/projects/{project}/views/{name}")
def get_view(project: str, name: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    require(p, project, write=False)
    with store.read() as conn:
        row = conn.execute(select(saved_views).where(saved_views.c.project == project,
                                                     saved_views.c.name == name)).mappings().first()
    if row is None:
        raise HTTPException(404, f"no saved view {name[:100]!r} in project {project[:100]!r}")
    return _out(row)


@router.put("/projects/{project}/views/{name}")
def put_view(project: str, name: str, request: Request, body: Dict[str, Any] = Body(...),
             p: Principal = Depends(principal)):
    """Save (or replace) the view ``name``: ``{"state": {...}, "layout": {...}}``."""
    import orjson

    store: Store = request.app.state.store
    require(p, project, write=True)
    name = _check_name(name)
    state, layout = body.get("state"), body.get("layout", {})
    if not isinstance(state, dict) or not isinstance(layout, dict):
        raise HTTPException(422, 'send {"state": {...}, "layout": {...}}: both JSON objects')
    if len(orjson.dumps({"state": state, "layout": layout})) > MAX_BYTES:
        raise HTTPException(422, f"a view's state and layout are at most {MAX_BYTES} bytes of JSON")
    now = time.time()
    with store.write() as conn:
        found = conn.execute(update(saved_views).where(saved_views.c.project == project, saved_views.c.name == name)
                             .values(state=state, layout=layout, updated=now)).rowcount
        if not found:
            conn.execute(insert(saved_views).values(project=project, name=name, state=state, layout=layout,
                                                    created=now, updated=now))
        row = conn.execute(select(saved_views).where(saved_views.c.project == project,
                                                     saved_views.c.name == name)).mappings().first()
        return _out(row)


@router.delete("/projects/{project}/views/{name}")
def delete_view(project: str, name: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    require(p, project, write=True)
    with store.write() as conn:
        n = conn.execute(delete(saved_views).where(saved_views.c.project == project,
                                                   saved_views.c.name == name)).rowcount
    if not n:
        raise HTTPException(404, f"no saved view {name[:100]!r} in project {project[:100]!r}")
    return {"deleted": name}
