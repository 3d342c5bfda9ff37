"""The local content-addressed store of artifact files: ``<logdir>/.artifacts/blobs/ab/<sha256>``.

A file is stored once whatever the number of versions, runs or names that hold it. A blob is
written to a temporary name in the store's own folder, fsynced and renamed, so a reader (or a
SIGKILL) never sees half a blob; blobs are read-only (0444), so a version's files are immutable and
can be hard-linked out to a user folder without copying.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from typing import Iterator, NamedTuple, Optional, Set

from ..rundir.files import fsync_dir

FICLONE = 0x40049409  # Linux ioctl: a copy-on-write clone (btrfs, xfs, ...): no data copied


class PutResult(NamedTuple):
    """What :meth:`LocalStore.put` did: the blob's sha256 and path, and whether bytes were copied
    (False: the blob was there already)."""

    sha256: str
    path: str
    copied: bool


class LocalStore:
    """Blobs by sha256 under ``root`` (made on first use)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, sha: str) -> str:
        return os.path.join(self.root, sha[:2], sha)

    def has(self, sha: str) -> bool:
        return os.path.isfile(self.path(sha))

    def touch(self, sha: str) -> None:
        """Mark a blob as just used (gc spares blobs younger than its grace period)."""
        try:
            os.utime(self.path(sha))
        except OSError:
            pass

    def put(self, sha: str, source: str) -> PutResult:
        """Store ``source``, hashed as ``sha``, unless that blob exists: then nothing is copied (the
        blob is only touched). A new blob is hashed again while it is copied, so a file changed
        since it was hashed is stored under the sha256 of what was copied (returned)."""
        dest = self.path(sha)
        if os.path.isfile(dest):
            self.touch(sha)
            return PutResult(sha, dest, False)
        os.makedirs(self.root, exist_ok=True)
        tmp = os.path.join(self.root, f".{sha}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            actual = _copy_hashing(source, tmp)
            os.chmod(tmp, 0o444)
            dest = self.path(actual)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(tmp, dest)  # atomic: a blob is whole or absent
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        fsync_dir(os.path.dirname(dest))
        return PutResult(actual, dest, True)

    def put_bytes(self, sha: str, chunks: Iterator[bytes]) -> None:
        """Store a blob received in ``chunks`` (checked against ``sha`` before it is kept)."""
        import hashlib

        dest = self.path(sha)
        if os.path.isfile(dest):
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as f:
                for c in chunks:
                    h.update(c)
                    f.write(c)
                f.flush()
                os.fsync(f.fileno())
            if h.hexdigest() != sha:
                raise OSError(errno.EIO, f"the downloaded file hashes to {h.hexdigest()}, not {sha}")
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def link_out(self, sha: str, dest: str) -> None:
        """Put the blob at ``dest``: a hard link (no copy) when the store and ``dest`` share a file
        system, else a copy. An existing ``dest`` is replaced."""
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        tmp = f"{dest}.{os.getpid()}.tmp"
        try:
            os.link(self.path(sha), tmp)
        except OSError:
            clone_or_copy(self.path(sha), tmp)
        os.replace(tmp, dest)

    def shas(self) -> Set[str]:
        out: Set[str] = set()
        try:
            subs = os.listdir(self.root)
        except OSError:
            return out
        for sub in subs:
            try:
                out.update(n for n in os.listdir(os.path.join(self.root, sub)) if len(n) == 64)
            except OSError:
                continue
        return out

    def disk_usage(self) -> int:
        """Bytes the store's blobs take (each counted once)."""
        return sum(os.path.getsize(self.path(s)) for s in self.shas())

    def remove_unreferenced(self, referenced: Set[str], grace_s: float = 3600.0) -> int:
        """Delete blobs no version references and not used within ``grace_s`` seconds (a version
        being logged touches its blobs before its manifest is written). Returns bytes freed."""
        freed, now = 0, time.time()
        for sha in self.shas() - referenced:
            p = self.path(sha)
            try:
                st = os.stat(p)
                if now - st.st_mtime < grace_s:
                    continue
                os.unlink(p)
                freed += st.st_size
            except OSError:
                continue
        return freed


def _copy_hashing(source: str, dest: str) -> str:
    """Copy ``source`` to ``dest`` (fsynced) and return the sha256 of the bytes copied."""
    import hashlib

    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(source, "rb", buffering=0) as src, open(dest, "wb", buffering=0) as dst:
        while True:
            n = src.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            dst.write(view[:n])
        os.fsync(dst.fileno())
    return h.hexdigest()


def clone_or_copy(source: str, dest: str) -> None:
    """``dest`` as a copy of ``source``: a copy-on-write clone where the file system offers one, else
    a kernel-side copy (``copy_file_range``/``sendfile`` through :func:`shutil.copyfile`); fsynced."""
    with open(source, "rb") as src, open(dest, "wb") as dst:
        cloned = False
        try:
            import fcntl

            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            cloned = True
        except (OSError, ImportError):
            pass
        if not cloned:
            shutil.copyfileobj(src, dst, 1 << 20) if not hasattr(os, "copy_file_range") else _copy_range(src, dst)
        dst.flush()
        os.fsync(dst.fileno())


def _copy_range(src, dst) -> None:
    size = os.fstat(src.fileno()).st_size
    off = 0
    try:
        while off < size:
            n = os.copy_file_range(src.fileno(), dst.fileno(), size - off)
            if n == 0:
                break
            off += n
    except OSError:
        src.seek(off)
        dst.seek(off)
        shutil.copyfileobj(src, dst, 1 << 20)


def store_root(logdir: str) -> str:
    return os.path.join(os.path.abspath(logdir), ".artifacts")


def open_local(logdir: str) -> LocalStore:
    return LocalStore(os.path.join(store_root(logdir), "blobs"))


def blob_size(store: LocalStore, sha: str) -> Optional[int]:
    try:
        return os.path.getsize(store.path(sha))
    except OSError:
        return None
