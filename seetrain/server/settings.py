"""Server settings: where the database and the blobs live, auth, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional


def default_home() -> str:
    return os.environ.get("SEETRAIN_SERVER_HOME") or os.path.join(os.path.expanduser("~"), ".seetrain", "server")


def normalize_db_url(url: str) -> str:
    """A plain path or ``sqlite:///...`` for SQLite; ``postgresql://`` uses psycopg 3."""
    if "://" not in url:
        return "sqlite:///" + os.path.abspath(url)
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@dataclass
class Settings:
    db: str = ""                    # SQLAlchemy URL or a SQLite file path
    blobs: str = ""                 # a folder, or s3://bucket/prefix
    api_key: Optional[str] = None   # one all-rights key for a one-person server
    max_body_bytes: int = 32 * 1024 * 1024
    max_media_bytes: int = 512 * 1024 * 1024
    max_batch_records: int = 20_000
    max_key_length: int = 256
    max_string_length: int = 1_000_000
    key_cache_s: float = 5.0        # how long a worker trusts a looked-up API key (revocation delay)
    heartbeat_stale_s: float = 30.0
    run_migrations: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        home = default_home()
        self.db = normalize_db_url(self.db or os.path.join(home, "seetrain.db"))
        self.blobs = self.blobs or os.path.join(home, "blobs")
        if self.api_key is None:
            self.api_key = os.environ.get("SEETRAIN_SERVER_API_KEY") or None

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings for a uvicorn worker (``seetrain server --workers N`` passes them by environment)."""
        return cls(db=os.environ.get("SEETRAIN_SERVER_DB", ""), blobs=os.environ.get("SEETRAIN_SERVER_BLOBS", ""),
                   api_key=os.environ.get("SEETRAIN_SERVER_API_KEY") or None)
