"""The ``seetrain ui`` watcher: follows the run directories under LOGDIR with the incremental reader
and feeds the dashboard's own index through the server's in-process ingest.

The index (a SQLite file under the user's cache folder) belongs to the dashboard; the training
processes only write their run directories, and the watcher only reads them: ``run.json`` (re-read
when its mtime changes) and ``records.jsonl`` from a byte offset per run, so a live run costs one
``stat`` and the new bytes per pass. A partial last line is "not yet" (the reader stops before
it); if it stays there the run page says so. The offsets are saved beside the index, so a restart
resumes instead of re-reading every run (records are stored by seq, so a re-read would only
cost time, never duplicate).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Set

import orjson

from ..rundir.stream import Chunk, read_records
from ..rundir.format import run_uuid
from ..rundir.safe_open import LinkRefused, open_in_run, open_nofollow
from .ingest import IngestError, IngestResult, ingest_run

log = logging.getLogger("seetrain.ui")

CHUNK_BYTES = 1 << 20  # bytes of records.jsonl ingested per run per pass: a long backlog never holds
                       # a live run's new points back for more than a fraction of a second


@dataclass
class RunState:
    """What the watcher knows of one run directory."""

    path: str
    uuid: str = ""
    offset: int = 0            # bytes of records.jsonl consumed
    last_seq: int = -1
    meta_mtime: float = 0.0
    size: int = 0              # records.jsonl size at the last pass
    torn_bytes: int = 0        # bytes after the last complete line (a writer mid-line, or killed mid-line)
    corrupt: int = 0           # complete lines that did not decode
    missing_media: int = 0     # media files referenced by records but absent
    rejected: int = 0          # records the index refused (e.g. a media path outside media/)
    rejected_reason: str = ""  # why, for the first of them
    missing: bool = False      # the directory vanished after it was indexed
    error: str = ""            # why the directory could not be read (empty when fine)
    refused_links: int = 0     # media files not read: symbolic links or special files (never followed)
    refused_reason: str = ""   # why, for the first of them


def _partial_tail(path: str, offset: int, size: int) -> int:
    """Bytes after ``offset`` when they hold no complete line (a line being written, or torn); else 0."""
    rest = size - offset
    if rest <= 0 or rest > (1 << 20):
        return 0
    try:
        with open_nofollow(os.path.join(path, "records.jsonl")) as f:
            f.seek(offset)
            tail = f.read(rest)
    except OSError:
        return 0
    return len(tail) if b"\n" not in tail else 0


class _MediaCopies:
    """The ingest's ``media_loader`` for one run: each media file is opened inside the run directory
    with no link followed (:func:`~seetrain.rundir.safe_open.open_in_run`) and copied to a private temp
    folder, so what the index stores is the file that was checked, never what a link points at."""

    def __init__(self, st: RunState, parent: Optional[str], misses: Set[str]) -> None:
        self.st, self.parent, self.misses, self.n = st, parent, misses, 0
        self.refused: Set[str] = set()
        self.folder: Optional[str] = None  # made on the first media file

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __call__(self, rel: str) -> Optional[str]:
        st = self.st
        try:
            src = open_in_run(st.path, rel)
        except LinkRefused as exc:
            if rel in self.refused:  # asked again (the ingest retries a refused batch in halves)
                return None
            self.refused.add(rel)
            st.refused_links += 1
            if not st.refused_reason:
                st.refused_reason = str(exc)[:500]
                log.warning("seetrain ui: %s", exc)
            return None
        except OSError:
            self.misses.add(rel)
            return None
        with src:
            if self.folder is None:
                self.folder = tempfile.mkdtemp(prefix=".media-copies-", dir=self.parent)
            self.n += 1
            copy = os.path.join(self.folder, f"{self.n}{os.path.splitext(rel)[1]}")
            with open(copy, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return copy


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
        self._load_state()

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
        return any(st.size == -1 for st in list(self.runs.values()))

    # --- one pass ----------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Scan for new runs when due, then ingest what is new in each run; returns records stored."""
        now = time.monotonic()
        if now - self._last_scan >= self.scan_every or not self.runs:
            self._scan()
            self._last_scan = now
        stored = 0
        for st in list(self.runs.values()):
            try:
                stored += self._follow(st)
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
                        self.runs[e.path] = RunState(path=e.path)
        for path, st in self.runs.items():
            st.missing = path not in seen and bool(st.uuid)

    def _follow(self, st: RunState) -> int:
        meta_path = os.path.join(st.path, "run.json")
        try:
            mtime = os.stat(meta_path).st_mtime
        except FileNotFoundError:
            st.missing = bool(st.uuid) and not os.path.isdir(st.path)
            return 0
        try:
            size = os.stat(os.path.join(st.path, "records.jsonl")).st_size
        except FileNotFoundError:  # nothing written yet
            size = 0
        if mtime == st.meta_mtime and size == st.size and st.uuid:
            return 0
        try:
            with open_nofollow(meta_path) as f:  # a run.json that is a link is refused, never followed
                meta = orjson.loads(f.read())
            if not isinstance(meta, dict):
                raise ValueError("run.json is not a JSON object")
        except (OSError, ValueError) as exc:
            if isinstance(exc, LinkRefused) and st.error != f"run.json: {exc}":
                log.warning("seetrain ui: %s", exc)  # the run has no uuid yet: the page cannot show it
            st.error = f"run.json: {exc}"
            return 0
        uuid = run_uuid(meta)
        if uuid != st.uuid or size < st.offset:  # a new run in this folder, or the file was rewritten
            st.uuid, st.offset, st.last_seq, st.corrupt = uuid, 0, -1, 0
        meta = dict(meta, uuid=uuid)
        meta.setdefault("project", os.path.basename(os.path.dirname(st.path)))
        meta.setdefault("id", os.path.basename(st.path))
        refused = ""
        try:
            chunk = read_records(st.path, st.offset, max_bytes=CHUNK_BYTES)
        except LinkRefused as exc:  # records.jsonl is a link: the run is shown, its records are not read
            chunk, refused = Chunk([], st.offset, 0), f"records.jsonl: {exc}"
        misses: Set[str] = set()
        media = _MediaCopies(st, self._copies_in, misses)
        try:
            res = self._ingest(st, meta, chunk.records, media)
        except IngestError as exc:  # run.json itself was refused
            st.error = exc.detail
            st.meta_mtime = mtime  # do not retry the same bad content every pass
            st.size = size
            return 0
        finally:
            media.close()
        if refused and st.error != refused:
            log.warning("seetrain ui: %s", refused)
        st.error = refused
        st.offset = chunk.next_offset
        st.last_seq = max(st.last_seq, res.last_seq)
        st.corrupt += chunk.corrupt
        st.missing_media += len(misses)
        st.torn_bytes = _partial_tail(st.path, st.offset, size)
        st.meta_mtime = mtime
        st.size = size if st.offset + st.torn_bytes >= size or refused else -1  # more to read: come back next pass
        st.missing = False
        self._dirty = True
        return res.stored

    def _ingest(self, st: RunState, meta: Dict[str, Any], recs: List[Dict[str, Any]], media: Any) -> IngestResult:
        """Store a chunk. When the index refuses the batch (it stores all or nothing), find the refused
        records by halving it and store the rest: one bad record must not hide the rest of a run."""
        try:
            return ingest_run(self.store, meta, recs, media_loader=media)
        except IngestError:
            if not recs:
                raise
        ingest_run(self.store, meta, [], media_loader=media)  # raises when run.json itself is refused
        return self._bisect(st, meta, recs, media)

    def _bisect(self, st: RunState, meta: Dict[str, Any], recs: List[Dict[str, Any]], media: Any) -> IngestResult:
        try:
            return ingest_run(self.store, meta, recs, media_loader=media)
        except IngestError as exc:
            if len(recs) == 1:
                st.rejected += 1
                st.rejected_reason = st.rejected_reason or exc.detail[:300]
                return IngestResult(0, 0, st.last_seq)
        mid = len(recs) // 2
        a, b = self._bisect(st, meta, recs[:mid], media), self._bisect(st, meta, recs[mid:], media)
        return IngestResult(a.stored + b.stored, a.duplicates + b.duplicates, max(a.last_seq, b.last_seq))

    # --- what the page is told ---------------------------------------------------------------
    def state(self) -> Dict[str, Any]:
        """``{"logdir", "runs": {uuid: {path, torn_bytes, corrupt, missing_media, missing, error, rejected,
        refused_links, refused_reason, ...}}}`` (``refused_links``: media files that are symbolic links or
        special files, never read)."""
        runs = {}
        for st in list(self.runs.values()):
            if st.uuid:
                runs[st.uuid] = {"path": st.path, "torn_bytes": st.torn_bytes, "corrupt": st.corrupt,
                                 "missing_media": st.missing_media, "missing": st.missing, "error": st.error,
                                 "rejected": st.rejected, "rejected_reason": st.rejected_reason,
                                 "refused_links": st.refused_links, "refused_reason": st.refused_reason}
        return {"logdir": self.logdir, "runs": runs}

    # --- offsets kept beside the index -------------------------------------------------------
    def _load_state(self) -> None:
        if not self.state_file or not os.path.isfile(self.state_file):
            return
        try:
            with open(self.state_file, "rb") as f:
                saved = orjson.loads(f.read())
            from .queries import get_run

            with self.store.read() as conn:
                for path, d in saved.items():
                    row = get_run(conn, d["uuid"])
                    if row is not None and row["last_seq"] == d["last_seq"]:  # the index holds what the offset says
                        self.runs[path] = RunState(path=path, uuid=d["uuid"], offset=d["offset"], last_seq=d["last_seq"],
                                                   corrupt=d.get("corrupt", 0), missing_media=d.get("missing_media", 0),
                                                   rejected=d.get("rejected", 0), rejected_reason=d.get("rejected_reason", ""),
                                                   refused_links=d.get("refused_links", 0),
                                                   refused_reason=d.get("refused_reason", ""))
        except Exception as exc:  # a damaged state file only costs a re-read
            log.warning("seetrain ui: ignoring %s (%s); runs are read again", self.state_file, exc)
            self.runs.clear()

    def _save_state(self, force: bool = False) -> None:
        if not self.state_file or not (self._dirty or force):
            return
        if not force and time.monotonic() - self._saved_at < 5.0:
            return
        keep = ("uuid", "offset", "last_seq", "corrupt", "missing_media", "rejected", "rejected_reason",
                "refused_links", "refused_reason")
        data = {p: {k: v for k, v in asdict(st).items() if k in keep} for p, st in self.runs.items() if st.uuid}
        tmp = self.state_file + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(data))
            os.replace(tmp, self.state_file)
            self._saved_at, self._dirty = time.monotonic(), False
        except OSError as exc:
            log.warning("seetrain ui: could not save %s (%s)", self.state_file, exc)
