"""What every route shares, below the routers and the app: the orjson response, the streamed answer
read from the database (:class:`DatabaseStream`), the :class:`Store` (settings, engine, blob store,
authenticator), and the auth dependencies (``principal``, ``require``,
``readable_run``). Routers import this module, never :mod:`.app`, so the app can import them."""

from __future__ import annotations

import contextlib
from typing import Any, Generator, Iterator, Mapping, Optional

import anyio
import orjson
from fastapi import HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.engine import Connection

from .auth import ADMIN, Authenticator, Principal
from .blobs import open_store
from .db import make_engine, upgrade
from .settings import Settings, is_loopback
from .write_queue import turn as write_turn


class JSONResponse(Response):
    """orjson: fast, numpy arrays as lists, NaN/Infinity as null (strict JSON)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class DatabaseStream(StreamingResponse):
    """A streamed answer made by a generator that reads the database inside ``with store.read()``:
    the generator is closed, and its connection given back to the pool, as soon as the answer ends,
    sent whole, failed or abandoned by a client that hung up. (Left to the garbage collector, an
    abandoned generator kept its connection checked out meanwhile, so reads waited the pool's 30 s,
    and the collector then gave the connection back twice: two requests shared one connection.)"""

    def __init__(self, content: Generator[bytes, None, None], **kw: Any) -> None:
        self._source = content
        super().__init__(content, **kw)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # never while a step of it runs: a cancelled worker-thread call returns only when it is done
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._source.close)


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
        """A write transaction (IMMEDIATE on SQLite, so concurrent writers queue, never deadlock),
        begun in arrival order among this process's writers (:mod:`.write_queue`)."""
        with write_turn(self.engine), self.engine.connect().execution_options(sqlite_immediate=True) as conn:
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
