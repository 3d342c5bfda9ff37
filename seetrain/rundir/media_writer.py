"""The media thread: encodes Image / Audio / Text / Histogram / Table values to files off the scalar path.

A media record is written when its files are, so it may land in ``records.jsonl`` after records
with a higher seq (seq stays unique and gap-free; see docs/record-format.md). It is started the
first time a run logs media.
"""

from __future__ import annotations

import collections
import os
import re
import threading
from typing import Any, Deque, Dict, List, NamedTuple, Optional, Protocol, Set

from ..media import MediaInputError
from ..thread_imports import load
from . import format as schema
from .format import media_ref
from .queue import Item, RecordQueue
from .files import RecordFile, fsync_dir

# the record encoder (orjson): imported first by the writer threads, a fork waiting (thread_imports)
RECORDS = "seetrain.rundir.records"


class Written(NamedTuple):
    """What a write put in ``records.jsonl``: reported to :meth:`MediaOwner.records_written` by both
    writer threads (the scalar one for each batch, the media one for each media record)."""

    last_seq: int                               # the highest seq written
    last_step: int = -1                         # the highest metrics step written (-1: none)
    logged: Optional[Dict[str, Any]] = None     # values logged, as stored: the summary's last values
    summary_set: Optional[Dict[str, Any]] = None  # values set with run.summary[...]: kept over logged ones


class MediaOwner(Protocol):
    """What the media writer needs of the run's writer (:class:`~seetrain.rundir.writer.RunWriter` is one):
    where the run lives, its record file and queue, and where to report what was written or lost."""

    run_dir: str
    file: RecordFile
    queue: RecordQueue

    def records_written(self, written: Written) -> None: ...

    def add_lost(self, seqs: List[int], reason: str) -> None: ...

    def problem(self, key: str, message: str) -> None: ...

    def report(self, what: str, exc: BaseException, key: Optional[str] = None, extra: str = "") -> None: ...

    def notify_progress(self) -> None: ...

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def media_dirname(key: str) -> str:
    """A file-system-safe folder name for a metric key (``eval/sample img`` -> ``eval/sample_img``)."""
    parts = [_UNSAFE.sub("_", p).strip(".") or "_" for p in key.split("/")]
    return "/".join(parts)


class MediaWriter(threading.Thread):
    """Writes the media records handed over by a :class:`~seetrain.rundir.writer.RunWriter`."""

    def __init__(self, owner: MediaOwner) -> None:
        super().__init__(name="seetrain-media", daemon=True)
        self.owner = owner
        self.items: Deque[Item] = collections.deque()
        self.pending: Set[int] = set()
        self.files: List[str] = []  # written since the last fsync
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False

    def submit(self, item: Item) -> None:
        with self._lock:
            self.pending.add(item.seq)
            self.items.append(item)
            if not self.is_alive() and not self._stopping:
                self.start()
        self._wake.set()

    def idle_up_to(self, seq: int) -> bool:
        """True when no media record with seq <= ``seq`` is still being written."""
        with self._lock:
            return not self.pending or min(self.pending) > seq

    def run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            while self.items:
                try:
                    self._write(self.items.popleft())
                except BaseException as exc:  # noqa: B036 - the thread must outlive anything
                    self.owner.report("write media", exc)
            if self._stopping and not self.items:
                return

    def _write(self, item: Item) -> None:
        seq, t, step = item.seq, item.time, item.step
        data, nbytes = item.payload.values, item.payload.nbytes
        owner = self.owner
        try:
            out: Dict[str, Any] = {}
            refused: List[str] = []  # messages about bad input (not disk faults)
            for key, value in data.items():
                base = f"media/{media_dirname(key)}/{step}_{seq}{owner.media_suffix}"
                try:
                    if isinstance(value, list):
                        out[key] = self._many(key, value, base, refused)
                        if not out[key]:
                            del out[key]
                    else:
                        out[key] = self._one(value, base)
                except MediaInputError as exc:
                    refused.append(f"{key!r}: {exc}; this value was skipped")
                    owner.problem(key, refused[-1])
                except Exception as exc:
                    owner.problem(key, f"could not write the media of {key!r} ({type(exc).__name__}: {exc}); "
                                       "it was skipped")
            if not out and refused and len(refused) >= len(data):
                # only bad input: the seq holds a warning event (seqs stay gap-free; nothing was lost)
                line = load(RECORDS).encode(seq, t, "event", {"event": "warning", "message": refused[0],
                                                        "key": next(iter(data))})
                err = owner.file.append(line)
                if err is not None:
                    owner.add_lost([seq], f"{type(err).__name__}: {err}")
                else:
                    owner.records_written(Written(seq))
                return
            if not out:
                owner.add_lost([seq], "no media value of the record could be written (see the warning before)")
                return
            line, stored = load(RECORDS).encode_metrics(seq, t, step, out, owner.problem)
            err = owner.file.append(line)
            if err is not None:
                owner.add_lost([seq], f"{type(err).__name__}: {err}")
            else:
                owner.records_written(Written(seq, step, stored))
        finally:
            owner.queue.media_done(nbytes)
            with self._lock:
                self.pending.discard(seq)
            owner.notify_progress()

    def _many(self, key: str, items: List[Any], base: str, refused: List[str]) -> List[Dict[str, Any]]:
        """A list of media under one key: the items that encode (a bad item only drops itself)."""
        out = []
        for i, m in enumerate(items):
            try:
                out.append(self._one(m, f"{base}_{i}"))
            except MediaInputError as exc:
                self.owner.problem(key, f"{key!r}: {exc}; this item was skipped")
        if not out:
            refused.append(f"{key!r}: no item of the list could be decoded; it was skipped")
        return out

    def _one(self, media: Any, rel: str) -> Dict[str, Any]:
        path, fields = media.write_file(self.owner.run_dir, rel, schema)
        for written in (path, *fields.get("files", ())):  # a table's image cells are files of their own
            self.files.append(os.path.join(self.owner.run_dir, written))
        return media_ref(media.kind, path, fields, media.caption)

    def close(self, timeout: Any = None) -> None:
        with self._lock:
            self._stopping = True
        self._wake.set()
        if self.is_alive():
            self.join(timeout)
        while self.items and not self.is_alive():  # never started, or submitted while closing
            self._write(self.items.popleft())

    def fsync_files(self) -> None:
        files, self.files = self.files, []
        dirs = set()
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dirs.add(os.path.dirname(path))
        for d in sorted(dirs, key=len, reverse=True):
            fsync_dir(d)
        if files:
            fsync_dir(os.path.join(self.owner.run_dir, "media"))
