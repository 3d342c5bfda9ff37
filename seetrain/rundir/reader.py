"""Reads run directories: whole (:func:`read_run`, streamed), listed (:func:`list_runs`, from
``run.json`` alone) or incrementally from a byte offset (:func:`read_records`).

See ``docs/record-format.md`` for the format. Runs written before format 2 read the same way.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

from . import edits, records
from ..logdir import default_logdir
from .columns import Column, RecordScan, Series
from .format import MEDIA_TYPE, media_refs, untag_values
from .stream import Chunk, _gc_paused, iter_chunks, read_records, records_path
from .writers import HEARTBEAT_STALE_S, PRIMARY_WRITER, WriterState, combined_status, heartbeat_age, meta_alive, \
    meta_status, primary_label, writer_states
from .safe_open import open_nofollow

__all__ = ["read_run", "list_runs", "RunReader", "Series", "Column", "Chunk", "read_records",
           "HEARTBEAT_STALE_S", "ConsoleLine", "Row", "WriterSeries", "WriterState"]


class Row(NamedTuple):
    """One metrics record's scalars: its ``step``, ``time`` and ``{key: value}``."""

    step: int
    time: float
    values: Dict[str, Any]


class ConsoleLine(NamedTuple):
    time: float
    stream: str  # "stdout" or "stderr"
    line: str


class WriterSeries(Series):
    """The points of a shared run's writers together: ``steps``, ``values``, ``times`` as in
    :class:`Series` (writer by writer, the primary first, each in log order) and ``writers``: the
    label of each point's writer. A key logged by several writers at one step keeps every value."""

    writers: List[str]


class _WriterScan(NamedTuple):
    label: str
    primary: bool
    folder: str       # its records.jsonl lies here
    scan: RecordScan


def _merge(parts: List[Any]) -> WriterSeries:
    """One :class:`WriterSeries` from ``(label, Series)`` pairs."""
    floats = any(s.values.typecode == "d" for _, s in parts)
    steps, values, times = Column("q"), Column("d" if floats else "q"), Column("d")
    writers: List[str] = []
    for label, s in parts:
        steps.extend(s.steps)
        values.extend(Column("d", s.values) if floats and s.values.typecode != "d" else s.values)
        times.extend(s.times)
        writers += [label] * len(s.steps)
    out = WriterSeries(steps, values, times)
    out.writers = writers
    return out


def _key_series(scan: RecordScan, key: str, superseded: bool) -> Series:
    if key not in scan.metrics.keys and key in scan.system.keys:
        return scan.system.series(key, sample_steps=True, superseded=superseded)
    return scan.metrics.series(key, superseded=superseded)


