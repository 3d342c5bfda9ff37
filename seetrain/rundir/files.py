"""The run directory on disk: names, the writer lock, whole-line appends, resume from the tail.

Everything here is about files; nothing here knows about queues or threads other than the lock
that keeps a :class:`RecordFile` append whole.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from typing import Any, List, NamedTuple, Optional, Tuple

TAIL_BYTES = 256 << 10  # bytes read from the end of records.jsonl to resume (grows only for huge lines)


class WriterLog(NamedTuple):
    """One writer's log in a run directory (format 3, see :mod:`.format`)."""
    label: str         # PRIMARY_WRITER ("") for the run directory's own records.jsonl
    folder: str        # where its records.jsonl (and, for a non-primary writer, writer.json) lie
    records_path: str


def writer_logs(run_dir: str) -> List[WriterLog]:
    """Every writer's log of a run directory: the primary's (when ``records.jsonl`` exists) first,
    then ``writers/<label>/`` in label order (those with a valid label and a ``records.jsonl``)."""
    from .format import PRIMARY_WRITER, WRITERS_DIR, valid_writer_label

    out: List[WriterLog] = []
    own = os.path.join(run_dir, "records.jsonl")
    if os.path.exists(own):
        out.append(WriterLog(PRIMARY_WRITER, run_dir, own))
    try:
        labels = sorted(os.listdir(os.path.join(run_dir, WRITERS_DIR)))
    except OSError:
        return out
    for label in labels:
        folder = os.path.join(run_dir, WRITERS_DIR, label)
        path = os.path.join(folder, "records.jsonl")
        if valid_writer_label(label) and os.path.exists(path):
            out.append(WriterLog(label, folder, path))
    return out


class RunLockedError(RuntimeError):
    """Another live process is writing this run."""


def check_name(what: str, value: str) -> str:
    """``value`` if it is one safe folder name, else a ``ValueError`` that says what to use."""
    bad = (not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value
           or os.path.isabs(value) or len(value) > 200)
    if bad:
        raise ValueError(f"seetrain.init({what}={value!r}): a {what} must be a single folder name (not empty, "
                         "no '/', '\\', '..' or absolute path, at most 200 characters), so the run stays inside "
                         "the logdir. Use letters, digits, '-', '_' and '.'")
    return value


# --- the writer lock ---------------------------------------------------------------------------
def acquire_lock(run_dir: str, name: str = ".lock") -> int:
    """Hold ``run_dir/<name>`` (flock) for this process; refuse with a clear error if a live writer holds it.

    The kernel releases the lock when the process dies (SIGKILL and power loss included)."""
    path = os.path.join(run_dir, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        try:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
        except OSError:
            owner = "another process"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RunLockedError(f"run {run_dir} is being written by a live process ({owner}); a run has one "
                                 "writer at a time. Wait for it to finish, or start a new run with another id") from None
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
    except OSError:
        pass
    return fd


def release_lock(fd: Optional[int]) -> None:
    if fd is not None:
        try:
            os.close(fd)  # closing the last descriptor releases the flock
        except OSError:
            pass


# --- run.json ----------------------------------------------------------------------------------
def write_json_atomic(path: str, obj: Any, fsync: bool = True, plain: bool = False) -> None:
    """Write ``obj`` as JSON to a temp file and rename it over ``path`` (readers never see half a file).

    ``plain=True`` encodes with the standard library, for an ``obj`` of plain JSON values only (the
    first ``run.json`` of ``init()``, which so does not wait for the orjson import)."""
    if plain:
        import json

        data = json.dumps(obj, indent=2, default=str).encode()
    else:
        from . import records

        data = records.dumps(obj)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- records.jsonl -----------------------------------------------------------------------------
class RecordFile:
    """``records.jsonl`` opened for appending whole lines only.

    An append either lands completely or leaves the file as it was: a short or failed write
    (ENOSPC, EFBIG, EIO) is cut back to the last complete line, so the next record never glues
    onto half a line. Thread-safe (the writer and the media thread share it).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.size = os.fstat(self.fd).st_size  # bytes of complete lines
        self._dirty = False  # a failed write may have left bytes past self.size
        self.lock = threading.Lock()

    def append(self, data: bytes) -> Optional[OSError]:
        """Append ``data`` (complete lines); returns the error instead of raising."""
        with self.lock:
            if self._dirty and not self._cut():
                return OSError(errno.EIO, "a torn line could not be removed")
            done = 0
            try:
                view = memoryview(data)
                while done < len(data):
                    done += os.write(self.fd, view[done:])
            except OSError as exc:
                if done:
                    self._dirty = True
                    self._cut()
                return exc
            self.size += len(data)
            return None

    def _cut(self) -> bool:
        try:
            os.ftruncate(self.fd, self.size)
            self._dirty = False
            return True
        except OSError:
            return False

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


# --- resume ------------------------------------------------------------------------------------
class Tail(NamedTuple):
    """What the end of ``records.jsonl`` says about where a resumed run continues."""

    last_seq: int           # highest seq found (-1: none)
    last_step: int          # highest metrics step found (-1: none)
    missing: List[Tuple[int, int]]  # seq ranges assigned and never written (a crash mid-media)
    torn: bytes             # a partial last line (moved aside by :func:`cut_torn_tail`)
    good_size: int          # bytes up to the last complete line


def _carries_media(rec: dict) -> bool:
    data = rec.get("data")
    return isinstance(data, dict) and any(isinstance(v, (dict, list)) for v in data.values())


def read_tail(path: str, window: int = TAIL_BYTES) -> Tail:
    """Scan only the last ``window`` bytes of ``path``: its cost does not grow with the run's length."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return Tail(-1, -1, [], b"", 0)
    with f:
        size = os.fstat(f.fileno()).st_size
        while True:
            start = max(0, size - window)
            f.seek(start)
            raw = f.read(size - start)
            nl = raw.rfind(b"\n")
            if nl >= 0 or start == 0:
                break
            window *= 4  # one line longer than the window: look further back
    torn = raw[nl + 1:]
    body = raw[: nl + 1]
    lines = body.split(b"\n")[:-1]
    if start > 0 and lines:
        lines = lines[1:]  # the window began mid-line
    import orjson

    seqs: List[int] = []
    last_seq = last_step = -1
    anchor = None  # seq of the first plain record in the window: every later seq is in the window
    for line in lines:
        try:
            rec = orjson.loads(line)
            seq = int(rec["seq"])
        except Exception:
            continue
        seqs.append(seq)
        last_seq = max(last_seq, seq)
        step = rec.get("step")
        if isinstance(step, int) and rec.get("type", "metrics") == "metrics":
            last_step = max(last_step, step)
        if anchor is None and not _carries_media(rec):
            anchor = seq
    missing: List[Tuple[int, int]] = []
    if anchor is not None:
        present = set(seqs)
        run_start = None
        for s in range(anchor + 1, last_seq + 1):
            if s not in present:
                run_start = s if run_start is None else run_start
            elif run_start is not None:
                missing.append((run_start, s - 1))
                run_start = None
    return Tail(last_seq, last_step, missing, torn, size - len(torn))


def cut_torn_tail(path: str, tail: Tail) -> None:
    """Move a torn last line to ``records.jsonl.torn`` and truncate ``records.jsonl`` after its last whole line."""
    if not tail.torn:
        return
    with open(path + ".torn", "ab") as f:
        f.write(tail.torn + b"\n")
        f.flush()
        os.fsync(f.fileno())
    with open(path, "r+b") as f:
        f.truncate(tail.good_size)
        f.flush()
        os.fsync(f.fileno())
