"""Server settings: where the database and the blobs live, auth, the names it serves, limits, timeouts."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def default_home() -> str:
    return os.environ.get("SEETRAIN_SERVER_HOME") or os.path.join(os.path.expanduser("~"), ".seetrain", "server")


def normalize_db_url(url: str) -> str:
    """A plain path or ``sqlite:///...`` for SQLite; ``postgresql://`` uses psycopg 3."""
    if "://" not in url:
        return "sqlite:///" + os.path.abspath(url)
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_hosts(value: str) -> Tuple[str, ...]:
    """``"a.example, b.example"`` -> ``("a.example", "b.example")`` (for ``--allowed-hosts``)."""
    return tuple(h.strip() for h in value.split(",") if h.strip())


@dataclass
class Settings:
    db: str = ""                    # SQLAlchemy URL or a SQLite file path
    blobs: str = ""                 # a folder, or s3://bucket/prefix
    api_key: Optional[str] = None   # one all-rights key for a one-person server
    host: str = "127.0.0.1"         # the address the server binds: beyond loopback it never serves anonymous requests
    allowed_hosts: Tuple[str, ...] = ()  # Host header names served besides the loopback names ("*": any)
    ingest_routes: bool = True      # False for `seetrain ui` (a viewer: its watcher ingests in-process)
    max_body_bytes: int = 32 * 1024 * 1024
    max_media_bytes: int = 512 * 1024 * 1024
    max_batch_records: int = 20_000
    max_key_length: int = 256
    max_string_length: int = 1_000_000
    key_cache_s: float = field(default_factory=lambda: float(os.environ.get("SEETRAIN_SERVER_KEY_CACHE_S", 5.0)))
    # ^ how long a worker trusts a looked-up API key (the revocation delay)
    heartbeat_stale_s: float = 30.0
    timeout_keep_alive_s: float = 5.0   # an idle keep-alive connection is closed after this
    header_timeout_s: float = 10.0      # a request's line and headers must arrive within this
    body_timeout_s: float = 30.0        # the longest pause allowed while a request body arrives
    limit_concurrency: int = 1000       # connections + running requests; past it requests get 503
    http_protocol: str = "auto"         # uvicorn's HTTP/1.1 parser: auto (httptools when installed), h11, httptools
    run_migrations: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        home = default_home()
        self.db = normalize_db_url(self.db or os.path.join(home, "seetrain.db"))
        self.blobs = self.blobs or os.path.join(home, "blobs")
        if self.api_key is None:
            self.api_key = os.environ.get("SEETRAIN_SERVER_API_KEY") or None
        self.allowed_hosts = tuple(self.allowed_hosts)

    def to_env(self) -> Dict[str, str]:
        """The environment that makes :meth:`from_env` rebuild these settings in a uvicorn worker."""
        env = {"SEETRAIN_SERVER_DB": self.db, "SEETRAIN_SERVER_BLOBS": self.blobs,
               "SEETRAIN_SERVER_HOST": self.host, "SEETRAIN_SERVER_ALLOWED_HOSTS": ",".join(self.allowed_hosts),
               "SEETRAIN_SERVER_KEY_CACHE_S": repr(self.key_cache_s),
               "SEETRAIN_SERVER_HEADER_TIMEOUT_S": repr(self.header_timeout_s),
               "SEETRAIN_SERVER_BODY_TIMEOUT_S": repr(self.body_timeout_s), "SEETRAIN_SERVER_HTTP": self.http_protocol}
        if self.api_key:
            env["SEETRAIN_SERVER_API_KEY"] = self.api_key
        return env

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings for a uvicorn worker (``seetrain server --workers N`` passes them by environment)."""
        e = os.environ
        return cls(db=e.get("SEETRAIN_SERVER_DB", ""), blobs=e.get("SEETRAIN_SERVER_BLOBS", ""),
                   api_key=e.get("SEETRAIN_SERVER_API_KEY") or None, host=e.get("SEETRAIN_SERVER_HOST", "127.0.0.1"),
                   allowed_hosts=split_hosts(e.get("SEETRAIN_SERVER_ALLOWED_HOSTS", "")),
                   header_timeout_s=float(e.get("SEETRAIN_SERVER_HEADER_TIMEOUT_S", 10.0)),
                   body_timeout_s=float(e.get("SEETRAIN_SERVER_BODY_TIMEOUT_S", 30.0)),
                   http_protocol=e.get("SEETRAIN_SERVER_HTTP", "auto"))
