"""HTTP transport to a SeeTrain server: a keep-alive ``http.client`` connection with tenacity
retries (exponential backoff with jitter; ``Retry-After`` honoured) on the statuses of
:data:`seetrain.transient.RETRY_STATUS`. Standard library only, so online mode needs no extra."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from typing import Any, Dict, Optional

import orjson

from .thread_imports import load  # the sender's thread imports through it: a fork waits for them
from .transient import RETRY_STATUS  # the one set of retryable statuses: 408, 425, 429, 5xx


class ServerError(Exception):
    """An HTTP answer the sender cannot treat as success."""

    def __init__(self, status: int, detail: str, retry_after: Optional[float] = None) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status in RETRY_STATUS


class Transient(ServerError):
    """The server is unreachable or busy: retry later."""


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsedate_to_datetime = load("email.utils").parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Client:
    """A keep-alive HTTP(S) connection to one server, with tenacity retries (Retry-After honoured)."""

    def __init__(self, host: str, api_key: Optional[str] = None, timeout: float = 30.0, attempts: int = 4,
                 max_wait: float = 60.0) -> None:
        if not host:
            raise ValueError("no server given: pass host='http://HOST:PORT' (or set SEETRAIN_HOST)")
        if "://" not in host:
            host = "http://" + host
        u = urllib.parse.urlsplit(host)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"host {host!r}: give the server address as http://HOST:PORT")
        self.base, self.scheme, self.netloc, self.prefix = host.rstrip("/"), u.scheme, u.netloc, u.path.rstrip("/")
        self.api_key, self.timeout, self.attempts, self.max_wait = api_key, timeout, attempts, max_wait
        self._conn: Optional[http.client.HTTPConnection] = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _once(self, method: str, path: str, body: Optional[bytes], headers: Dict[str, str], raw: bool = False) -> Any:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.netloc, timeout=self.timeout)
        h = {"Content-Type": "application/json", **headers}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        try:
            self._conn.request(method, self.prefix + path, body=body, headers=h)
            resp = self._conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Transient(0, f"{type(exc).__name__}: {exc}") from None
        if resp.getheader("connection", "").lower() == "close":
            self.close()
        if 200 <= resp.status < 300:
            if raw:
                return data
            return orjson.loads(data) if data else None
        try:
            detail = orjson.loads(data).get("detail", "")
        except (orjson.JSONDecodeError, AttributeError):
            detail = data[:200].decode("utf-8", "replace")
        cls_ = Transient if resp.status in RETRY_STATUS else ServerError
        raise cls_(resp.status, str(detail), _retry_after(resp.getheader("retry-after")))

    def call(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
             raw: bool = False) -> Any:
        """One request with retries on transient failures; raises the last error. The answer's
        JSON decoded, or its bytes with ``raw=True``."""
        tenacity = load("tenacity")

        exp = tenacity.wait_random_exponential(multiplier=0.25, max=8.0)

        def wait(state: "tenacity.RetryCallState") -> float:
            exc = state.outcome.exception() if state.outcome else None
            ra = getattr(exc, "retry_after", None)
            return min(ra, self.max_wait) if ra is not None else exp(state)

        for attempt in tenacity.Retrying(stop=tenacity.stop_after_attempt(self.attempts), wait=wait, reraise=True,
                                         retry=tenacity.retry_if_exception_type(Transient)):
            with attempt:
                return self._once(method, path, body, headers or {}, raw)
        raise AssertionError("unreachable")  # pragma: no cover
