"""One follower of a run directory: the only code that reads a run while it is written and hands
its records on, to the sender's HTTP sink (online mode, ``seetrain sync``) or to the local ingest
sink of ``seetrain ui``.

The follower keeps a :class:`Cursor` (a byte offset into ``records.jsonl``, the run's uuid, and
what it met on the way) and feeds a :class:`Sink` with :class:`Batch` es of complete lines:

- only complete lines are read: a partial last line is "not yet" (a writer mid-line), counted in
  ``torn_bytes`` and picked up whole once its newline is there;
- ``run.json`` is read again when its mtime or size changes and handed to ``Sink.open_run``; a
  new uuid in the same folder, or a ``records.jsonl`` that shrank (replaced), starts from 0;
- the cursor moves only after the sink took the batch; a sink error leaves it where it was;
- a batch the sink refuses as a whole (:class:`Refused`: bad content, never a transient or an
  auth failure) is decoded, its corrupt lines dropped and counted, and sent again in halves down
  to the single records it refuses: those are counted in ``rejected`` with the first reason, and
  the rest of the run goes on (one bad record never hides the rest of a run);
- :class:`StartOver` from the sink (the destination lost the run) rewinds to 0.

The batch carries the raw bytes as read; decoding happens only when a sink asks for records
(the local sink, a media reference, a refusal), once per batch.

A shared run (format 3) has one log per writer: each is followed by a follower of its own, with
its own cursor, over the writer's folder (``meta_name="writer.json"`` for writers other than the
primary); :func:`primary_meta` says whether a run directory's ``run.json`` is the primary's.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol, Tuple

import orjson

from ..errors import SeeTrainWarning
from .format import MEDIA_TYPE, STATUSES, known_status, run_uuid
from .safe_open import open_nofollow
from .stream import _decode_lines

__all__ = ["Batch", "Cursor", "Follower", "Refused", "Sink", "StartOver", "primary_meta", "read_batch"]

BATCH_RECORDS = 5_000   # lines in one batch, at most
BATCH_BYTES = 8 << 20   # bytes in one batch, at most (a single longer line is still one batch)
_READ_STEP = 256 << 10  # bytes read at a time
_MEDIA_MARK = b'"%s"' % MEDIA_TYPE.encode()  # every media reference has this key (rundir/format.py)


def primary_meta(meta: Dict[str, Any]) -> bool:
    """Whether ``run.json`` (``meta``) is the primary writer's. A shared run's writer that is not
    primary, on a machine where the primary does not write (another node), leaves a minimal
    ``run.json`` (``"shared": true`` and no ``"writer"``): that directory carries other writers'
    logs only, and its run.json must never be sent as the run's."""
    return not (meta.get("shared") and "writer" not in meta)


class Refused(Exception):
    """The sink refuses this batch as a whole for its content (a record it will never take)."""

    def __init__(self, detail: str, status: int = 422) -> None:
        super().__init__(detail)
        self.detail, self.status = detail, status


class StartOver(Exception):
    """The destination holds nothing of the run any more (a wiped server): send it all again."""


class Batch:
    """Complete lines of ``records.jsonl`` from ``offset`` to ``next_offset``, as read."""

    __slots__ = ("block", "offset", "next_offset", "_records", "_corrupt")

    def __init__(self, block: bytes, offset: int, next_offset: int) -> None:
        self.block, self.offset, self.next_offset = block, offset, next_offset
        self._records: Optional[List[Dict[str, Any]]] = None
        self._corrupt = 0

    @property
    def n_lines(self) -> int:
        return self.block.count(b"\n")

    def json_array(self) -> bytes:
        """The lines as one JSON array, byte for byte (valid only when every line is one JSON value)."""
        return b"[" + self.block[:-1].replace(b"\n", b",") + b"]"

    def may_hold_media(self) -> bool:
        """Whether some line may reference a media file (one ``memmem``, no decoding)."""
        return _MEDIA_MARK in self.block

    def records(self) -> List[Dict[str, Any]]:
        """The decoded records (typed, NaN tags as floats), corrupt lines left out; decoded once."""
        if self._records is None:
            self._records, self._corrupt = _decode_lines(self.block)
        return self._records

    @property
    def corrupt(self) -> int:
        """Complete lines that did not decode (known once :meth:`records` ran; 0 before)."""
        return self._corrupt


