"""Recording one patched call: :class:`CallRecorder` and the wrappers that record a stream.

A streamed response keeps the very object the client returned; its item iterator is swapped on
the instance for one that feeds each chunk to the recorder, and ``close()`` / garbage collection
end the record.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Dict, Optional, Protocol, Tuple

from . import _patch
from ._formats import Call, Endpoint


class CallLog(Protocol):
    """What a recorder needs from the autolog that patched the call (:class:`._base.AutologBase`)."""

    provider: str
    log_messages: bool

    def stream_kind(self, result: Any) -> Optional[Tuple[str, bool]]: ...

    def is_response(self, result: Any, endpoint: Endpoint) -> bool: ...

    def emit(self, rec: "CallRecorder", latency: float) -> None: ...


def client_secrets(resource: Any) -> Tuple[str, ...]:
    """The API key / auth token of the client behind a resource object (to scrub them from texts)."""
    client = getattr(resource, "_client", None)
    out = []
    for attr in ("api_key", "auth_token"):
        v = getattr(client, attr, None)
        if isinstance(v, str) and len(v) >= 4:
            out.append(v)
    return tuple(out)


# --- one call in flight -----------------------------------------------------------------------
class CallRecorder:
    """The state of one patched call: ``done(result)`` / ``fail(exc)`` / stream items."""

    __slots__ = ("log", "endpoint", "t0", "call", "kwargs", "prompt", "secrets", "stream", "ended",
                 "error", "ttft", "closed_early", "__weakref__")

    def __init__(self, log: CallLog, endpoint: Endpoint, resource: Any, kwargs: Dict[str, Any]) -> None:
        self.log = log
        self.endpoint = endpoint
        self.kwargs = kwargs
        self.call = Call(kwargs.get("model"))
        self.prompt = endpoint.prompt(kwargs) if log.log_messages else None
        self.secrets = client_secrets(resource)
        self.stream = bool(kwargs.get("stream") is True)
        self.ended = False
        self.error: Optional[BaseException] = None
        self.ttft: Optional[float] = None
        self.closed_early = False
        self.t0 = time.perf_counter()

    # non-streamed results, or the stream object
    def done(self, result: Any) -> Any:
        kind = self.log.stream_kind(result)
        if kind is not None:
            self.stream = True
            return instrument_stream(result, self, kind)
        if self.log.is_response(result, self.endpoint):
            self.endpoint.response(self.call, result)
        else:  # with_raw_response / with_streaming_response: the body is the caller's to read
            self.call.info["raw_response"] = True
        self.end()
        return result

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self.end()

    def item(self, item: Any) -> None:
        if self.endpoint.chunk(self.call, item) and self.ttft is None:
            self.ttft = time.perf_counter() - self.t0

    def end(self, closed_early: bool = False) -> None:
        if self.ended:
            return
        self.ended = True
        self.closed_early = closed_early
        self.log.emit(self, time.perf_counter() - self.t0)


def _guarded_item(rec: CallRecorder, item: Any) -> None:
    try:
        rec.item(item)
    except Exception as exc:
        _patch.report_failure(rec.log.provider, "read a stream chunk", exc)


def _guarded_end(rec: CallRecorder, closed_early: bool = False, exc: Optional[BaseException] = None) -> None:
    try:
        if exc is not None:
            rec.error = exc
        rec.end(closed_early)
    except Exception as err:
        _patch.report_failure(rec.log.provider, "record a stream", err)


def _recording_iter(inner: Any, rec: CallRecorder):
    try:
        for item in inner:
            _guarded_item(rec, item)
            yield item
    except GeneratorExit:
        _guarded_end(rec, closed_early=True)
        close = getattr(inner, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        _guarded_end(rec, exc=exc)
        raise
    _guarded_end(rec)


async def _arecording_iter(inner: Any, rec: CallRecorder):
    try:
        async for item in inner:
            _guarded_item(rec, item)
            yield item
    except GeneratorExit:
        _guarded_end(rec, closed_early=True)
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        _guarded_end(rec, exc=exc)
        raise
    _guarded_end(rec)


def _end_on_gc(rec: CallRecorder) -> None:
    if not rec.ended:
        _guarded_end(rec, closed_early=True)


def instrument_stream(stream: Any, rec: CallRecorder, kind: Tuple[str, bool]) -> Any:
    """Record ``stream`` as it is read, keeping the very object the client returned.

    The stream's item iterator (``kind = (attribute, is_async)``) is replaced on the instance by
    one that reads each item on its way to the caller; ``close()`` (and so ``with``) ends the
    record first. Nothing on the stream's class changes.
    """
    attr, is_async = kind
    inner = getattr(stream, attr)
    setattr(stream, attr, (_arecording_iter if is_async else _recording_iter)(inner, rec))
    original_close = getattr(type(stream), "close", None)
    if original_close is not None:
        stream_ref = weakref.ref(stream)
        if is_async:
            async def close() -> None:
                _guarded_end(rec, closed_early=True)
                s = stream_ref()
                if s is not None:
                    await original_close(s)
        else:
            def close() -> None:  # type: ignore[misc]
                _guarded_end(rec, closed_early=True)
                s = stream_ref()
                if s is not None:
                    original_close(s)
        stream.close = close
    weakref.finalize(stream, _end_on_gc, rec).atexit = False  # a stream dropped unread still gets its record
    return stream
