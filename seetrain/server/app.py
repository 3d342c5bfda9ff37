"""The FastAPI app: ``create_app(settings)`` wires the database, blob store, auth and the API routes
(:mod:`.api_ingest`, :mod:`.api_read`) under ``/api/v1``, and serves the dashboard at ``/`` when
``static/index.html`` ships, all behind :class:`.http_guard.HttpGuard` (Host, cross-site writes,
security headers). ``seetrain ui`` (``Settings.ingest_routes=False``) mounts no ingest route. The
app keeps no state of its own beyond the database and the blob store, so any number of workers can
serve one team."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping, Optional

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection
from starlette.requests import ClientDisconnect

from .auth import ADMIN, Authenticator, Principal
from .blobs import open_store
from .db import make_engine, upgrade
from .http_guard import HttpGuard
from .ingest import IngestError
from .settings import Settings, is_loopback

API = "/api/v1"
STATIC = os.path.join(os.path.dirname(__file__), "static")


class JSONResponse(Response):
    """orjson: fast, numpy arrays as lists, NaN/Infinity as null (strict JSON)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class Store:
    """What a request needs: settings, the engine, the blob store and the authenticator."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.db)
        if settings.run_migrations:
            upgrade(self.engine)
        self.blobs = open_store(settings.blobs)
        self.auth = Authenticator(self.engine, settings.api_key, settings.key_cache_s,
                                  loopback=is_loopback(settings.host))

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (IMMEDIATE on SQLite, so concurrent writers queue, never deadlock)."""
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn:
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn


def principal(request: Request) -> Principal:
    """The caller's rights from ``Authorization: Bearer KEY`` or ``X-API-Key``; 401 without a valid key."""
    store: Store = request.app.state.store
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-api-key")
    if store.auth.is_open():  # loopback, no key ever: an open server ignores any key sent
        return ADMIN
    p = store.auth.resolve(key)
    if p is None:
        raise HTTPException(401, "a valid API key is required: send 'Authorization: Bearer KEY' "
                                 "(create one with `seetrain server keys create --project P`)",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


def require(p: Principal, project: str, write: bool) -> None:
    ok = p.can_write(project) if write else p.can_read(project)
    if not ok:
        raise HTTPException(403, f"this API key may not {'write to' if write else 'read'} project {project!r}")


def readable_run(p: Principal, row: Optional[Mapping[str, Any]], uuid: str) -> Mapping[str, Any]:
    """The run ``row``, or the 404 of a run that does not exist when ``p`` may not read its project
    (a key of project A cannot tell a run of project B from no run at all)."""
    if row is None or not p.can_read(row["project"]):
        raise HTTPException(404, f"no run with uuid {uuid}")
    return row


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    """The server app for ``settings`` (database migrated to the newest schema on startup)."""
    from . import api_ingest, api_read

    settings = settings or Settings()
    app = FastAPI(title="SeeTrain server", version="1", openapi_url=f"{API}/openapi.json", docs_url=f"{API}/docs",
                  redoc_url=None, default_response_class=JSONResponse)
    app.state.store = Store(settings)
    app.add_middleware(HttpGuard, allowed_hosts=settings.allowed_hosts, bound_host=settings.host,
                       api_prefix=API + "/")

    @app.exception_handler(IngestError)
    async def _ingest_error(_request: Request, exc: IngestError) -> Response:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> Response:
        # the client left (or its body stalled past body_timeout_s): nobody reads this answer
        return JSONResponse({"detail": "the client disconnected before its request body arrived"}, status_code=400)

    @app.get(f"{API}/health")
    def health():
        return {"ok": True, "api": 1}

    if settings.ingest_routes:
        app.include_router(api_ingest.router, prefix=API)
    app.include_router(api_read.router, prefix=API)
    try:  # the dashboard's own routes (issue 12), when shipped
        from . import ui_api
    except ImportError:
        ui_api = None  # type: ignore[assignment]
    if ui_api is not None:
        app.include_router(ui_api.router, prefix=API)
    if os.path.isfile(os.path.join(STATIC, "index.html")):
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=STATIC, html=True), name="dashboard")
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory for ``seetrain server --workers N`` (settings come by environment)."""
    return create_app(Settings.from_env())
