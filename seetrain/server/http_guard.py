"""One ASGI middleware that every server (``seetrain server``, ``seetrain ui``) runs in front of its
routes, against attacks that come through a user's browser:

- **DNS rebinding**: the ``Host`` header must name this server: the loopback names (``localhost``,
  ``127.0.0.1``, ``[::1]``, any port), the address it binds when that is a specific one, and the
  names given with ``--allowed-hosts`` (``*``: any). Anything else gets a JSON 400.
- **Cross-site writes**: a browser sends a "simple" cross-site ``POST`` (``text/plain``, form
  types) without asking first. A state-changing request (POST, PUT, PATCH, DELETE) must say
  ``Content-Type: application/json`` (a ``PUT`` may also send ``application/octet-stream``, the
  media upload; ``PUT`` is never sent cross-site without a preflight this server does not answer),
  else 415; and one whose ``Origin`` is not this server's own origin gets 403.
- **Response headers**: ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` on every
  answer; the dashboard's files get a Content-Security-Policy that lets the page run only its own
  scripts and never be framed; API answers get ``default-src 'none'`` and, being per caller,
  ``Cache-Control: private`` with ``Vary: Authorization, X-API-Key`` (a route may set its own).
"""

from __future__ import annotations

from typing import Iterable, Optional
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import WILDCARD_HOSTS

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
OCTETS = "application/octet-stream"

# The dashboard: its own scripts and styles only (style attributes allowed: the page sets some), its
# own API, media shown from the API or from blob: URLs of fetched media; never framed.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
            "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; font-src 'self'; "
            "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
API_CACHE = "private, no-cache"
VARY = "Authorization, X-API-Key"


def host_name(host: str) -> str:
    """The name part of a ``Host`` header: ``"[::1]:80"`` -> ``"::1"``, ``"A.example.:8"`` -> ``"a.example"``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class HttpGuard:
    """The middleware; ``allowed_hosts`` adds names to the loopback ones (``bound_host`` too, when
    it is a specific address rather than a wildcard)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = (), bound_host: str = "",
                 api_prefix: str = "/api/") -> None:
        self.app, self.api_prefix = app, api_prefix
        names = set(LOOPBACK_NAMES) | {host_name(h) for h in allowed_hosts}
        if bound_host not in WILDCARD_HOSTS:
            names.add(host_name(bound_host))
        self.any_host = "*" in names
        self.names = frozenset(names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope["method"], headers)
        is_api = scope["path"].startswith(self.api_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _secure(MutableHeaders(scope=message), is_api)
            await send(message)

        if refusal is not None:
            status, detail = refusal
            body = orjson.dumps({"detail": detail})
            await send_with_headers({"type": "http.response.start", "status": status,
                                     "headers": [(b"content-type", JSON.encode()),
                                                 (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, method: str, headers: Headers) -> Optional[tuple]:
        """``(status, reason)`` when the request must not reach the routes, else None."""
        host = headers.get("host", "")
        if not self.any_host and host_name(host) not in self.names:
            return 400, (f"Host {host[:100]!r} is not a name this server answers to (DNS rebinding guard); "
                         "add it with --allowed-hosts NAME when starting the server")
        if method not in STATE_CHANGING:
            return None
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != JSON and not (method == "PUT" and ctype == OCTETS):
            return 415, (f"{method} needs Content-Type: {JSON}" + (f" (or {OCTETS} for a media upload)"
                                                                    if method == "PUT" else "")
                         + f", not {ctype[:100]!r}")
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host):
            return 403, f"a write from another site ({origin[:100]!r}) is refused; only this server's own pages may write"
        return None


def _same_origin(origin: str, host: str) -> bool:
    """True when ``Origin`` is this server as the client reached it (``Host``), port included."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed or file page) and anything odd
    default = ":443" if parts.scheme == "https" else ":80"
    return parts.netloc.lower().removesuffix(default) == host.strip().lower().removesuffix(default)


def _secure(h: MutableHeaders, is_api: bool) -> None:
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    if not is_api:
        h.setdefault("Content-Security-Policy", PAGE_CSP)
        h.setdefault("Referrer-Policy", "same-origin")
        return
    if "content-security-policy" not in h and not h.get("content-type", "").startswith("text/html"):
        h["Content-Security-Policy"] = API_CSP  # the API's own HTML (/api/v1/docs) keeps its scripts
    h.setdefault("Cache-Control", API_CACHE)
    vary = h.get("vary")
    if vary is None:
        h["Vary"] = VARY
    elif "authorization" not in vary.lower():
        h["Vary"] = f"{vary}, {VARY}"
