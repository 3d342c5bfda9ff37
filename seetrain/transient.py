"""Which errors are worth retrying: the transient ones (the network, a busy or restarting server).

A programming error (``ValueError``, ``KeyError``, ``TypeError``), a 4xx answer other than
408/425/429, a missing file or a denied permission will fail the same way again: retrying only
delays the message. Recognised without importing any HTTP library: built-in exception types,
``errno`` values, and the status code that requests, httpx, urllib and botocore errors carry.
"""

from __future__ import annotations

import errno
from typing import Any, Optional

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

# OSError errnos of a network or a resource that may come back (not ENOENT, EACCES, ENOSPC ...)
TRANSIENT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "EAGAIN", "EWOULDBLOCK", "EINTR", "EBUSY", "ETIMEDOUT", "ECONNRESET", "ECONNREFUSED", "ECONNABORTED",
    "EPIPE", "ENETDOWN", "ENETUNREACH", "ENETRESET", "EHOSTDOWN", "EHOSTUNREACH", "ENOBUFS", "EPROTO",
) if hasattr(errno, name))

# class names (anywhere in the MRO) of transport errors in common HTTP clients: requests/urllib3,
# httpx/httpcore, aiohttp, botocore
TRANSIENT_NAMES = frozenset({
    "ConnectionError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "Timeout",
    "TimeoutException", "ConnectError", "NetworkError", "RemoteProtocolError",
    "ProtocolError", "NewConnectionError", "MaxRetryError", "ChunkedEncodingError", "IncompleteRead",
    "ServerDisconnectedError", "ClientConnectionError", "ClientOSError", "ServerTimeoutError",
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
})


def http_status(exc: BaseException) -> Optional[int]:
    """The HTTP status an exception carries (``.status_code``, ``.status``, ``.code``, ``.response``)."""
    for obj in (exc, getattr(exc, "response", None)):
        if obj is None:
            continue
        if isinstance(obj, dict):  # botocore: response["ResponseMetadata"]["HTTPStatusCode"]
            meta: Any = obj.get("ResponseMetadata") or {}
            code = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
        else:
            code = next((getattr(obj, a) for a in ("status_code", "status", "code")
                         if isinstance(getattr(obj, a, None), int)), None)
        if isinstance(code, int) and 100 <= code <= 599:
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure: connection errors and timeouts (built-in or of an HTTP
    client), network ``OSError`` s, and HTTP 408/425/429/5xx answers."""
    if not isinstance(exc, Exception):
        return False  # KeyboardInterrupt, SystemExit: never retried
    status = http_status(exc)
    if status is not None:
        return status in RETRY_STATUS
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
        return True
    if any(cls.__name__ in TRANSIENT_NAMES for cls in type(exc).__mro__[:-2]):
        return True
    reason = getattr(exc, "reason", None)  # urllib.error.URLError wraps the socket error
    return isinstance(reason, BaseException) and reason is not exc and is_transient(reason)
