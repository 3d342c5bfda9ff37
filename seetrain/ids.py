"""Run ids and uuids (ground floor: standard library only, no :mod:`uuid` import)."""

from __future__ import annotations

import os
import time

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_id() -> str:
    """A run id: ``YYYYmmdd-HHMMSS-`` and six random letters or digits (``20260101-120000-k3x9qa``)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # OS entropy: a training script's random.seed() must not make two runs' ids collide
    tail = "".join(_ALPHABET[b % 36] for b in os.urandom(6))
    return f"{stamp}-{tail}"


def new_uuid() -> str:
    """A random (version 4) UUID as 32 hex digits, without importing :mod:`uuid`."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return b.hex()
