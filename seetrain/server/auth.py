"""API keys: one all-rights key (``--api-key`` / ``SEETRAIN_SERVER_API_KEY``) and project-scoped
read or write keys kept in the database as sha256 hashes (keys are 256-bit random tokens, so a fast
hash is enough; the key itself is shown once, at creation, and never stored or logged).

Whether a request without a key may pass is decided per request from the server's current state
(:meth:`Authenticator.is_open`): only a server bound to loopback, started without ``--api-key``,
whose database has never held a key serves anonymous requests (the one-person default and
``seetrain ui``). Creating a key records that fact in ``server_state`` for good, so revoking the
last key leaves a closed server, never an open one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Dict, NamedTuple, Optional, Tuple

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from .db.models import api_keys, server_state

PREFIX = "st_"
KEYS_EVER_CREATED = "keys_ever_created"  # server_state row: this database has held an API key


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
    while key[len(PREFIX)] == "-":  # an id starting with "-" reads as an option (`seetrain server keys revoke`)
        key = PREFIX + secrets.token_urlsafe(32)
    kid = key[len(PREFIX):len(PREFIX) + 8]
    with engine.begin() as conn:
        conn.execute(insert(api_keys).values(id=kid, hash=hash_key(key), project=project, can_write=write,
                                             note=note[:256], created=time.time()))
        _mark_keys_ever_created(conn)
    return key, kid


def _mark_keys_ever_created(conn: Connection) -> None:
    """Record, once and for good, that this database has held a key (same transaction as the key)."""
    row = dict(name=KEYS_EVER_CREATED, value="1", updated=time.time())
    if conn.dialect.name in ("sqlite", "postgresql"):
        dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        conn.execute(dialect_insert(server_state).values(**row).on_conflict_do_nothing(index_elements=["name"]))
    elif conn.execute(select(server_state.c.name).where(server_state.c.name == KEYS_EVER_CREATED)).first() is None:
        conn.execute(insert(server_state).values(**row))


def keys_ever_created(conn: Connection) -> bool:
    """True once this database has held an API key (revoking every key does not clear it)."""
    marked = conn.execute(select(server_state.c.name).where(server_state.c.name == KEYS_EVER_CREATED)).first()
    return marked is not None or conn.execute(select(api_keys.c.id).limit(1)).first() is not None


def count_keys(engine: Engine) -> int:
    """How many keys the database holds now."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())


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

    def __init__(self, engine: Engine, api_key: Optional[str], ttl: float = 5.0, loopback: bool = True) -> None:
        self.engine, self.api_key, self.ttl, self.loopback = engine, api_key, ttl, loopback
        self._lock = threading.Lock()
        self._cache: Dict[str, Tuple[float, Optional[Principal]]] = {}
        self._open: Tuple[float, bool] = (-float("inf"), True)
        self._closed_for_good = bool(api_key) or not loopback

    def is_open(self) -> bool:
        """True while a request without a key may pass: bound to loopback, no ``--api-key``, and no
        key ever created in the database. Once False it stays False (the fact only ever gets set);
        a key just created closes the server within ``ttl`` seconds."""
        if self._closed_for_good:
            return False
        now = time.monotonic()
        t, val = self._open
        if now - t < self.ttl:
            return val
        with self.engine.connect() as conn:
            val = not keys_ever_created(conn)
        if not val:
            self._closed_for_good = True
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
