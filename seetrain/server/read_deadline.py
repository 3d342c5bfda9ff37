"""Read deadlines for uvicorn's HTTP/1.1 connections, which uvicorn does not have (its
``timeout_keep_alive`` covers only the pause between two requests and any byte cancels it; see
uvicorn issue #157, "--timeout-request-start"): without them a client that opens connections and
sends half a request holds each one, with its file descriptor, for ever.

- ``header_timeout``: a request's line and headers must arrive within this many seconds of the
  connection opening (or of the request's first byte, on a kept-alive connection).
- ``body_timeout``: while a request body arrives, the client may pause at most this long between
  two reads (as nginx's ``client_body_timeout``), so a large upload on a slow link still works.

On expiry a request that was not answered yet gets ``408`` and the connection is closed (one that
never sent a byte is closed without a word). The deadlines wrap uvicorn's ``h11`` or ``httptools``
protocol and read only what both keep per request: ``cycle.more_body`` (the body is still arriving),
``cycle.response_started``/``response_complete`` and ``flow.read_paused`` (the server, not the
client, is holding the data back).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Optional

import orjson

from .settings import Settings

IDLE, HEADERS, BODY, APP = "idle", "headers", "body", "app"


def _timeout_response(what: str, seconds: float) -> bytes:
    body = orjson.dumps({"detail": f"the request's {what} did not arrive within {seconds:g} s; connection closed"})
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(body)) + body


class ReadDeadlineMixin:
    """Mixed in before a uvicorn HTTP/1.1 protocol class (see :func:`protocol_class`)."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0

    # what the wrapped uvicorn protocol provides
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    flow: Any

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._rd_cycle: Any = None
        self._rd_timer: Optional[asyncio.TimerHandle] = None
        self._rd_phase = IDLE
        self._rd_heard = False  # any byte yet on this connection
        super().connection_made(transport)  # type: ignore[misc]
        self._rd_enter(HEADERS)  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._rd_cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._rd_phase == IDLE:
            self._rd_enter(HEADERS)
        self._rd_heard = True
        super().data_received(data)  # type: ignore[misc]
        self._rd_follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._rd_follow()  # a pipelined request may have been parsed just now
        if self._rd_phase == APP:
            self._rd_enter(IDLE)  # uvicorn's keep-alive timeout takes over

    def _rd_follow(self) -> None:
        """Move on when the parser has finished a request's headers or its body."""
        cycle = getattr(self, "cycle", None)
        if cycle is None:
            return
        if cycle is not self._rd_cycle:  # a new request's headers are complete
            self._rd_cycle = cycle
            self._rd_phase = BODY
        if self._rd_phase == BODY:
            if cycle.more_body:
                self._rd_enter(BODY)  # progress: the pause allowance starts again
            else:
                self._rd_enter(IDLE if cycle.response_complete else APP)

    def _rd_enter(self, phase: str) -> None:
        self._rd_cancel()
        self._rd_phase = phase
        wait = {HEADERS: self.header_timeout, BODY: self.body_timeout}.get(phase)
        if wait:
            self._rd_timer = self.loop.call_later(wait, self._rd_expired)

    def _rd_cancel(self) -> None:
        if getattr(self, "_rd_timer", None) is not None:
            self._rd_timer.cancel()  # type: ignore[union-attr]
            self._rd_timer = None

    def _rd_expired(self) -> None:
        self._rd_timer = None
        if self.transport.is_closing():
            return
        if self._rd_phase == BODY and getattr(self.flow, "read_paused", False):
            self._rd_enter(BODY)  # the app is not reading yet: the client is not the one waiting
            return
        cycle = self._rd_cycle if self._rd_phase == BODY else None
        if self._rd_heard and (cycle is None or not cycle.response_started):
            what, wait = ("headers", self.header_timeout) if self._rd_phase == HEADERS else ("body", self.body_timeout)
            self.transport.write(_timeout_response(what, wait))
        self.transport.close()


def protocol_class(settings: Optional[Settings] = None) -> type:
    """uvicorn's HTTP/1.1 protocol named by ``settings.http_protocol`` (``auto``: httptools when
    installed, else h11) with the read deadlines of ``settings`` (default: from the environment)."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    settings = settings or Settings.from_env()
    name = settings.http_protocol
    if name not in ("auto", "h11", "httptools"):
        raise ValueError(f"unknown HTTP protocol {name!r}: use auto, h11 or httptools")
    base = import_from_string(HTTP_PROTOCOLS[name])
    attrs = {"header_timeout": settings.header_timeout_s, "body_timeout": settings.body_timeout_s}
    return type(f"ReadDeadline{base.__name__}", (ReadDeadlineMixin, base), attrs)


# For ``seetrain server --workers N``: uvicorn imports this in each worker by name
# ("seetrain.server.read_deadline:WorkerProtocol"); the settings come from the environment.
WorkerProtocol = protocol_class()
