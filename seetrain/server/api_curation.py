"""Curation routes (docs/server-api.md): edit a run (name, tags, notes, archived), soft delete,
restore and purge. Each needs write access to the run's project (a write key on a keyed server)
and passes the Host/Origin/content-type guard of state-changing requests (:mod:`.http_guard`).

Under ``seetrain ui`` the app carries ``state.local_edits`` (:class:`.local_edits.LocalEdits`): the
same operations then also land in the log folder's edits sidecar and trash, never in a run directory.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from . import curation
from .api_ingest import read_json
from .auth import Principal
from .deps import Store, principal, readable_run, require
from .ingest import norm_uuid
from .queries import get_run, run_detail

router = APIRouter()

EDIT_BODY = {"requestBody": {"required": True, "description": "the fields to change, each optional",
                             "content": {"application/json": {"schema": {"type": "object", "properties": {
                                 "name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                                 "add_tags": {"type": "array", "items": {"type": "string"}},
                                 "remove_tags": {"type": "array", "items": {"type": "string"}},
                                 "notes": {"type": "string"}, "archived": {"type": "boolean"}}}}}}}


def _writable(store: Store, p: Principal, uuid: str) -> str:
    """The run's uuid once ``p`` may write to its project: 404 when ``p`` cannot see the run, 403
    when it may read but not write."""
    uuid = norm_uuid(uuid)
    with store.read() as conn:
        row = readable_run(p, get_run(conn, uuid), uuid)
    require(p, row["project"], write=True)
    return uuid


def _local(request: Request) -> Optional[Any]:
    return getattr(request.app.state, "local_edits", None)


def _detail(store: Store, uuid: str):
    with store.read() as conn:
        return run_detail(get_run(conn, uuid), store.settings.heartbeat_stale_s)


@router.patch("/runs/{uuid}", openapi_extra=EDIT_BODY)
async def patch_run(uuid: str, request: Request, p: Principal = Depends(principal)):
    """Rename, set or change tags, write notes, archive or unarchive the run."""
    store: Store = request.app.state.store
    edit = curation.Edit.from_body(await read_json(request, store.settings.max_body_bytes))

    def work():
        u = _writable(store, p, uuid)
        with store.write() as conn:
            row = curation.apply_edit(conn, u, edit)
        local = _local(request)
        if local is not None:
            local.save_edit(u, row)
        return _detail(store, u)

    return await run_in_threadpool(work)


@router.delete("/runs/{uuid}")
def delete_run(uuid: str, request: Request, purge: bool = False, p: Principal = Depends(principal)):
    """Soft delete (hidden from lists, restorable); ``?purge=true`` deletes the run's rows and the
    blobs nothing else references (a running run must be finished or deleted first)."""
    store: Store = request.app.state.store
    u = _writable(store, p, uuid)
    local = _local(request)
    if purge:
        with store.read() as conn:
            row = get_run(conn, u)
        if run_detail(row, store.settings.heartbeat_stale_s)["status"] == "running" and row.get("deleted") is None:
            raise HTTPException(409, f"run {u} is still running: delete it first (DELETE without purge), "
                                     "or let it finish, then purge")
        if local is not None:
            local.purge(u)
        rep = curation.purge(store, u)
        return {"uuid": u, "purged": True, "rows": rep.rows, "blobs_freed": rep.blobs_freed,
                "bytes_freed": rep.bytes_freed}
    if local is not None:
        local.delete(u)
    with store.write() as conn:
        curation.set_deleted(conn, u, True)
    return _detail(store, u)


@router.post("/runs/{uuid}/restore")
def restore_run(uuid: str, request: Request, p: Principal = Depends(principal)):
    """Undo a soft delete."""
    store: Store = request.app.state.store
    u = _writable(store, p, uuid)
    local = _local(request)
    if local is not None:
        local.restore(u)
    with store.write() as conn:
        curation.set_deleted(conn, u, False)
    return _detail(store, u)
