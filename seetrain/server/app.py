"""The FastAPI app: ``create_app(settings)`` wires the database, blob store, auth and the API routes
(:mod:`.api_ingest`, :mod:`.api_read`) under ``/api/v1``, and serves the dashboard at ``/`` when
``static/index.html`` ships, all behind :class:`.http_guard.HttpGuard` (Host, cross-site writes,
security headers). ``seetrain ui`` (``Settings.ingest_routes=False``) mounts no ingest route. The
app keeps no state of its own beyond the database and the blob store, so any number of workers can
serve one team."""

from __future__ import annotations

import os
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from .deps import JSONResponse, Store, principal, readable_run, require  # noqa: F401 - the app's public names
from .http_guard import HttpGuard
from .ingest import IngestError
from .settings import Settings

API = "/api/v1"
STATIC = os.path.join(os.path.dirname(__file__), "static")


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    """The server app for ``settings`` (database migrated to the newest schema on startup)."""
    from . import api_history, api_ingest, api_query, api_read

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
    app.include_router(api_history.router, prefix=API)
    from . import api_analysis, views  # analysis of many runs and saved views (issue 25)

    app.include_router(api_analysis.router, prefix=API)
    app.include_router(views.router, prefix=API)
    from . import api_curation  # edit, archive, delete, restore, purge runs (issues 25/26)

    app.include_router(api_curation.router, prefix=API)
    app.include_router(api_query.router, prefix=API)
    from . import api_artifacts  # versioned artifacts, aliases, lineage (issue 26)

    app.include_router(api_artifacts.router, prefix=API)
    if settings.ingest_routes:
        app.include_router(api_artifacts.ingest_router, prefix=API)
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
