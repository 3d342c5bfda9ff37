"""The storage interface every provider implements, and the errors and checksums they share."""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional

CHUNK = 1024 * 1024
SIDECAR_SUFFIX = ".sha256"

# called after each transferred piece: (bytes_done, bytes_total)
Progress = Callable[[int, int], None]


class StorageError(RuntimeError):
    """A storage operation failed (the message says which provider, key and why)."""


class StorageCredentialsError(StorageError):
    """Credentials for a provider are missing or rejected."""


class ChecksumMismatchError(StorageError):
    """A downloaded file's SHA-256 differs from the one recorded at upload (the bad file is removed)."""


@dataclass
class ObjectInfo:
    """What ``head()`` knows about a stored object."""

    key: str
    size: int
    etag: Optional[str] = None
    sha256: Optional[str] = None


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def missing_package(provider: str, package: str, exc: BaseException) -> ImportError:
    """The ImportError raised when a provider's SDK is not installed."""
    return ImportError(
        f"the cloud-storage provider {provider!r} needs the package '{package}', which is not installed "
        f"({exc}). Install it with: pip install {package}")


class StorageBackend:
    """A bucket (or repository, or folder) of objects addressed by ``/``-separated keys.

    Subclasses implement ``_put``, ``_get``, ``list``, ``delete``, ``exists`` and ``head``. A backend
    that cannot store user metadata (``supports_metadata = False``) keeps each object's SHA-256 in a
    sidecar object ``<key>.sha256``, which ``list()`` hides.
    """

    provider = "base"
    supports_metadata = False

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.strip("/")

    # --- keys --------------------------------------------------------------------------------
    def full_key(self, key: str) -> str:
        key = key.lstrip("/")
        return posixpath.join(self.prefix, key) if self.prefix else key

    def relative_key(self, full: str) -> str:
        if self.prefix and full.startswith(self.prefix + "/"):
            return full[len(self.prefix) + 1:]
        return full

    # --- the interface -----------------------------------------------------------------------
    def put(self, local_path: str, key: str, sha256: Optional[str] = None,
            progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Upload ``local_path`` to ``key``; record its SHA-256. Returns transfer statistics."""
        sha256 = sha256 or file_sha256(local_path)
        stats = self._put(local_path, key, sha256, progress) or {}
        if not self.supports_metadata:
            self._put_bytes(key + SIDECAR_SUFFIX, sha256.encode())
        stats.setdefault("bytes", os.path.getsize(local_path))
        stats["sha256"] = sha256
        return stats

    def get(self, key: str, local_path: str, verify: bool = True,
            progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Download ``key`` to ``local_path``; with ``verify`` check the SHA-256 recorded at upload.

        The object is written to ``<local_path>.part`` and moved into place only when it checks out;
        a mismatch removes the file and raises :class:`ChecksumMismatchError`.
        """
        os.makedirs(os.path.dirname(os.path.abspath(local_path)) or ".", exist_ok=True)
        tmp = local_path + ".part"
        try:
            self._get(key, tmp, progress)
            actual = file_sha256(tmp)
            expected = self.expected_sha256(key) if verify else None
            if expected is not None and expected != actual:
                raise ChecksumMismatchError(
                    f"checksum mismatch for {self.provider}:{self.full_key(key)}: expected sha256 {expected}, "
                    f"downloaded file has {actual}; the corrupt download was removed, try again or re-upload")
            os.replace(tmp, local_path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return {"bytes": os.path.getsize(local_path), "sha256": actual,
                "verified": expected is not None}

    def expected_sha256(self, key: str) -> Optional[str]:
        """The SHA-256 recorded when ``key`` was uploaded, or None if none was."""
        if self.supports_metadata:
            info = self.head(key)
            return info.sha256 if info else None
        data = self._get_bytes(key + SIDECAR_SUFFIX)
        return data.decode().strip() if data else None

    def list(self, prefix: str = "") -> List[ObjectInfo]:
        """Objects under ``prefix`` (keys relative to the backend's prefix), sidecars excluded."""
        return [o for o in self._list(prefix) if not o.key.endswith(SIDECAR_SUFFIX)]

    def delete(self, key: str) -> None:
        self._delete(key)
        if not self.supports_metadata and self.exists(key + SIDECAR_SUFFIX):
            self._delete(key + SIDECAR_SUFFIX)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object (manifests)."""
        self._put_bytes(key, data)

    def get_bytes(self, key: str) -> Optional[bytes]:
        """A small object's content, or None if it does not exist."""
        return self._get_bytes(key)

    # --- for subclasses ----------------------------------------------------------------------
    def _put(self, local_path: str, key: str, sha256: str, progress: Optional[Progress]) -> Optional[Dict[str, Any]]:
        raise NotImplementedError

    def _get(self, key: str, local_path: str, progress: Optional[Progress]) -> None:
        raise NotImplementedError

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        raise NotImplementedError

    def _delete(self, key: str) -> None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def head(self, key: str) -> Optional[ObjectInfo]:
        """Size, etag/hash of ``key``, or None if it does not exist."""
        raise NotImplementedError

    def _put_bytes(self, key: str, data: bytes) -> None:
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix="seetrain-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._put(tmp, key, hashlib.sha256(data).hexdigest(), None)
        finally:
            os.remove(tmp)

    def _get_bytes(self, key: str) -> Optional[bytes]:
        import tempfile

        if not self.exists(key):
            return None
        fd, tmp = tempfile.mkstemp(prefix="seetrain-")
        os.close(fd)
        try:
            self._get(key, tmp, None)
            with open(tmp, "rb") as fh:
                return fh.read()
        finally:
            os.remove(tmp)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r}>"
