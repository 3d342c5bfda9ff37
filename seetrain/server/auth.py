"""API keys: one all-rights key (``--api-key`` / ``SEETRAIN_SERVER_API_KEY``) and project-scoped
read or write keys kept in the database as sha256 hashes (keys are 256-bit random tokens, so a fast
hash is enough; the key itself is shown once, at creation, and never stored or logged).

A server with neither kind of key is open (the loopback default of a one-person server and of
``seetrain ui``); as soon as one exists, every request needs a key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Dict, NamedTuple, Optional, Tuple

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from .db.models import api_keys

PREFIX = "st_"


class Principal(NamedTuple):
    project: str        # "*" for every project
    write: bool

    def can_read(self, project: str) -> bool:
        return self.project in ("*", project)

    def can_write(self, project: str) -> bool:
        return self.write and self.can_read(project)


ADMIN = Principal("*", True)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(engine: Engine, project: str, write: bool, note: str = "") -> Tuple[str, str]:
    """A new key for ``project`` (``"*"`` for all): returns ``(key, id)``; only the hash is stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    kid = key[len(PREFIX):len(PREFIX) + 8]
    with engine.begin() as conn:
        conn.execute(insert(api_keys).values(id=kid, hash=hash_key(key), project=project, can_write=write,
                                             note=note[:256], created=time.time()))
    return key, kid


def list_keys(engine: Engine):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(api_keys.c.id, api_keys.c.project, api_keys.c.can_write,
                                                     api_keys.c.note, api_keys.c.created)).mappings()]


def revoke_key(engine: Engine, kid: str) -> bool:
    with engine.begin() as conn:
        return conn.execute(api_keys.delete().where(api_keys.c.id == kid)).rowcount > 0


class Authenticator:
    """Resolves a presented key to a :class:`Principal` (None: not valid). Lookups are cached per
    worker for ``ttl`` seconds; the database stays the only state shared between workers."""

    def __init__(self, engine: Engine, api_key: Optional[str], ttl: float = 5.0) -> None:
        self.engine, self.api_key, self.ttl = engine, api_key, ttl
        self._lock = threading.Lock()
        self._cache: Dict[str, Tuple[float, Optional[Principal]]] = {}
        self._open: Tuple[float, bool] = (0.0, False)

    def is_open(self) -> bool:
        """True when no key of any kind exists (then every request is allowed)."""
        if self.api_key:
            return False
        now = time.monotonic()
        t, val = self._open
        if now - t < self.ttl:
            return val
        with self.engine.connect() as conn:
            val = conn.execute(select(func.count()).select_from(api_keys)).scalar_one() == 0
        self._open = (now, val)
        return val

    def resolve(self, key: Optional[str]) -> Optional[Principal]:
        if not key:
            return None
        if self.api_key and hmac.compare_digest(key.encode("utf-8", "surrogatepass"),
                                                self.api_key.encode("utf-8", "surrogatepass")):
            return ADMIN
        if len(key) > 200:
            return None
        h = hash_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.project, api_keys.c.can_write)
                               .where(api_keys.c.hash == h)).first()
        p = Principal(row[0], bool(row[1])) if row else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[h] = (now, p)
        return p
