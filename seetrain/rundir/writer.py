"""The background writer of a run directory.

It drains the run's :class:`~seetrain.rundir.queue.RecordQueue` at once when started and then at
least every ``flush_interval`` seconds, so a scalar logged at any time after ``init()`` is in the
OS within about that long (a SIGKILL loses at most that much). Media go to a
:class:`~seetrain.rundir.media_writer.MediaWriter` thread, so encoding a large image never holds scalars
back. Every ``heartbeat_interval`` seconds it rewrites ``run.json`` with a heartbeat and the
current counters and summary.

Write errors (ENOSPC, EFBIG, EIO, permissions) never stop it: records are written whole or not
at all, the lost ones are counted, named in a ``lost`` event and in ``run.json``, and writing goes
on when the disk accepts data again. ``close()`` writes what is left and fsyncs.
"""

from __future__ import annotations

import os
import threading
import time
from itertools import groupby
from operator import attrgetter
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from .files import RecordFile, write_json_atomic
from ..thread_imports import load
from .media_writer import RECORDS, MediaWriter, Written
from .queue import CONFIG, CONSOLE, EVENT, LOST, MEDIA, METRICS, SUMMARY, SYSTEM, Item, RecordQueue

_kind, _step, _payload = attrgetter("kind"), attrgetter("step"), attrgetter("payload")
Warn = Callable[[str, Optional[str]], None]  # (message, key) -> None; must not raise


class SeqRange(NamedTuple):
    """Seqs ``first`` to ``last`` (both included): assigned and never written (lost)."""

    first: int
    last: int


