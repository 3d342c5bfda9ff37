"""Read routes for the dashboard and API users: projects, runs, one run, keys, events, console,
media, series (downsampled) and export (docs/server-api.md)."""

from __future__ import annotations

import urllib.parse
from typing import Dict, List, Optional, Tuple

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..run_filter import parse as parse_filter
from . import forks, queries, series
from .deps import DatabaseStream, JSONResponse, Store, principal, readable_run, require
from .auth import Principal
from .blobs import check_sha
from .ingest import IngestError, check_writer, norm_uuid
from .writers import list_writers, writers_summary
from .validate import check_query_params


def _query_params_ok(request: Request) -> None:
    """Every route: no NUL and no integer beyond 64 bits in a query parameter (400 naming it)."""
    check_query_params(request.query_params.multi_items())


router = APIRouter(dependencies=[Depends(_query_params_ok)])

# Media types a browser shows without running anything; every other upload is served as bytes to
# save (the uploader's file name chose the stored type: a.html or a.svg must never render here).
INERT_MEDIA = {"image/png": "image/png", "image/jpeg": "image/jpeg", "image/gif": "image/gif",
               "image/webp": "image/webp", "audio/wav": "audio/wav", "audio/x-wav": "audio/wav",
               "audio/wave": "audio/wav", "audio/mpeg": "audio/mpeg", "audio/ogg": "audio/ogg",
               "text/plain": "text/plain; charset=utf-8"}
BLOB_CSP = "default-src 'none'; sandbox"


def blob_headers(sha: str, stored_type: str) -> Tuple[str, Dict[str, str]]:
    """The content type and headers a media blob is served with: an inert type shown inline, or
    ``application/octet-stream`` as an attachment; never sniffed, never scripted, cached privately."""
    ctype = INERT_MEDIA.get(stored_type.split(";", 1)[0].strip().lower())
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "Vary": "Authorization, X-API-Key",
               "ETag": f'"{sha}"', "X-Content-Type-Options": "nosniff", "Content-Security-Policy": BLOB_CSP}
    if ctype is None:
        ctype = "application/octet-stream"
        headers["Content-Disposition"] = f'attachment; filename="{sha[:16]}.bin"'
    return ctype, headers


def _writer_labels(labels: Optional[List[str]]) -> Optional[List[str]]:
    """``writer=`` query values checked (422 naming a bad one); None when none was given."""
    if labels is None:
        return None
    try:
        return [check_writer(w) for w in labels]
    except IngestError as exc:
        raise HTTPException(exc.status, exc.detail) from None


def _one_writer(label: Optional[str]) -> Optional[str]:
    return None if label is None else _writer_labels([label])[0]


def _run(store: Store, p: Principal, uuid: str):
    uuid = norm_uuid(uuid)
    with store.read() as conn:
        row = queries.get_run(conn, uuid)
    return readable_run(p, row, uuid)