class RunReader:
    """A read-only view of one run directory (``run.json`` + ``records.jsonl`` + ``media/``).

    Opening reads ``run.json`` only; the records are streamed once, on first use, into compact
    columns (peak memory stays under about twice the file size). ``refresh()`` re-reads both.
    """

    def __init__(self, path: "os.PathLike[str] | str") -> None:
        path = os.path.abspath(os.fspath(path))
        if os.path.isfile(path):
            path = os.path.dirname(path)
        self.path = path
        self._scan: Optional[RecordScan] = None
        self._others: Optional[List[_WriterScan]] = None  # a shared run's other writers, read on first use
        self._states: Optional[List[WriterState]] = None
        self.meta: Dict[str, Any] = self._read_meta()

    def _read_meta(self) -> Dict[str, Any]:
        meta_path = os.path.join(self.path, "run.json")
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(f"{self.path} is not a SeeTrain run directory (no run.json); "
                                    "pass <logdir>/<project>/<run-id> or see `seetrain ls`")
        with open_nofollow(meta_path) as f:  # a run.json that is a link is refused, never followed
            meta = records.loads(f.read())
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path} does not hold a JSON object; the run directory is damaged")
        return edits.applied(meta, self.path)  # a user's name, tags, notes, archived: kept beside the run

    def refresh(self) -> "RunReader":
        """Re-read ``run.json`` and read the records a live run appended since (records are only
        ever appended; a file that shrank was replaced and is read again from the start)."""
        self.meta = self._read_meta()
        scan = self._scan
        if scan is not None:
            try:
                size = os.path.getsize(records_path(self.path))
            except OSError:
                size = 0
            if size < scan.end:
                self._scan = None
            else:
                old = self.format < 2
                for chunk in iter_chunks(records_path(self.path), offset=scan.end):
                    scan.add(chunk, old)
        self._states = None
        for w in self._others or ():  # a shared run's other writers: only ever appended as well
            for chunk in iter_chunks(records_path(w.folder), offset=w.scan.end):
                w.scan.add(chunk, False)
        if self._others is not None:
            known = {w.label for w in self._others}
            self._others += [w for w in self._read_others() if w.label not in known]
        return self

    # --- identity and state (run.json only) ------------------------------------------------------
    @property
    def id(self) -> str:
        return self.meta.get("id") or os.path.basename(self.path)

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.id

    @property
    def project(self) -> str:
        return self.meta.get("project") or os.path.basename(os.path.dirname(self.path))

    @property
    def uuid(self) -> Optional[str]:
        """Globally unique id (format 2); ``None`` for older runs."""
        return self.meta.get("uuid")

    @property
    def format(self) -> int:
        return int(self.meta.get("format") or 1)

    @property
    def exit_code(self) -> Optional[int]:
        return self.meta.get("exit_code")

    @property
    def error(self) -> Optional[Dict[str, Any]]:
        """For a ``crashed`` run: ``{"type", "message", "traceback"}`` when the writer recorded it."""
        return self.meta.get("error")

    @property
    def lost(self) -> int:
        """Records lost to write errors (as counted in ``run.json``); see :meth:`lost_ranges`."""
        return int(self.meta.get("lost") or 0)

    @property
    def heartbeat_age(self) -> Optional[float]:
        """Seconds since the writer's last heartbeat (``None`` for runs without one)."""
        return heartbeat_age(self.meta)

    @property
    def alive(self) -> bool:
        """Whether the writing process is live: a fresh heartbeat (any host sharing the folder),
        and, when the writer ran on this host, a live pid (so a SIGKILLed run reads as dead at
        once, not only when its heartbeat goes stale); for runs without heartbeats, the pid alone.
        A shared run: while any of its writers is."""
        if self.shared:
            return any(w.status == "running" for w in self.writers)
        return meta_alive(self.meta)

    @property
    def vanished(self) -> bool:
        """``run.json`` says ``running`` but its process is gone (SIGKILL, OOM, power loss). A shared
        run: a writer's process is gone so (it left no exit code)."""
        if self.shared:
            return any(w.status == "crashed" and w.exit_code is None for w in self.writers)
        return self.meta.get("status") == "running" and not self.alive

    @property
    def status(self) -> str:
        """``success``/``failed``/``crashed``/``killed``; ``running`` only while the writer lives,
        else ``crashed`` (and :attr:`vanished` is true). A shared run: ``running`` while any writer
        lives, then ``crashed`` if any writer crashed (:attr:`crashed_writers` names them), else the
        primary writer's."""
        if self.shared:
            return combined_status(self.writers)
        return meta_status(self.meta)

    # --- writers (a shared run, format 3: docs/record-format.md) -------------------------------------
    @property
    def shared(self) -> bool:
        """Whether several processes may write this run (``seetrain.init(shared=True)``)."""
        return bool(self.meta.get("shared"))

    @property
    def writers(self) -> List[WriterState]:
        """Every writer of the run (label, primary, status, exit_code, rank, host, pid, n_records,
        folder), the primary first; from their ``writer.json`` files (the primary: ``run.json``).
        A run that is not shared has one, labelled ``""``."""
        if self._states is None:
            self._states = writer_states(self.path, self.meta)
        return list(self._states)

    @property
    def crashed_writers(self) -> List[str]:
        """The labels of the writers that crashed (or vanished: killed, out of memory)."""
        return [w.label for w in self.writers if w.status == "crashed"]

    def _writer_scans(self) -> List[_WriterScan]:
        """Every writer's records, the primary first (a run that is not shared: its one log)."""
        own = _WriterScan(primary_label(self.meta), True, self.path, self._scanned())
        if not self.shared:
            return [own]
        if self._others is None:
            self._others = self._read_others()
        return [own, *self._others]

    def _read_others(self) -> List[_WriterScan]:
        out = []
        for w in self.writers:
            if w.primary:
                continue
            scan = RecordScan()
            with _gc_paused():
                for chunk in iter_chunks(records_path(w.folder)):
                    scan.add(chunk, False)
            out.append(_WriterScan(w.label, False, w.folder, scan))
        return out

    def _writer_scan(self, writer: str) -> _WriterScan:
        for w in self._writer_scans():
            if w.label == writer or (w.primary and writer == PRIMARY_WRITER):
                return w
        labels = ", ".join(repr(w.label) for w in self._writer_scans())
        raise KeyError(f"run {self.id!r} has no writer {writer!r}; its writers are {labels} (see RunReader.writers)")

    def _per_writer(self, writer: Optional[str], series_of: Any) -> Series:
        """``series_of(scan)`` of one writer, or (a shared run, ``writer=None``) of all, merged."""
        if writer is not None:
            return series_of(self._writer_scan(writer).scan)
        if not self.shared:
            return series_of(self._scanned())
        return _merge([(w.label, series_of(w.scan)) for w in self._writer_scans()])

    def writer_config(self, writer: str) -> Dict[str, Any]:
        """The config updates one writer recorded (another writer's are never the run's config)."""
        w = self._writer_scan(writer)
        return self.config if w.primary else dict(w.scan.config)

    # --- records (streamed once, on first use) ----------------------------------------------------
    def _scanned(self) -> RecordScan:
        if self._scan is None:
            scan = RecordScan()
            old = self.format < 2
            with _gc_paused():  # the scan keeps arrays only; a collection per batch of records is waste
                for chunk in iter_chunks(records_path(self.path)):
                    scan.add(chunk, old)
            self._scan = scan
        return self._scan

    @property
    def torn(self) -> bool:
        """The file ends in a partial line and no live writer will complete it."""
        end = self._scanned().end
        try:
            size = os.path.getsize(records_path(self.path))
        except OSError:
            return False
        return size > end and not self.alive

    @property
    def corrupt_lines(self) -> int:
        return self._scanned().corrupt

    @property
    def last_seq(self) -> int:
        return self._scanned().last_seq

    @property
    def num_records(self) -> int:
        """Records read, of every writer."""
        return sum(w.scan.count for w in self._writer_scans())

    @property
    def config(self) -> Dict[str, Any]:
        cfg = dict(self.meta.get("config") or {})
        cfg.update(self._scanned().config)
        return cfg

    @property
    def events(self) -> List[Dict[str, Any]]:
        """Event records (``start``, ``resume``, ``finish``, ``exception``, ``warning``, ``lost``); a shared
        run: the primary writer's (one ``seq`` order: readers page through them by seq), the others' in
        :meth:`writer_events`."""
        return list(self._scanned().events)

    def writer_events(self, writer: str) -> List[Dict[str, Any]]:
        """One writer's event records (an exception on rank 1, its start and finish)."""
        return list(self._writer_scan(writer).scan.events)

    def lost_ranges(self) -> List[Dict[str, Any]]:
        """``lost`` events: ``first_seq``, ``last_seq``, ``count``, ``reason`` (never written)."""
        return [e for e in self._scanned().events if e.get("event") == "lost"]

    def keys(self) -> List[str]:
        """The user's scalar and media keys (system metrics are in :meth:`system_keys`), of every writer."""
        return sorted(set().union(*(set(w.scan.metrics.keys) | set(w.scan.metrics.media)
                                    for w in self._writer_scans())))

    def scalar_keys(self) -> List[str]:
        """The user's keys that have numbers (what :meth:`scalars` and :meth:`rows` give), of every writer."""
        return sorted(set().union(*(w.scan.metrics.keys for w in self._writer_scans())))

    def scalars(self, key: str, superseded: bool = False, writer: Optional[str] = None) -> Series:
        """Steps, values and times of one metric key (compact :class:`Column` s, equal to lists):
        the run's history, where a rewind (``seetrain.init(resume_from=STEP)``) hid the points it
        superseded; ``superseded=True`` gives only those hidden points.

        A system key (``sys/...``) that is not also a metric gives :meth:`system`'s series.
        A shared run: every writer's points (a :class:`WriterSeries`), or ``writer=LABEL``'s alone.
        """
        return self._per_writer(writer, lambda scan: _key_series(scan, key, superseded))

    @property
    def rewinds(self) -> List[Dict[str, Any]]:
        """The run's ``rewind`` records (``seq``, ``time``, ``step``), in log order."""
        return list(self._scanned().rewinds)

    @property
    def fork_from(self) -> Optional[Dict[str, Any]]:
        """For a run made with ``seetrain.init(fork_from=(RUN, STEP))``: ``{"id", "project", "uuid",
        "step"}`` of its parent (see :func:`seetrain.lineage.forks_of` for the reverse link)."""
        link = self.meta.get("fork_from")
        return dict(link) if isinstance(link, dict) else None

    def system_keys(self) -> List[str]:
        return sorted(set().union(*(w.scan.system.keys for w in self._writer_scans())))

    def system(self, key: str, writer: Optional[str] = None) -> Series:
        """One system metric (``sys/...``): its own times; ``steps`` are sample numbers. A shared
        run: every writer's samples (a :class:`WriterSeries`), or ``writer=LABEL``'s alone."""
        return self._per_writer(writer, lambda scan: scan.system.series(key, sample_steps=True))

    def media(self, key: str, superseded: bool = False, writer: Optional[str] = None) -> List[Dict[str, Any]]:
        """Media logged under ``key``: dicts with ``step``, ``type``, absolute ``path``, caption, ...
        (``superseded=True``: only those a rewind superseded). A shared run: every writer's, writer by
        writer (the primary first), each with its ``writer`` label; or ``writer=LABEL``'s alone."""
        if writer is not None:
            scans = [self._writer_scan(writer)]
        elif self.shared:
            scans = self._writer_scans()
        else:
            return self._media_of(self._scanned(), key, superseded, None)
        return [item for w in scans for item in self._media_of(w.scan, key, superseded, w.label)]

    def _media_of(self, scan: RecordScan, key: str, superseded: bool, label: Optional[str]) -> List[Dict[str, Any]]:
        out = []
        for step, _t, v in scan.metrics.media_items(key, superseded):
            for ref in media_refs(v) or ():  # every writer's files lie in the run's media/ folder
                item = dict(ref)
                item["type"] = item.pop(MEDIA_TYPE)
                item["path"] = os.path.join(self.path, ref["path"])
                if type(ref.get("files")) is list:  # a table's image cells, absolute like its path
                    item["files"] = [os.path.join(self.path, f) for f in ref["files"]]
                item["step"] = step
                if label is not None:
                    item["writer"] = label
                out.append(item)
        return out

    def summary(self) -> Dict[str, Any]:
        """Last value of each metric key, with values set through ``run.summary`` on top.

        Starts from ``run.json``'s summary (kept current by the writer), then what the records say.
        """
        scan = self._scanned()
        out = {k: v for k, v in untag_values(self.meta.get("summary")).items() if not k.startswith("sys/")}
        out.update(scan.metrics.last_values())
        out.update(scan.summary)
        return out

    def meta_summary(self) -> Dict[str, Any]:
        """The summary as ``run.json`` has it, without reading records (what ``seetrain ls`` shows)."""
        return untag_values(self.meta.get("summary"))

    def console(self, writer: Optional[str] = None) -> List[ConsoleLine]:
        """Captured stdout/stderr lines, in order (read on demand, not kept); a shared run: the
        primary's, or ``writer=LABEL``'s."""
        out = []
        folder = self.path if writer is None else self._writer_scan(writer).folder
        for chunk in iter_chunks(records_path(folder)):
            out.extend(ConsoleLine(r.get("time"), r.get("stream", "stdout"), r.get("line", ""))
                       for r in chunk.records if r["type"] == "console")
        return out

    def iter_records(self, writer: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """Every record, in file order, streamed (bounded memory). A shared run: every writer's,
        writer by writer (the primary first), each record with its ``writer`` label added; or
        ``writer=LABEL``'s alone (as written)."""
        if writer is not None:
            for chunk in iter_chunks(records_path(self._writer_scan(writer).folder)):
                yield from chunk.records
            return
        if not self.shared:
            for chunk in iter_chunks(records_path(self.path)):
                yield from chunk.records
            return
        for w in self.writers:
            for chunk in iter_chunks(records_path(w.folder)):
                for rec in chunk.records:
                    rec["writer"] = w.label
                    yield rec

    def records(self) -> List[Dict[str, Any]]:
        """Every record as a list (several times the file size in memory: prefer iter_records)."""
        return list(self.iter_records())

    def iter_data(self) -> Iterator[Dict[str, Any]]:
        """The ``metrics`` records, streamed."""
        return (r for r in self.iter_records() if r["type"] == "metrics")

    def rows(self, keys: Optional[List[str]] = None) -> Iterator[Row]:
        """One :class:`Row` per metrics record that has a scalar of ``keys`` (default: all)."""
        table = self._scanned().metrics
        keys = sorted(table.keys) if keys is None else [k for k in keys if k in table.keys]
        cols = [(k, table.keys[k].rows, table.keys[k].values) for k in keys]
        pos = [0] * len(cols)
        live = table.live
        for row in range(len(table)):
            values = {}
            for i, (k, rows, vals) in enumerate(cols):
                p = pos[i]
                if p < len(rows) and rows[p] == row:
                    values[k] = vals[p]
                    pos[i] = p + 1
            if values and live(row):
                yield Row(table.steps[row], table.times[row], values)

    @property
    def last_time(self) -> Optional[float]:
        """When the last metrics record was logged (``None`` if there is none)."""
        times = self._scanned().metrics.times
        return times[-1] if len(times) else None

    @property
    def last_step(self) -> Optional[int]:
        """The last user step (``run.json`` for format 2, else from the records)."""
        if self.format >= 2 and "last_step" in self.meta:
            return self.meta.get("last_step")
        steps = self._scanned().metrics.steps
        return max(steps) if len(steps) else None

    def __repr__(self) -> str:
        return f"<RunReader {self.project}/{self.name} id={self.id} status={self.status}>"


def read_run(path: "os.PathLike[str] | str") -> RunReader:
    """Open a run directory for reading (records are streamed on first use)."""
    return RunReader(path)


def list_runs(logdir: Optional[str] = None, project: Optional[str] = None) -> List[RunReader]:
    """Every run under ``logdir`` (default ``$SEETRAIN_LOGDIR`` or ``./seetrain_logs``), oldest first.

    Reads each ``run.json`` only; a run whose ``run.json`` cannot be read is left out.
    """
    logdir = default_logdir(logdir)
    runs: List[RunReader] = []
    if not os.path.isdir(logdir):
        return runs
    for proj in sorted(os.listdir(logdir)):
        if project is not None and proj != project:
            continue
        pdir = os.path.join(logdir, proj)
        if not os.path.isdir(pdir):
            continue
        for rid in sorted(os.listdir(pdir)):
            try:
                runs.append(RunReader(os.path.join(pdir, rid)))
            except (OSError, ValueError):
                continue
    runs.sort(key=lambda r: r.meta.get("start_time") or 0)
    return runs