class Sink(Protocol):
    """Where a follower's batches go."""

    def open_run(self, meta: Dict[str, Any], uuid: str) -> bool:
        """``run.json`` is new or changed; True when the destination holds nothing of the run (the
        follower then starts from offset 0). May raise :class:`Refused` for a run.json it refuses."""

    def send_batch(self, batch: Batch) -> int:
        """Take a batch (raw lines or :meth:`Batch.records`); returns the destination's last seq.
        Raises :class:`Refused` (whole batch refused), :class:`StartOver`, or anything else to stop."""

    def send_records(self, records: List[Dict[str, Any]]) -> int:
        """Take decoded records (after a refusal); returns the last seq; raises as :meth:`send_batch`."""


@dataclass
class Cursor:
    """The read position of one follower and what it met; saved by its owner after each batch."""

    offset: int = 0                 # bytes of records.jsonl consumed (acknowledged by the sink)
    uuid: str = ""                  # the run the offset belongs to
    last_seq: int = -1              # the destination's last seq, as it answered
    corrupt: int = 0                # complete lines that did not decode (skipped)
    rejected: int = 0               # records the sink refused (skipped)
    rejected_reason: str = ""       # why, for the first of them
    torn_bytes: int = 0             # bytes after the last complete line (not saved: measured each pass)
    extra: Dict[str, Any] = field(default_factory=dict)  # what the owner keeps beside it (host, finished)

    SAVED = ("offset", "uuid", "last_seq", "corrupt", "rejected", "rejected_reason")

    def to_dict(self) -> Dict[str, Any]:
        return {**self.extra, **{k: getattr(self, k) for k in self.SAVED}}

    @classmethod
    def from_dict(cls, d: Any) -> "Cursor":
        """A saved cursor; fields it lacks take their defaults (older files hold fewer), unknown
        ones stay in ``extra``; anything that is not a cursor reads as a fresh one."""
        if not isinstance(d, dict) or type(d.get("offset")) is not int or d["offset"] < 0:
            return cls()
        cur = cls(extra={k: v for k, v in d.items() if k not in cls.SAVED})
        for k, default in (("uuid", ""), ("last_seq", -1), ("corrupt", 0), ("rejected", 0), ("rejected_reason", "")):
            v = d.get(k, default)
            setattr(cur, k, v if type(v) is type(default) else default)
        cur.offset = d["offset"]
        return cur


def read_batch(path: str, offset: int, max_records: int = BATCH_RECORDS,
               max_bytes: int = BATCH_BYTES) -> Tuple[Optional[Batch], int]:
    """The complete lines of ``path`` from ``offset`` (at most ``max_records`` lines and, unless one
    line is longer, ``max_bytes`` bytes), and the file's size now; None when no line is complete yet.
    Reads in steps, so a batch of a few lines costs a few reads, not ``max_bytes``. A missing file
    reads as empty; a link raises ``LinkRefused``."""
    try:
        f = open_nofollow(path)
    except FileNotFoundError:
        return None, 0
    with f:
        size = os.fstat(f.fileno()).st_size
        if offset >= size:
            return None, size
        f.seek(offset)
        want, got, lines, pieces = min(max_bytes, size - offset), 0, 0, []
        while got < size - offset and (got < want or lines == 0):  # one line longer than max_bytes: read on
            piece = f.read(min(_READ_STEP, size - offset - got))
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            lines += piece.count(b"\n")
            if lines >= max_records:
                break
    block = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    if lines > max_records:
        end = -1
        for _ in range(max_records):
            end = block.index(b"\n", end + 1)
    else:
        end = block.rfind(b"\n")
    if end < 0:
        return None, size
    if end + 1 > want:  # over max_bytes: the lines that end within it (at least the first line)
        end = max(block.rfind(b"\n", 0, want), block.index(b"\n"))
    return Batch(block[:end + 1] if end + 1 < len(block) else block, offset, offset + end + 1), size


