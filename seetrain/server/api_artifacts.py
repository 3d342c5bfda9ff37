"""Artifact routes (docs/server-api.md, "Artifacts"): list a project's artifacts and versions, read a
version (files, aliases, lineage), download its files, move aliases, remove versions, and upload
blobs before the ``artifact`` record that names them."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any, Dict, List

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from . import artifacts
from .api_ingest import read_json
from .auth import Principal
from .blobs import check_sha
from .deps import Store, principal, require
from .gc import UploadLease

router = APIRouter()
ingest_router = APIRouter()  # blob uploads: mounted where ingest is (not by `seetrain ui`)
MAX_FILE_BYTES = 1 << 40  # one artifact file, at most (1 TiB)
MAX_MISSING_ASK = 100_000


def _store(request: Request) -> Store:
    return request.app.state.store


def _sha(sha: str) -> str:
    try:
        return check_sha(sha)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/projects/{project}/artifacts")
def list_artifacts(project: str, request: Request, p: Principal = Depends(principal)):
    require(p, project, write=False)
    with _store(request).read() as conn:
        return {"project": project, "artifacts": artifacts.list_artifacts(conn, project)}


@router.get("/projects/{project}/artifacts/{name}")
def list_versions(project: str, name: str, request: Request, p: Principal = Depends(principal)):
    require(p, project, write=False)
    with _store(request).read() as conn:
        return artifacts.list_versions(conn, project, name)


@router.get("/projects/{project}/artifacts/{name}/{ref}")
def get_version(project: str, name: str, ref: str, request: Request, p: Principal = Depends(principal)):
    """One version: ``ref`` is ``vN``, an alias or ``latest``."""
    require(p, project, write=False)
    with _store(request).read() as conn:
        return artifacts.get_version(conn, project, name, ref)


@router.get("/projects/{project}/artifacts/{name}/{ref}/blobs/{sha}")
def get_file(project: str, name: str, ref: str, sha: str, request: Request, p: Principal = Depends(principal)):
    """The bytes of a file of version ``ref`` (by its sha256, as the manifest lists it)."""
    require(p, project, write=False)
    store = _store(request)
    with store.read() as conn:
        if not artifacts.blob_of(conn, project, name, ref, _sha(sha)):
            raise HTTPException(404, f"artifact {name}:{ref} has no file with sha256 {sha}")
    local = store.blobs.local_path(sha)
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha}"'}
    if local:
        return FileResponse(local, media_type="application/octet-stream", headers=headers)
    return StreamingResponse(store.blobs.open_iter(sha), media_type="application/octet-stream", headers=headers)


@router.get("/projects/{project}/lineage")
def get_lineage(project: str, request: Request, node: str, depth: int = 10, p: Principal = Depends(principal)):
    """The lineage graph around ``node`` (``run:<uuid>`` or ``artifact:<name>:vN``)."""
    require(p, project, write=False)
    if not (node.startswith("run:") or node.startswith("artifact:")):
        raise HTTPException(422, "node must be 'run:<uuid>' or 'artifact:<name>:v<N>'")
    with _store(request).read() as conn:
        return artifacts.lineage(conn, project, node, max(1, min(depth, 50)))


@router.get("/runs/{uuid}/artifacts")
def run_artifacts(uuid: str, request: Request, p: Principal = Depends(principal)):
    """The artifact versions a run logged (``output``) or used (``input``)."""
    store = _store(request)
    from .queries import get_run

    with store.read() as conn:
        row = get_run(conn, uuid)
        if row is None or not p.can_read(row["project"]):
            raise HTTPException(404, f"no run with uuid {uuid}")
        return {"uuid": uuid, "artifacts": artifacts.run_artifacts(conn, uuid)}


@router.put("/projects/{project}/artifacts/{name}/aliases/{alias}")
async def put_alias(project: str, name: str, alias: str, request: Request, p: Principal = Depends(principal)):
    """Point ``alias`` at a version: body ``{"version": "v3"}`` (or an alias)."""
    require(p, project, write=True)
    body = await read_json(request, 1 << 16)
    ref = body.get("version") if isinstance(body, dict) else None
    if isinstance(ref, int):
        ref = f"v{ref}"
    if not isinstance(ref, str):
        raise HTTPException(422, 'body must be {"version": "vN"}')
    store = _store(request)

    def work():
        with store.write() as conn:
            return artifacts.set_alias(conn, project, name, alias, ref)

    return await run_in_threadpool(work)


@router.delete("/projects/{project}/artifacts/{name}/aliases/{alias}")
def delete_alias(project: str, name: str, alias: str, request: Request, p: Principal = Depends(principal)):
    require(p, project, write=True)
    with _store(request).write() as conn:
        if not artifacts.remove_alias(conn, project, name, alias):
            raise HTTPException(404, f"artifact {name} has no alias {alias!r}")
    return {"name": name, "alias": alias, "removed": True}


@router.delete("/projects/{project}/artifacts/{name}/{ref}")
def delete_version(project: str, name: str, ref: str, request: Request, p: Principal = Depends(principal)):
    """Remove a version (its blobs go at the next ``seetrain server gc`` unless referenced elsewhere)."""
    require(p, project, write=True)
    with _store(request).write() as conn:
        return artifacts.remove_version(conn, project, name, ref)


@ingest_router.post("/projects/{project}/blobs/missing")
async def post_missing(project: str, request: Request, p: Principal = Depends(principal)):
    """Which of ``{"sha256": [...]}`` the blob store lacks (upload only those); all of them are leased
    against gc until the record that names them arrives."""
    require(p, project, write=True)
    body = await read_json(request, 16 << 20)
    shas = body.get("sha256") if isinstance(body, dict) else None
    if not isinstance(shas, list) or len(shas) > MAX_MISSING_ASK:
        raise HTTPException(422, f'body must be {{"sha256": [hex digest, ...]}} with at most {MAX_MISSING_ASK}')
    shas = [_sha(s) if isinstance(s, str) else _sha(repr(s)) for s in shas]
    store = _store(request)
    missing: List[str] = await run_in_threadpool(artifacts.lease_and_find_missing, store, shas)
    return {"missing": missing}


@ingest_router.put("/projects/{project}/blobs/{sha}")
async def put_blob(project: str, sha: str, request: Request, p: Principal = Depends(principal)):
    """Store one artifact file by its sha256 (checked); leased against gc until a version names it."""
    require(p, project, write=True)
    _sha(sha)
    store = _store(request)
    if await run_in_threadpool(store.blobs.exists, sha):
        async for _ in request.stream():  # drain: the connection stays usable
            pass
        return {"sha256": sha, "stored": False}
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix="seetrain-artifact-")
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise HTTPException(413, f"artifact file is over the limit of {MAX_FILE_BYTES} bytes")
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != sha:
            raise HTTPException(400, f"the body's sha256 is {h.hexdigest()}, not {sha}: the upload was damaged, "
                                     "send it again")

        def work() -> Dict[str, Any]:
            UploadLease(store).add(sha)  # committed before the blob is written (gc.py); dropped by the record
            store.blobs.put_file(sha, tmp, "application/octet-stream")
            return {"sha256": sha, "stored": True, "size": size}

        return await run_in_threadpool(work)
    finally:
        os.unlink(tmp)
