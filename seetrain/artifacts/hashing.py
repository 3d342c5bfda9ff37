"""sha256 of files at the speed of the disk and the CPU's SHA instructions.

One file is read with ``readinto`` into one reused buffer (no new bytes object per block) and fed
to :mod:`hashlib`, which releases the GIL for large blocks, so several files hash on several cores.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

BLOCK = 1 << 20  # bytes read per call: past this size the speed no longer grows (benchmarks/bench_artifacts.py)


class FileDigest(NamedTuple):
    """A file's content hash and size, as hashed."""

    sha256: str
    size: int


def sha256_file(path: str, block: int = BLOCK) -> FileDigest:
    """The sha256 and size of the file at ``path``."""
    h = hashlib.sha256()
    buf = bytearray(block)
    view = memoryview(buf)
    size = 0
    with open(path, "rb", buffering=0) as f:
        try:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
    return FileDigest(h.hexdigest(), size)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
