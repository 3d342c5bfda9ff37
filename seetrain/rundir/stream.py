"""Incremental reading of ``records.jsonl`` from a byte offset (the reader of live runs).

Only complete lines (ending in ``\\n``) are records. A partial last line is a live writer
mid-write: it is "not yet", never consumed, and ``next_offset`` stops before it, so the next call
picks it up whole. A complete line that does not decode is skipped and counted as corrupt.
A ``MemoryError`` is raised, never counted: a reader must not return a silently shortened run.
"""

from __future__ import annotations

import contextlib
import gc
import os
from itertools import repeat
from operator import contains as _contains
from typing import Any, BinaryIO, Dict, Iterator, List, NamedTuple, Optional, Tuple

import orjson

from .format import INF_TAG, NAN_TAG
from .records import decode_record, normalize_record
from .safe_open import open_nofollow

_SEQ = b'{"seq":'
_NEXT_SEQ = b'\n{"seq":'
BLOCK = 1 << 20  # bytes decoded in one go; bounds the transient copies of one call


class Chunk(NamedTuple):
    """What one :func:`read_records` call found."""

    records: List[Dict[str, Any]]  # decoded records (dicts with ``type``), in file order
    next_offset: int               # byte offset just past the last complete line consumed
    corrupt: int                   # complete lines that did not decode (skipped)


def records_path(run_dir_or_file: "os.PathLike[str] | str") -> str:
    """``<run>/records.jsonl`` for a run directory; a file path is returned as is."""
    path = os.fspath(run_dir_or_file)
    return os.path.join(path, "records.jsonl") if os.path.isdir(path) else path


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while one C call builds thousands of records: each collection it would trigger
    walks every young record, and they are all alive (a measured 35-40% of the decode). The call
    holds the GIL throughout, so other threads see the pause only for that call."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_NAN_BYTES = b'"%s"' % NAN_TAG.encode()     # "NaN" as written
_INF_BYTES = INF_TAG.encode() + b'"'        # the end of "Infinity" and "-Infinity"


def _maybe_tagged(block: bytes) -> bool:
    """Whether ``block`` may hold a ``"NaN"``/``"Infinity"`` tag (a one-byte memchr first: most
    blocks have no ``N`` or ``I`` at all, and the two exact searches cost far more)."""
    return (b"N" in block and _NAN_BYTES in block) or (b"I" in block and _INF_BYTES in block)


