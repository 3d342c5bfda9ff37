"""The ``seetrain ui`` watcher: a scan of LOGDIR for run directories, and one follower
(:mod:`seetrain.rundir.follow`) per run feeding the dashboard's index through the local sink
(:mod:`.local_sink`, the server's in-process ingest).

The index (a SQLite file under the user's cache folder) belongs to the dashboard; the training
processes only write their run directories, and the watcher only reads them. A live run costs two
``stat`` calls and the new bytes per pass. The followers' cursors are saved beside the index, so a
restart resumes instead of re-reading every run (records are stored by seq, so a re-read would
only cost time, never duplicate).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import orjson

from ..rundir.files import writer_logs
from ..rundir.follow import Cursor, Follower, Refused
from ..rundir.format import WRITER_META, WRITERS_DIR, valid_writer_label
from ..rundir.safe_open import LinkRefused
from .local_sink import LocalSink

log = logging.getLogger("seetrain.ui")
_WRITER_KEY = "\0writer:"  # a saved cursor of a shared run's other writer: "<run path>\0writer:<label>"


def _writer_last_seq(conn: Any, uuid: str, label: str) -> Optional[int]:
    from sqlalchemy import select

    from .db.models import run_writers

    w = run_writers.c
    row = conn.execute(select(w.last_seq).where(w.run_uuid == uuid, w.writer == label)).first()
    return row[0] if row else None

CHUNK_BYTES = 1 << 20  # bytes of records.jsonl ingested per run per pass: a long backlog never holds
                       # a live run's new points back for more than a fraction of a second


@dataclass
class RunState:
    """What the watcher knows of one run directory: its follower (and cursor) and how it went."""

    path: str
    follower: Follower
    missing: bool = False          # the directory vanished after it was indexed
    error: str = ""                # why the directory could not be read (empty when fine)
    seen: Tuple[int, int, int] = (0, 0, -1)  # run.json mtime, its size, records.jsonl size at the last pass
    stale: Optional[Tuple[int, int]] = field(default=None)  # run.json signature the index refused
    writers: Dict[str, Follower] = field(default_factory=dict)  # a shared run's other writers' followers
    writers_seen: Dict[str, Tuple[int, int, int]] = field(default_factory=dict)  # as ``seen``, per writer

    @property
    def cursor(self) -> Cursor:
        return self.follower.cursor

    @property
    def uuid(self) -> str:
        return self.cursor.uuid

    @property
    def offset(self) -> int:
        return self.cursor.offset


class Watcher:
    """Polls ``logdir/<project>/<run>/`` every ``interval`` seconds (new runs every ``scan_every``)."""

    def __init__(self, logdir: str, store: Any, state_file: Optional[str] = None,
                 interval: float = 0.25, scan_every: float = 2.0) -> None:
        self.logdir = os.path.abspath(logdir)
        self.store = store
        self.state_file = state_file
        self.interval, self.scan_every = interval, scan_every
        self.runs: Dict[str, RunState] = {}
        self._last_scan = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._saved_at = 0.0
        self._dirty = False
        self._copies_in = os.path.dirname(os.path.abspath(state_file)) if state_file else None  # beside the index
        self.after_scan: List[Callable[[], Any]] = []  # called after each scan (e.g. the log folder's edits)
        self._load_state()

    def _add(self, path: str, cursor: Optional[Cursor] = None) -> RunState:
        cursor = cursor or Cursor()
        sink = LocalSink(self.store, path, cursor, self._copies_in)
        st = self.runs[path] = RunState(path, Follower(path, sink, cursor, self.store.settings.max_batch_records,
                                                       CHUNK_BYTES))
        return st

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self._loop, name="seetrain-ui-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._save_state(force=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the dashboard keeps serving what it has; say why once per pass
                log.exception("seetrain ui: reading %s failed", self.logdir)
            if not self.behind():  # with a backlog, go straight on (live runs are served every pass)
                self._stop.wait(self.interval)

    def behind(self) -> bool:
        """True while some run has bytes left to read (a backlog larger than one pass takes)."""
        return any(st.seen[2] == -1 or -1 in (s[2] for s in st.writers_seen.values())
                   for st in list(self.runs.values()))

    # --- one pass ----------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Scan for new runs when due, then ingest what is new in each run; returns records stored."""
        now = time.monotonic()
        if now - self._last_scan >= self.scan_every or not self.runs:
            self._scan()
            self._last_scan = now
            for fn in self.after_scan:
                fn()
        stored = 0
        for st in list(self.runs.values()):
            try:
                stored += self._follow(st) + self._follow_writers(st)
            except Exception as exc:  # one unreadable run never stops the others; the page says why
                st.error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("seetrain ui: %s: %s", st.path, st.error)
        self._save_state()
        return stored

    def _scan(self) -> None:
        try:
            projects = sorted(os.scandir(self.logdir), key=lambda e: e.name)
        except FileNotFoundError:
            projects = []
        seen = set()
        for proj in projects:
            if not proj.is_dir() or proj.name.startswith("."):
                continue
            try:
                entries = list(os.scandir(proj.path))
            except OSError:
                continue
            for e in entries:
                if e.is_dir() and os.path.isfile(os.path.join(e.path, "run.json")):
                    seen.add(e.path)
                    if e.path not in self.runs:
                        self._add(e.path)
        for path, st in self.runs.items():
            st.missing = path not in seen and bool(st.uuid)

    def _follow(self, st: RunState) -> int:
        """One step of the run's follower, when run.json or records.jsonl changed; records stored."""
        try:
            mst = os.stat(os.path.join(st.path, "run.json"))
        except FileNotFoundError:
            st.missing = bool(st.uuid) and not os.path.isdir(st.path)
            return 0
        try:
            size = os.stat(os.path.join(st.path, "records.jsonl")).st_size
        except FileNotFoundError:  # nothing written yet
            size = 0
        seen = (mst.st_mtime_ns, mst.st_size, size)
        if seen == st.seen and st.uuid:
            return 0
        f, sink = st.follower, st.follower.sink
        if (mst.st_mtime_ns, mst.st_size) == st.stale:
            return 0  # the index refused this run.json: not again until it changes
        try:
            f.sync_meta()
        except (OSError, ValueError) as exc:
            if isinstance(exc, LinkRefused) and st.error != f"run.json: {exc}":
                log.warning("seetrain ui: %s", exc)  # the run has no uuid yet: the page cannot show it
            st.error = f"run.json: {exc}"
            return 0
        except Refused as exc:  # the index refuses run.json itself
            st.error, st.stale = exc.detail, (mst.st_mtime_ns, mst.st_size)
            return 0
        before, refused = sink.stored, ""
        try:
            f.step()
        except LinkRefused as exc:  # records.jsonl is a link: the run is shown, its records are not read
            refused = f"records.jsonl: {exc}"
        if refused and st.error != refused:
            log.warning("seetrain ui: %s", refused)
        st.error, st.stale, st.missing = refused, None, False
        st.seen = seen if refused or not f.behind() else (seen[0], seen[1], -1)  # more to read: next pass
        self._dirty = True
        return sink.stored - before

    def _add_writer(self, st: RunState, label: str, cursor: Optional[Cursor] = None) -> Follower:
        """The follower of the shared run ``st``'s writer ``label`` (``writers/<label>/``)."""
        cursor = cursor or Cursor()
        f = st.writers[label] = Follower(
            os.path.join(st.path, WRITERS_DIR, label), LocalSink(self.store, st.path, cursor, self._copies_in, writer=label),
            cursor, self.store.settings.max_batch_records, CHUNK_BYTES, meta_name=WRITER_META)
        return f

    def _follow_writers(self, st: RunState) -> int:
        """One step of each other writer's follower of a shared run (``writers/<label>/``) whose
        writer.json or records.jsonl changed; records stored. A writer's unreadable files are said in
        ``st.error`` and never stop the others."""
        if not st.writers and not os.path.isdir(os.path.join(st.path, WRITERS_DIR)):
            return 0
        stored = 0
        for wlog in writer_logs(st.path):
            if not wlog.label:
                continue
            f = st.writers.get(wlog.label) or self._add_writer(st, wlog.label)
            try:
                mst = os.stat(os.path.join(wlog.folder, WRITER_META))
                seen = (mst.st_mtime_ns, mst.st_size, os.stat(wlog.records_path).st_size)
            except FileNotFoundError:
                continue  # writer.json not written yet: next pass
            if seen == st.writers_seen.get(wlog.label):
                continue
            before = f.sink.stored
            try:
                f.sync_meta()
                f.step()
            except (OSError, ValueError, Refused) as exc:
                st.error = f"writer {wlog.label}: {getattr(exc, 'detail', None) or exc}"[:500]
                st.writers_seen[wlog.label] = seen
                continue
            st.writers_seen[wlog.label] = seen if not f.behind() else (seen[0], seen[1], -1)
            stored += f.sink.stored - before
            self._dirty = True
        return stored

    # --- what the page is told ---------------------------------------------------------------
    def state(self) -> Dict[str, Any]:
        """``{"logdir", "runs": {uuid: {path, torn_bytes, corrupt, missing_media, missing, error, rejected,
        refused_links, refused_reason, ...}}}`` (``refused_links``: media files that are symbolic links or
        special files, never read)."""
        runs = {}
        for st in list(self.runs.values()):
            if st.uuid:
                c = st.cursor
                runs[st.uuid] = {"path": st.path, "torn_bytes": c.torn_bytes, "corrupt": c.corrupt,
                                 "missing_media": c.extra["missing_media"], "missing": st.missing, "error": st.error,
                                 "rejected": c.rejected, "rejected_reason": c.rejected_reason,
                                 "refused_links": c.extra["refused_links"],
                                 "refused_reason": c.extra["refused_reason"]}
        return {"logdir": self.logdir, "runs": runs}

    # --- cursors kept beside the index -------------------------------------------------------
    def _load_state(self) -> None:
        if not self.state_file or not os.path.isfile(self.state_file):
            return
        try:
            with open(self.state_file, "rb") as f:
                saved = orjson.loads(f.read())
            from .queries import get_run

            with self.store.read() as conn:
                for path, d in saved.items():
                    if _WRITER_KEY in path:
                        continue
                    row = get_run(conn, d["uuid"])
                    if row is not None and row["last_seq"] == d["last_seq"]:  # the index holds what the offset says
                        self._add(path, Cursor.from_dict(d))
                for key, d in saved.items():  # a shared run's other writers, each by its own last seq
                    path, _, label = key.partition(_WRITER_KEY)
                    st = self.runs.get(path) if label else None
                    if st is not None and valid_writer_label(label) and _writer_last_seq(conn, d["uuid"], label) == d["last_seq"]:
                        self._add_writer(st, label, Cursor.from_dict(d))
        except Exception as exc:  # a damaged state file only costs a re-read
            log.warning("seetrain ui: ignoring %s (%s); runs are read again", self.state_file, exc)
            self.runs.clear()

    def _save_state(self, force: bool = False) -> None:
        if not self.state_file or not (self._dirty or force):
            return
        if not force and time.monotonic() - self._saved_at < 5.0:
            return
        data = {p: st.cursor.to_dict() for p, st in self.runs.items() if st.uuid}
        data.update((f"{p}{_WRITER_KEY}{label}", f.cursor.to_dict()) for p, st in self.runs.items()
                    for label, f in st.writers.items() if f.cursor.uuid)
        tmp = self.state_file + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(data))
            os.replace(tmp, self.state_file)
            self._saved_at, self._dirty = time.monotonic(), False
        except OSError as exc:
            log.warning("seetrain ui: could not save %s (%s)", self.state_file, exc)
