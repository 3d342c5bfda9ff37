"""Ingest routes: create/resume a run, append records, upload media, finish (docs/server-api.md)."""

from __future__ import annotations

import gc
import hashlib
import mimetypes
import os
import tempfile
import threading
from typing import Any, Dict, Optional

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from . import ingest
from .auth import Principal
from .deps import JSONResponse, Store, principal, readable_run, require
from .queries import get_run, run_detail

router = APIRouter()


def _body(description: str, schema: Dict[str, Any], media: str = "application/json") -> Dict[str, Any]:
    """OpenAPI for a route that reads its body itself (size-limited, parsed with orjson)."""
    return {"requestBody": {"required": True, "description": description, "content": {media: {"schema": schema}}}}


_OBJ = {"type": "object"}
RUN_BODY = _body("run.json fields: project (required on create), id, name, tags, config, status, start_time, "
                 "end_time, heartbeat, summary, and any environment fields", _OBJ)
RECORDS_BODY = _body("a batch of records in the format of docs/record-format.md, of one writer of the run "
                     "(absent or \"\": the primary)",
                     {"type": "object", "required": ["records"],
                      "properties": {"records": {"type": "array", "items": _OBJ}, "writer": {"type": "string"}}})
WRITER_BODY = _body("writer.json fields: rank, host, pid, status, exit_code, start_time, end_time, heartbeat (others "
                    "kept), and run: {project, id, name, start_time} to create the run if it does not exist", _OBJ)
MEDIA_BODY = _body("the file's bytes (header X-Content-SHA256 optional)", {"type": "string", "format": "binary"},
                   "application/octet-stream")
FINISH_BODY = _body("how the run ended", {"type": "object", "required": ["status"], "properties": {
    "status": {"enum": ["success", "failed", "crashed", "killed"]}, "exit_code": {"type": "integer"},
    "end_time": {"type": "number"}, "summary": _OBJ}})


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes."""
    cl = request.headers.get("content-length")
    if cl and cl.isdigit() and int(cl) > limit:
        raise HTTPException(413, f"request body of {cl} bytes is over the limit of {limit}; send smaller batches")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise HTTPException(413, f"request body is over the limit of {limit} bytes; send smaller batches")
    return bytes(buf)


async def read_json(request: Request, limit: int) -> Any:
    return parse_json(await read_body(request, limit))


def parse_json(body: bytes) -> Any:
    """The body decoded once, with the cyclic GC paused: a batch is thousands of objects that are all
    alive, and each collection the decode would trigger walks them all (a third of the decode)."""
    global _gc_pausers
    with _gc_lock:  # counted: concurrent requests pause it once and the last one out restores it
        if _gc_pausers == 0:
            _gc_restore[0] = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_restore[0]:
                gc.enable()


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_restore = [True]


def _project_of(store: Store, uuid: str, p: Optional[Principal] = None) -> str:
    """The run's project; 404 when it does not exist or (the same answer) ``p`` may not read it."""
    with store.read() as conn:
        row = get_run(conn, uuid)
    if row is None or (p is not None and not p.can_read(row["project"])):
        raise HTTPException(404, f"run {uuid} does not exist; create it first with PUT /api/v1/runs/{uuid}")
    return row["project"]


def _retry_integrity(fn, *args):
    """Two workers creating the same run at once: the loser retries and finds it (same run)."""
    try:
        return fn(*args)
    except IntegrityError:
        return fn(*args)