class RunWriter(threading.Thread):
    """Writes one run directory from a :class:`RecordQueue` filled by :meth:`seetrain.run.Run.log`."""

    def __init__(self, run_dir: str, queue: RecordQueue, meta: Dict[str, Any], warn: Warn,
                 flush_interval: float = 1.0, heartbeat_interval: float = 5.0,
                 folder: Optional[str] = None, meta_name: str = "run.json", label: str = "") -> None:
        """``folder``: where this writer's ``records.jsonl`` and ``meta_name`` lie (default
        ``run_dir``: the primary writer; a shared run's other writers have ``writers/<label>/``
        and ``writer.json``, see :mod:`.writers`); their media files (under the run's ``media/``)
        end in ``_<label>``, as their seqs are their own."""
        super().__init__(name=f"seetrain-writer-{meta.get('id')}", daemon=True)
        self.run_dir = run_dir
        self.folder = folder or run_dir
        self.meta_path = os.path.join(self.folder, meta_name)
        self.media_suffix = f"_{label}" if label else ""
        self.queue = queue
        self.meta = meta
        self.flush_interval = max(float(flush_interval), 0.01)
        self.heartbeat_interval = max(float(heartbeat_interval), 0.05)
        self.warn = warn
        self.file = RecordFile(os.path.join(self.folder, "records.jsonl"))
        self.media = MediaWriter(self)
        self.wake = threading.Event()
        self._init_returned = threading.Event()
        self.progress = threading.Condition()
        self.summary: Dict[str, Any] = dict(meta.get("summary") or {})
        self.summary_set: Dict[str, Any] = {}
        self.last_step: int = meta.get("last_step", -1) if isinstance(meta.get("last_step"), int) else -1
        next_seq = queue.counters().next_seq
        self.last_seq = next_seq - 1
        self.done_seq = next_seq - 1    # every seq <= this was handled by the scalar path
        self.lost = int(meta.get("lost") or 0)
        self._lost_ranges: List[SeqRange] = []
        self._lost_reason = ""
        self._lost_queued = False
        self._lock = threading.Lock()   # lost ranges, summary and run.json
        self._stopping = False
        self.write_failed = False       # the last write of records.jsonl failed (a full disk)
        self._meta_due = True
        self._last_meta = 0.0
        self._reported: set = set()

    # --- thread body -------------------------------------------------------------------------
    def init_returned(self) -> None:
        """``init()`` has returned: drain at once (until then the thread waits up to 0.2 s, so
        init's last few milliseconds are not shared with the first write)."""
        self._init_returned.set()

    def run(self) -> None:
        self._init_returned.wait(0.2)
        while True:
            try:
                stopping = self._stopping
                self.drain()
                if self._meta_due or time.monotonic() - self._last_meta >= self.heartbeat_interval:
                    self.write_meta(fsync=False)
                if stopping and (not len(self.queue) or self.write_failed):
                    return  # close() counts what a disk that stays full left in the queue
                self.wake.wait(self.flush_interval)
                self.wake.clear()
            except BaseException as exc:  # noqa: B036 - the writer must outlive anything (-W error included)
                self.report("run the writer", exc)
                time.sleep(0.05)

    def drain(self) -> None:
        """Write everything queued now (whole lines, one write per batch). A write that fails (a
        full disk) ends the drain: its records are counted lost, and the ``lost`` event naming them
        waits for the next drain (the next wake-up or flush interval), never retried in a loop."""
        while True:
            batch = self.queue.pop_all(4096)
            if not batch:
                return
            buf: List[Any] = []  # bytes-like parts of the lines, joined for one write
            summary_set: Dict[str, Any] = {}  # set with run.summary[...] in this batch
            taken: List[SeqRange] = []
            failed: List[int] = []
            if not any(map(_kind, batch)):  # the usual batch: metrics only (METRICS is kind 0)
                last_step = self._metrics_lines(batch, buf, failed)
            else:
                last_step = self._mixed_lines(batch, buf, summary_set, failed, taken)
            if buf:
                err = self.file.append(b"".join(buf))
                self.write_failed = err is not None
                if err is not None:
                    self._readd(taken)
                    self.add_lost([it.seq for it in batch if it.kind != MEDIA and it.seq not in failed],
                                  f"{type(err).__name__}: {err}")
                else:
                    last_written = max(it.seq for it in batch if it.kind != MEDIA and it.seq not in failed) \
                        if failed else next(it.seq for it in reversed(batch) if it.kind != MEDIA)
                    self.records_written(Written(last_written, last_step, None, summary_set or None))
            with self.progress:
                self.done_seq = batch[-1].seq
                self.progress.notify_all()
            if buf and self.write_failed:
                return

    def _mixed_lines(self, batch: List[Item], buf: List[Any], summary_set: Dict[str, Any],
                     failed: List[int], taken: List[SeqRange]) -> int:
        """Encode a batch of several kinds into ``buf`` (media go to the media thread); returns the
        last metrics step."""
        last_step = -1
        for kind, group in groupby(batch, key=_kind):
            if kind == METRICS:  # consecutive metrics records: one orjson call
                last_step = max(last_step, self._metrics_lines(list(group), buf, failed))
            elif kind == MEDIA:
                for item in group:
                    self.media.submit(item)
            else:
                for item in group:
                    line = self._other_line(item, summary_set, failed, taken)
                    if line is not None:
                        buf.append(line)
        return last_step

    def _metrics_lines(self, group: List[Item], buf: List[Any], failed: List[int]) -> int:
        """Encode consecutive metrics items into ``buf``, update the summary; returns their last step."""
        records = load(RECORDS)

        summary_update = self.summary.update  # atomic under the GIL; also updated by the media thread
        parts = records.encode_metrics_batch(group)
        if parts is not None:
            buf += parts
            payloads = list(map(_payload, group))
            last = payloads[-1]
            if len(set().union(*payloads)) == len(last):  # the last record has every key: it is the summary
                summary_update(last)
            else:
                for payload in payloads:
                    summary_update(payload)
            return max(map(_step, group))
        last_step = -1
        for item in group:  # the careful path, record by record
            try:
                line, stored = records.encode_metrics(item.seq, item.time, item.step, item.payload, self.problem)
            except Exception as exc:
                self.add_lost([item.seq], f"could not encode a record ({type(exc).__name__}: {exc})")
                failed.append(item.seq)
                continue
            buf.append(line)
            summary_update(stored)
            if item.step > last_step:
                last_step = item.step
        return last_step

    def _other_line(self, item: Item, summary_set: Dict[str, Any], failed: List[int],
                    taken: List[SeqRange]) -> Optional[bytes]:
        """The line of a config, system, console, event, summary or lost record (None: it is lost).
        A summary record's values go to ``summary_set``; a lost event adds the seq ranges it reports
        to ``taken`` (given back if the write fails)."""
        records = load(RECORDS)

        kind, seq, t, payload = item.kind, item.seq, item.time, item.payload
        try:
            if kind == SYSTEM:
                return records.encode_metrics(seq, t, 0, payload, self.problem, kind="system")[0]
            if kind == CONSOLE:
                return records.encode(seq, t, "console", {"stream": payload.stream, "line": payload.line})
            if kind == EVENT:
                return records.encode(seq, t, "event", payload)
            if kind == CONFIG:
                line = records.encode(seq, t, "config", {"config": payload})
                self.meta.setdefault("config", {}).update(records.sanitize(payload))
                self._meta_due = True
                return line
            if kind == SUMMARY:
                line = records.encode(seq, t, "summary", {"summary": payload})
                summary_set.update(records.sanitize(payload))
                self._meta_due = True
                return line
            if kind == LOST:
                line, ranges = self._lost_event(seq, t)
                taken.extend(ranges)
                return line
        except Exception as exc:
            self.add_lost([seq], f"could not encode a record ({type(exc).__name__}: {exc})")
            failed.append(seq)
        return None

    def records_written(self, written: Written) -> None:
        """Lines are in the file (this thread's or the media thread's): counters and summary follow."""
        with self._lock:
            if written.last_seq > self.last_seq:
                self.last_seq = written.last_seq
            if written.last_step > self.last_step:
                self.last_step = written.last_step
            if written.logged:
                self.summary.update(written.logged)
            if written.summary_set:  # set with run.summary[...]: kept over later logged values
                self.summary_set.update(written.summary_set)

    def notify_progress(self) -> None:
        with self.progress:
            self.progress.notify_all()

    # --- losses and problems -----------------------------------------------------------------
    def add_lost(self, seqs: List[int], reason: str) -> None:
        """``seqs`` were assigned and will never be written: count them and queue a ``lost`` event."""
        if not seqs:
            return
        with self._lock:
            self.lost += len(seqs)
            self._merge(seqs)
            self._lost_reason = reason
            queue_event = not self._lost_queued
            self._lost_queued = True
            self._meta_due = True
        if queue_event:
            self.queue.put(LOST, None)
        self.report("write records.jsonl", OSError(reason), key="lost",
                    extra="; the lost records are counted in run.json and named in a 'lost' event, "
                          "and writing goes on when the disk accepts data again")

    def _merge(self, seqs: List[int]) -> None:
        ranges = self._lost_ranges
        for s in sorted(seqs):
            if ranges and ranges[-1].first <= s <= ranges[-1].last + 1:
                ranges[-1] = SeqRange(ranges[-1].first, max(ranges[-1].last, s))
            else:
                ranges.append(SeqRange(s, s))
        ranges.sort()
        merged: List[SeqRange] = []
        for r in ranges:
            if merged and r.first <= merged[-1].last + 1:
                merged[-1] = SeqRange(merged[-1].first, max(merged[-1].last, r.last))
            else:
                merged.append(r)
        self._lost_ranges = merged

    def _readd(self, taken: List[SeqRange]) -> None:
        if taken:
            with self._lock:
                self._merge([s for r in taken for s in range(r.first, r.last + 1)])

    def _lost_event(self, seq: int, t: float) -> Tuple[bytes, List[SeqRange]]:
        records = load(RECORDS)

        with self._lock:
            ranges, self._lost_ranges = self._lost_ranges, []
            self._lost_queued = False
            reason = self._lost_reason
        if not ranges:
            raise ValueError("no lost records to report")
        fields: Dict[str, Any] = {"event": "lost", "first_seq": ranges[0].first, "last_seq": ranges[-1].last,
                                  "count": sum(r.last - r.first + 1 for r in ranges), "reason": reason}
        if len(ranges) > 1:
            fields["ranges"] = [list(r) for r in ranges]
        return records.encode(seq, t, "event", fields), ranges

    def problem(self, key: str, message: str) -> None:
        """A value could not be stored as given (called while encoding): warn once per key."""
        tag = f"value:{key}"
        if tag not in self._reported:
            self._reported.add(tag)
            self.warn(message, key)

    def report(self, what: str, exc: BaseException, key: Optional[str] = None, extra: str = "") -> None:
        """Warn once per kind of failure; never raises."""
        if what in self._reported:
            return
        self._reported.add(what)
        self.warn(f"could not {what} ({type(exc).__name__}: {exc}){extra}; training goes on", key)

    # --- run.json ----------------------------------------------------------------------------
    def update_meta(self, fields: Dict[str, Any]) -> None:
        """Merge ``fields`` (environment facts) into run.json at the next heartbeat."""
        with self._lock:
            self.meta.update(fields)
            self._meta_due = True
        self.wake.set()

    def write_meta(self, fsync: bool = False, first: bool = False, **fields: Any) -> None:
        """Rewrite run.json with the heartbeat and current counters (never raises)."""
        try:
            with self._lock:
                self._meta_due = False
                self._last_meta = time.monotonic()
                meta = self.meta
                meta.update(fields)
                meta.update(heartbeat=time.time(), last_seq=self.last_seq, last_step=self.last_step,
                            records=max(self.last_seq + 1 - self.lost, 0), lost=self.lost,
                            summary={**self.summary, **self.summary_set})
                write_json_atomic(self.meta_path, meta, fsync=fsync, plain=first)
        except Exception as exc:
            self.report("write run.json", exc)

    # --- control -----------------------------------------------------------------------------
    def request_flush(self) -> None:
        self.wake.set()

    def wait_written(self, target_seq: int, timeout: float = 60.0) -> bool:
        """Block until every record with seq <= ``target_seq`` is written (or lost)."""
        deadline = time.monotonic() + timeout
        with self.progress:
            while not (self.done_seq >= target_seq and self.media.idle_up_to(target_seq)):
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return False
                self.wake.set()
                self.progress.wait(min(left, 0.05))
        return True

    def wait_space(self, timeout: float = 0.05) -> None:
        """Backpressure: wait a little for the writer to make room."""
        self.wake.set()
        with self.progress:
            self.progress.wait(timeout)

    def close(self, timeout: Optional[float] = None) -> None:
        """Write everything left, wait for media, fsync records, media and directory entries."""
        self._stopping = True
        self.wake.set()
        if self.is_alive():
            self.join(timeout)
        if not self.is_alive() and len(self.queue):  # never started: write from here
            self.drain()
        self.media.close(timeout)
        if len(self.queue):  # a last lost event (a failure while closing)
            self.drain()
        if len(self.queue):  # the disk stays full: what is left is lost, and counted in run.json
            self._count_left_behind()
        try:  # the run directory's own entries are fsynced by finish(), after run.json's rename
            self.file.fsync()
            self.media.fsync_files()
        except OSError as exc:
            self.report("fsync the run directory", exc)
        self.file.close()

    def _count_left_behind(self) -> None:
        """At close, with writes still failing: the records still queued (their ``lost`` event
        among them) will never be written; they are counted lost (run.json), not silently dropped."""
        left = self.queue.pop_all(len(self.queue))
        with self._lock:
            self.lost += len(left)
            self._meta_due = True
        with self.progress:
            self.done_seq = max(self.done_seq, left[-1].seq)
            self.progress.notify_all()

    def forget(self) -> None:
        """In a forked child: drop the inherited descriptor without touching the parent's file."""
        self.file.close()