def _decode_lines(block: bytes) -> Tuple[List[Dict[str, Any]], int]:
    """Decode a block of complete lines (it ends with ``\\n``); returns (records, corrupt lines)."""
    try:  # fast path: the whole block as one JSON array (one C call for thousands of lines)
        with _gc_paused():
            parsed = orjson.loads(b"[" + block[:-1].replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:
        parsed = None
    # Every line is one object whose first key is seq: the array has as many elements as there
    # are lines starting with {"seq": (a blank line is invalid JSON, a foreign line adds one).
    if parsed is not None and block.startswith(_SEQ) and len(parsed) == block.count(_NEXT_SEQ) + 1:
        if _maybe_tagged(block) or not all(map(_contains, parsed, repeat("type"))):
            for rec in parsed:  # tagged non-finite values, or records from before format 2
                normalize_record(rec)
        return parsed, 0
    out, corrupt = [], 0  # slow path: line by line (blank, torn-in-the-middle or foreign lines)
    for line in block.split(b"\n")[:-1]:
        if not line.strip():
            continue
        try:
            out.append(decode_record(line))
        except ValueError:  # orjson.JSONDecodeError: this line is damaged; the others stand
            corrupt += 1
    return out, corrupt


def _complete_end(f: Any, offset: int, limit: int, file_end: int, read_on: bool) -> Tuple[bytes, int]:
    """Read from ``offset`` (at most ``limit`` bytes; with ``read_on``, on to the end of a line longer
    than that); returns the bytes of the complete lines read and the offset just past them."""
    f.seek(offset)
    buf = f.read(min(limit, file_end - offset))
    end = buf.rfind(b"\n")
    while end < 0 and read_on and offset + len(buf) < file_end:  # one line longer than the limit: read on to its end
        more = f.read(max(limit, 1 << 16))
        if not more:
            break
        start = len(buf)
        buf += more
        end = buf.find(b"\n", start)
    if end < 0:
        return b"", offset
    if end + 1 < len(buf):
        buf = buf[: end + 1]
    return buf, offset + end + 1


def _open_log(run_dir_or_file: "os.PathLike[str] | str") -> Optional[BinaryIO]:
    """``records.jsonl`` of a run directory (or the file given) opened for reading; None while it
    does not exist. A path that was not yet a directory when :func:`records_path` looked, and is one
    when opened, is a run directory that appeared in between (a reader started before its run): its
    log is opened. A log that is a link is refused (LinkRefused), never followed."""
    path = records_path(run_dir_or_file)
    try:
        return open_nofollow(path)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        if path != os.fspath(run_dir_or_file):
            raise  # <run>/records.jsonl is itself a directory: not a log to read
    try:
        return open_nofollow(os.path.join(path, "records.jsonl"))
    except FileNotFoundError:
        return None


def read_records(run_dir_or_file: "os.PathLike[str] | str", offset: int = 0, max_records: Optional[int] = None,
                 max_bytes: Optional[int] = None) -> Chunk:
    """The complete records from byte ``offset`` on: pass ``chunk.next_offset`` next time.

    ``max_records`` and ``max_bytes`` bound one call (a single line longer than ``max_bytes`` is
    still returned whole, so every call makes progress while there is a complete line).
    A missing file reads as empty (the run has not written yet); a ``records.jsonl`` that is a
    symbolic link raises :class:`~seetrain.rundir.safe_open.LinkRefused`.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    f = _open_log(run_dir_or_file)
    if f is None:
        return Chunk([], offset, 0)
    records: List[Dict[str, Any]] = []
    corrupt = 0
    with f:
        file_end = os.fstat(f.fileno()).st_size
        budget = file_end - offset if max_bytes is None else min(max_bytes, file_end - offset)
        start, stop = offset, offset + max(budget, 0)
        while offset < stop:
            first = offset == start
            block, new_offset = _complete_end(f, offset, min(BLOCK, stop - offset), file_end, read_on=first)
            if new_offset == offset:
                break  # only a partial line is left: not yet
            if max_records is not None:
                block, new_offset = _cut_lines(block, offset, max_records - len(records))
            recs, bad = _decode_lines(block)
            records.extend(recs)
            corrupt += bad
            offset = new_offset
            if max_records is not None and len(records) >= max_records:
                break
    return Chunk(records, offset, corrupt)


def _cut_lines(block: bytes, offset: int, n: int) -> Tuple[bytes, int]:
    """At most ``n`` lines of ``block`` (lines, blank or not: a cheap upper bound on records)."""
    if block.count(b"\n") <= n:
        return block, offset + len(block)
    pos = 0
    for _ in range(max(n, 1)):
        pos = block.index(b"\n", pos) + 1
    return block[:pos], offset + pos


def iter_chunks(run_dir_or_file: "os.PathLike[str] | str", offset: int = 0, end: Optional[int] = None,
                block: int = BLOCK) -> Iterator[Chunk]:
    """Stream the complete records from ``offset`` up to byte ``end`` (default: the size now) in
    bounded chunks; the last chunk's ``next_offset`` is where a later reader picks up."""
    path = records_path(run_dir_or_file)
    if end is None:
        f = _open_log(path)
        if f is None:
            return
        with f:
            end = os.fstat(f.fileno()).st_size
        if os.path.isdir(path):  # the run directory appeared after records_path looked
            path = os.path.join(path, "records.jsonl")
    while offset < end:
        chunk = read_records(path, offset, max_bytes=min(block, end - offset))
        if chunk.next_offset == offset:
            return
        offset = chunk.next_offset
        yield chunk