class Follower:
    """Follows one run directory into ``sink`` from ``cursor`` (see the module's docstring).

    ``step()`` hands on one batch and returns the lines it consumed (0: nothing new);
    ``meta`` is the last run.json read (None before the first step)."""

    def __init__(self, run_dir: str, sink: Sink, cursor: Optional[Cursor] = None,
                 max_records: int = BATCH_RECORDS, max_bytes: int = BATCH_BYTES, meta_name: str = "run.json") -> None:
        self.run_dir = os.path.abspath(run_dir)  # the folder of the log followed (a writer's folder: format 3)
        self.meta_name = meta_name  # its state file: run.json, or a shared run's other writer's writer.json
        self.sink, self.cursor = sink, cursor or Cursor()
        self.max_records, self.max_bytes = max_records, max_bytes
        self.meta: Optional[Dict[str, Any]] = None
        self.size = 0  # records.jsonl's size at the last step
        self._meta_sig: Optional[Tuple[int, int]] = None
        self._records = os.path.join(self.run_dir, "records.jsonl")

    # --- run.json (writer.json) ----------------------------------------------------------------
    def read_meta(self) -> Dict[str, Any]:
        """run.json (``meta_name``) as a dict (never through a link); raises OSError/ValueError when
        unreadable. A status no run ends with (a run.json from before ``finish()`` checked its
        arguments, or edited by hand) is replaced by the ending its exit code gives, with a warning:
        a server refuses any other, and with it the whole run."""
        path = os.path.join(self.run_dir, self.meta_name)
        with open_nofollow(path) as f:
            meta = orjson.loads(f.read())
        if not isinstance(meta, dict):
            raise ValueError(f"{self.meta_name} is not a JSON object")
        status = meta.get("status")
        known = known_status(status, meta.get("exit_code"))
        if known != status:
            warnings.warn(f"seetrain: {path}: status {str(status)[:40]!r} is not one of {sorted(STATUSES)}; "
                          f"the run is taken as {known!r}, the ending its exit code gives", SeeTrainWarning,
                          stacklevel=2)
            meta = {**meta, "status": known}
        return meta

    def meta_signature(self) -> Tuple[int, int]:
        st = os.stat(os.path.join(self.run_dir, self.meta_name))
        return st.st_mtime_ns, st.st_size

    def sync_meta(self, force: bool = False) -> Dict[str, Any]:
        """Read run.json when it changed and hand it to the sink; returns it."""
        sig = self.meta_signature()
        if not force and sig == self._meta_sig and self.meta is not None:
            return self.meta
        meta = self.read_meta()
        uuid = run_uuid(meta)
        cur = self.cursor
        if cur.uuid and uuid != cur.uuid:  # another run in this folder: its records from the start
            cur.offset, cur.last_seq, cur.corrupt, cur.rejected, cur.rejected_reason = 0, -1, 0, 0, ""
        cur.uuid = uuid
        if self.sink.open_run(meta, uuid) and cur.offset > 0:
            cur.offset, cur.last_seq = 0, -1
        self._meta_sig, self.meta = sig, meta
        return meta

    def forget_meta(self) -> None:
        """Make the next step hand run.json to the sink again."""
        self._meta_sig = None

    # --- records.jsonl -----------------------------------------------------------------------
    def step(self) -> int:
        """Hand the next batch to the sink; returns the lines consumed (0 when nothing complete is new).
        run.json goes to the sink first when it never went; later changes go by :meth:`sync_meta`,
        called by the owner when it suits it (each pass, or when idle)."""
        if self._meta_sig is None or self.meta is None:
            self.sync_meta()
        cur = self.cursor
        try:
            if os.stat(self._records).st_size < cur.offset:  # the file was replaced: start over
                cur.offset = 0
        except FileNotFoundError:
            pass
        batch, self.size = read_batch(self._records, cur.offset, self.max_records, self.max_bytes)
        if batch is None:
            cur.torn_bytes = max(0, self.size - cur.offset)
            return 0
        try:
            last = self._deliver(batch)
        except StartOver:
            cur.offset, cur.last_seq = 0, -1
            self.forget_meta()
            return 1
        cur.offset = batch.next_offset
        cur.last_seq = max(cur.last_seq, last)
        cur.corrupt += batch.corrupt
        cur.torn_bytes = self._torn(batch.next_offset)
        return batch.n_lines

    def behind(self) -> bool:
        """Whether complete lines were left for the next step (the last step was cut by its bounds)."""
        return self.size - self.cursor.offset > self.cursor.torn_bytes

    def _torn(self, offset: int) -> int:
        rest = self.size - offset
        if rest <= 0 or rest > (1 << 20):
            return 0
        try:
            with open_nofollow(self._records) as f:
                f.seek(offset)
                tail = f.read(rest)
        except OSError:
            return 0
        return len(tail) if b"\n" not in tail else 0

    def _deliver(self, batch: Batch) -> int:
        try:
            return self.sink.send_batch(batch)
        except Refused:
            pass
        recs = batch.records()  # decoded now (if not before): corrupt lines are dropped and counted
        return self._bisect(recs) if recs else self.cursor.last_seq

    def _bisect(self, recs: List[Dict[str, Any]]) -> int:
        try:
            return self.sink.send_records(recs)
        except Refused as exc:
            if len(recs) == 1:
                self.cursor.rejected += 1
                self.cursor.rejected_reason = self.cursor.rejected_reason or exc.detail[:300]
                return self.cursor.last_seq
        mid = len(recs) // 2
        return max(self._bisect(recs[:mid]), self._bisect(recs[mid:]))