@router.put("/runs/{uuid}", openapi_extra=RUN_BODY)
async def put_run(uuid: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    uuid = ingest.norm_uuid(uuid)
    meta = await read_json(request, store.settings.max_body_bytes)
    if not isinstance(meta, dict):
        raise HTTPException(422, "the run body must be a JSON object (the fields of run.json)")

    def work():
        with store.write() as conn:
            row = get_run(conn, uuid)
            if row is not None:
                readable_run(p, row, uuid)  # another project's run: the 404 of no run
            require(p, row["project"] if row else str(meta.get("project")), write=True)
            ingest.upsert_run(conn, uuid, meta, store.settings.max_key_length, ingest.Limits.of(store.settings))
            return run_detail(get_run(conn, uuid), store.settings.heartbeat_stale_s)

    return await run_in_threadpool(_retry_integrity, work)


@router.put("/runs/{uuid}/writers/{writer}", openapi_extra=WRITER_BODY)
async def put_writer(uuid: str, writer: str, request: Request, p: Principal = Depends(principal)):
    """Create or update one writer of a shared run (issue 23) from its writer.json; its ``run``
    object creates the run when this writer's machine syncs before the primary's."""
    store: Store = request.app.state.store
    uuid = ingest.norm_uuid(uuid)
    body = await read_json(request, store.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise HTTPException(422, "the writer body must be a JSON object (the fields of writer.json)")

    def work():
        with store.write() as conn:
            row = get_run(conn, uuid)
            if row is not None:
                readable_run(p, row, uuid)
            run_fields = body.get("run") if isinstance(body.get("run"), dict) else {}
            require(p, row["project"] if row else str(run_fields.get("project")), write=True)
            w = ingest.upsert_writer(conn, uuid, writer, body, store.settings.max_key_length,
                                     ingest.Limits.of(store.settings))
            return {"writer": w["writer"], "last_seq": w["last_seq"], "records": w["n_records"],
                    "status": w["status"]}

    return await run_in_threadpool(_retry_integrity, work)


@router.post("/runs/{uuid}/records", openapi_extra=RECORDS_BODY)
async def post_records(uuid: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    s = store.settings
    uuid = ingest.norm_uuid(uuid)
    body = await read_json(request, s.max_body_bytes)
    if not isinstance(body, dict) or "records" not in body:
        raise HTTPException(422, "body must be {\"records\": [record, ...]}")

    def work():
        res = ingest.ingest_records(store, uuid, body["records"], ingest.Limits.of(s),
                                    authorize=lambda: require(p, _project_of(store, uuid, p), write=True),
                                    writer=body.get("writer"))
        return {"stored": res.stored, "duplicates": res.duplicates, "last_seq": res.last_seq}

    return JSONResponse(await run_in_threadpool(work))


@router.put("/runs/{uuid}/media/{path:path}", openapi_extra=MEDIA_BODY)
async def put_media(uuid: str, path: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    uuid = ingest.norm_uuid(uuid)
    ingest.check_media_path(path)
    require(p, await run_in_threadpool(_project_of, store, uuid, p), write=True)
    limit = store.settings.max_media_bytes
    cl = request.headers.get("content-length")
    if cl and cl.isdigit() and int(cl) > limit:
        raise HTTPException(413, f"media file of {cl} bytes is over the limit of {limit}")
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix="seetrain-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"media file is over the limit of {limit} bytes")
                h.update(chunk)
                f.write(chunk)
        sha = h.hexdigest()
        claimed = request.headers.get("x-content-sha256")
        if claimed and claimed.lower() != sha:
            raise HTTPException(400, f"X-Content-SHA256 {claimed[:64]!r} does not match the body's sha256 {sha}; "
                                     "the upload was damaged, send it again")
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"

        def work():
            with store.write() as conn:
                ingest.store_media(conn, store.blobs, uuid, path, tmp, sha, size, ctype)

        await run_in_threadpool(_retry_integrity, work)
        return {"sha256": sha, "size": size}
    finally:
        os.unlink(tmp)


@router.post("/runs/{uuid}/finish", openapi_extra=FINISH_BODY)
async def post_finish(uuid: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    uuid = ingest.norm_uuid(uuid)
    body = await read_json(request, store.settings.max_body_bytes)

    def work():
        require(p, _project_of(store, uuid, p), write=True)
        with store.write() as conn:
            ingest.finish_run(conn, uuid, body, ingest.Limits.of(store.settings))
            return run_detail(get_run(conn, uuid), store.settings.heartbeat_stale_s)

    return await run_in_threadpool(work)