@router.get("/projects")
def get_projects(request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    with store.read() as conn:
        return queries.list_projects(conn, p.project)


@router.get("/runs")
def get_runs(request: Request, project: Optional[str] = None, status: Optional[str] = None,
             tag: Optional[str] = None, q: Optional[str] = None, sort: str = "-start_time",
             filter: Optional[str] = None, state: str = Query("active", pattern="^(active|archived|deleted|all)$"),
             limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0),
             p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    if project:
        require(p, project, write=False)
    cfg = {k[len("config."):]: v for k, v in request.query_params.items() if k.startswith("config.")}
    try:
        flt = parse_filter(filter) if filter else None  # a filter it cannot read: 422 naming where and what
        with store.read() as conn:
            return queries.list_runs(conn, allowed=p.project, project=project, status=status, tag=tag, q=q,
                                     config=cfg, sort=sort, limit=limit, offset=offset,
                                     stale_s=store.settings.heartbeat_stale_s, filter=flt, state=state)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/runs/{uuid}")
def get_one_run(uuid: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    out = queries.run_detail(_run(store, p, uuid), store.settings.heartbeat_stale_s)
    with store.read() as conn:  # the lineage links of a forked run and of its parent (issue 26)
        out.update(forks.lineage(conn, out["uuid"], p.project))
        out["writers"] = writers_summary(conn, out["uuid"], store.settings.heartbeat_stale_s)  # issue 23
    return out


@router.get("/runs/{uuid}/keys")
def get_keys(uuid: str, request: Request, p: Principal = Depends(principal), writer: Optional[str] = None):
    store: Store = request.app.state.store
    row = _run(store, p, uuid)
    with store.read() as conn:
        return queries.keys(conn, row["uuid"], _one_writer(writer))


@router.get("/runs/{uuid}/writers")
def get_writers(uuid: str, request: Request, p: Principal = Depends(principal)):
    """The writers of a run (one for a one-writer run: the primary, ``""``), each with its status."""
    store: Store = request.app.state.store
    row = _run(store, p, uuid)
    with store.read() as conn:
        return list_writers(conn, row["uuid"], store.settings.heartbeat_stale_s)


@router.get("/runs/{uuid}/events")
def get_events(uuid: str, request: Request, after_seq: int = -1, limit: int = Query(1000, ge=1, le=100_000),
               since: Optional[float] = Query(None, allow_inf_nan=False),
               event: Optional[str] = Query(None, max_length=64), p: Principal = Depends(principal),
               writer: Optional[str] = None):
    store: Store = request.app.state.store
    row = _run(store, p, uuid)
    with store.read() as conn:
        return queries.list_events(conn, row["uuid"], after_seq, limit, since, event, _one_writer(writer))


@router.get("/runs/{uuid}/console")
def get_console(uuid: str, request: Request, after_seq: int = -1, limit: int = Query(1000, ge=1, le=100_000),
                p: Principal = Depends(principal), writer: Optional[str] = None):
    """Console lines in seq order; a shared run's writer by ``writer=LABEL`` (empty: the primary)."""
    store: Store = request.app.state.store
    row = _run(store, p, uuid)
    with store.read() as conn:
        return queries.list_console(conn, row["uuid"], after_seq, limit, _one_writer(writer))


@router.get("/runs/{uuid}/media")
def get_media(uuid: str, request: Request, key: Optional[str] = None,
              p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    row = _run(store, p, uuid)
    with store.read() as conn:
        return queries.list_media(conn, row["uuid"], key)


@router.get("/media/{sha}")
def get_blob(sha: str, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    try:
        check_sha(sha)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    with store.read() as conn:
        holders = queries.blob_info(conn, sha)
    readable = [h for h in holders if p.can_read(h["project"])]
    if not readable:  # the same answer whether it does not exist or belongs to another project
        raise HTTPException(404, f"no media with sha256 {sha}")
    ctype, headers = blob_headers(sha, readable[0]["content_type"])
    local = store.blobs.local_path(sha)
    if local:
        return FileResponse(local, media_type=ctype, headers=headers)
    return StreamingResponse(store.blobs.open_iter(sha), media_type=ctype, headers=headers)


# One request may ask for every chart of a page: runs x keys series, up to this many (a compare of
# 100 runs x 25 charts); beyond it a 422 says how many were asked and what to do.
MAX_SERIES = 2500


def _mark_nonfinite(d: Dict) -> None:
    """NaN and +/-Inf travel as JSON null in ``y``; ``nonfinite`` says which points they were
    (``[{"i": index into x/y, "value": "NaN" | "+Inf" | "-Inf"}]``), so a chart can mark them."""
    y = np.asarray(d["y"], dtype=float)
    bad = np.flatnonzero(~np.isfinite(y))
    d["nonfinite"] = [{"i": int(i), "value": "NaN" if np.isnan(y[i]) else ("+Inf" if y[i] > 0 else "-Inf")}
                      for i in bad[:10_000]]


@router.get("/series")
@router.get("/ui/series", include_in_schema=False)  # the dashboard's former batch route: an alias
def get_series(request: Request, run: List[str] = Query(...), key: List[str] = Query(...),
               x: str = Query("step", pattern="^(step|time)$"), start: Optional[float] = None,
               end: Optional[float] = None, points: int = Query(1000, ge=0, le=100_000), full: bool = False,
               after: Optional[float] = None, band: bool = True, p: Principal = Depends(principal),
               superseded: bool = False, writer: Optional[List[str]] = Query(None),
               writers: str = Query("", pattern="^(|each|mean)$")):
    """Series of every (key, run) pair, key by key then run by run, downsampled to ``points`` each;
    ``band=false`` leaves out each point's bucket band ``ymin``/``ymax`` (charts of several runs).
    A rewound run's superseded points are left out; ``superseded=true`` lists only them.
    Shared runs (issue 23): ``writer=LABEL`` (repeatable; empty: the primary) keeps those writers'
    points; ``writers=each`` answers a series per writer (``"writer"``), ``writers=mean`` their mean
    with the min-max band across writers (``"writers"``: how many); by default every writer's points
    make one line."""
    store: Store = request.app.state.store
    asked = len(run) * len(key)
    if asked > MAX_SERIES:
        raise HTTPException(422, f"{len(run)} runs x {len(key)} keys = {asked} series in one request; at most "
                                 f"{MAX_SERIES}: ask for fewer keys (or runs) per request")
    with store.read() as conn:  # one connection for the read checks and every series
        uuids = [readable_run(p, queries.get_run(conn, norm_uuid(u)), norm_uuid(u))["uuid"] for u in run]
        out = series.query_keys(conn, uuids, key, x, start, end, 0 if full else points, after, band,
                                writers=_writer_labels(writer), view=writers, superseded=superseded)
    for d in out:
        _mark_nonfinite(d)
    return JSONResponse({"series": out})


class SeriesQuery(BaseModel):
    """``GET /series``'s parameters as a JSON body (``POST /series``)."""

    run: List[str] = Field(min_length=1)
    key: List[str] = Field(min_length=1)
    x: str = Field("step", pattern="^(step|time)$")
    start: Optional[float] = None
    end: Optional[float] = None
    points: int = Field(1000, ge=0, le=100_000)
    full: bool = False
    after: Optional[float] = None
    band: bool = True
    superseded: bool = False
    writer: Optional[List[str]] = None
    writers: str = Field("", pattern="^(|each|mean)$")


@router.post("/series")
def post_series(body: SeriesQuery, request: Request, p: Principal = Depends(principal)):
    """``GET /series`` with its query in a JSON body: hundreds of runs' uuids do not fit in a URL
    (a compare of 500 runs); reads only, the same answer."""
    return get_series(request, body.run, body.key, body.x, body.start, body.end, body.points, body.full,
                      body.after, body.band, p, superseded=body.superseded, writer=body.writer,
                      writers=body.writers)


@router.get("/runs/{uuid}/export")
async def get_export(uuid: str, request: Request, format: str = Query("jsonl", pattern="^(jsonl|csv)$"),
                     key: Optional[str] = None, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    row = await run_in_threadpool(_run, store, p, uuid)

    def produce():
        with store.read() as conn:
            gen = (queries.export_csv(conn, row["uuid"], key) if format == "csv"
                   else queries.export_jsonl(conn, row["uuid"]))
            yield from gen

    # the run id is client text: an ASCII file name, and the exact one in RFC 5987 form
    name = f"{row['run_id']}.{format}"
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
    return DatabaseStream(produce(), media_type="text/csv" if format == "csv" else "application/x-ndjson",
                          headers={"Content-Disposition": disposition})
