"""The writing side of shared runs (format 3, ``seetrain.init(id=..., shared=True)``): which
writer this process is, the locks it holds, where its log and its state file lie, and how a
forked child of a writer becomes a writer of its own.

Who is primary: under a launcher that sets ``RANK``, rank 0 (decided, no race); otherwise the
first process that takes the run's lock. The primary writes the run directory's own
``records.jsonl`` and alone rewrites ``run.json``; every other writer writes
``writers/<label>/records.jsonl`` and ``writers/<label>/writer.json``
(:mod:`seetrain.rundir.writers`).
"""

from __future__ import annotations

import os
from typing import Any, Dict, NamedTuple, Optional, Union

from .rundir.files import RunLockedError, acquire_lock, release_lock
from .rundir.format import FORMAT, FORMAT_SHARED, WRITER_META, WRITERS_DIR, shared_run_uuid
from .rundir.writers import WriterIdentity, default_shared, fork_identity, writer_folder, writer_identity


class Place(NamedTuple):
    """Where this process writes: ``folder`` holds its ``records.jsonl`` and ``meta_name``."""

    folder: str
    meta_name: str       # run.json (the primary, or an unshared run) or writer.json
    primary: bool
    resumes: bool        # its own log exists already: this process continues its seqs
    label: str           # "" for an unshared run


def prepare(run: Any, shared: Optional[bool], writer: Optional[str], id_given: bool) -> None:
    """Set ``run.shared`` and ``run.writer`` (a :class:`WriterIdentity`, or None when not shared);
    a clear ``ValueError`` for a shared run without an id or with a bad writer label."""
    run.shared = default_shared(shared) and run.mode != "disabled"
    run.writer = None
    if not run.shared:
        if writer is not None and run.mode != "disabled":
            raise ValueError(f"seetrain.init(writer={writer!r}) names this process's writer of a shared run; "
                             "pass shared=True (and the same id= in every process) as well")
        return
    if not id_given:
        raise ValueError("seetrain.init(shared=True) needs id=: every process of a shared run passes the same "
                         "run id (or sets $SEETRAIN_RUN_ID), e.g. seetrain.init(id='exp-42', shared=True)")
    run.writer = writer_identity(writer)


def claim(run: Any, resume: Union[bool, str, None]) -> Place:
    """Take this process's locks (``run._lock_fd``: the run's, held by the primary and by an unshared
    run; ``run._label_lock_fd``: its writer label's) and say where it writes."""
    meta_path = os.path.join(run.dir, "run.json")
    if not run.shared:
        if _read_json(meta_path).get("shared"):
            raise ValueError(f"run {run.id!r} in {run.dir} is a shared run; join it with "
                             f"seetrain.init(id={run.id!r}, shared=True)")
        run._lock_fd = acquire_lock(run.dir)
        return Place(run.dir, "run.json", True, os.path.isfile(meta_path), "")
    ident: WriterIdentity = run.writer
    os.makedirs(os.path.join(run.dir, WRITERS_DIR), exist_ok=True)
    try:
        run._label_lock_fd = acquire_lock(os.path.join(run.dir, WRITERS_DIR), f".{ident.label}.lock")
    except RunLockedError:
        raise RunLockedError(f"writer {ident.label!r} of shared run {run.dir} is in use by a live process; give "
                             "each process its own label (seetrain.init(..., writer='...')) or leave it unset "
                             "(rank<RANK> under torchrun, else <host>-<pid>)") from None
    try:
        run_meta = _read_json(meta_path)
        if run_meta and not run_meta.get("shared"):
            raise ValueError(f"run {run.id!r} in {run.dir} exists and is not shared; a shared run needs an id of "
                             "its own (or leave shared= unset to resume this one)")
        if run_meta and resume == "never":
            raise ValueError(f"a run with id {run.id!r} already exists in {run.dir} and resume='never'")
        if not run_meta and resume == "must":
            raise ValueError(f"resume='must' but no run with id {run.id!r} exists under {run.logdir}/{run.project}")
        primary = _take_primary(run, ident)
        folder = run.dir if primary else writer_folder(run.dir, ident.label)
        os.makedirs(folder, exist_ok=True)
        resumes = os.path.isfile(os.path.join(folder, "records.jsonl"))
        return Place(folder, "run.json" if primary else WRITER_META, primary, resumes, ident.label)
    except BaseException:
        release(run)
        raise


def _take_primary(run: Any, ident: WriterIdentity) -> bool:
    """Whether this process is the primary: rank 0 under a launcher, else the first to take the run's
    lock (a label that wrote as another writer before stays one: its seqs go on in its own log)."""
    if ident.rank is not None and ident.rank != 0:
        return False
    if ident.rank is None and os.path.isfile(os.path.join(writer_folder(run.dir, ident.label), "records.jsonl")):
        return False
    try:
        run._lock_fd = acquire_lock(run.dir)
    except RunLockedError:
        if ident.rank == 0:
            raise
        return False
    return True


def release(run: Any) -> None:
    """Let go of both locks (finish, a failed start, a forked child's inherited copies)."""
    release_lock(run._lock_fd)
    release_lock(run._label_lock_fd)
    run._lock_fd = run._label_lock_fd = None


def run_uuid(run: Any) -> Optional[str]:
    """A shared run's uuid (the same on every machine), else None."""
    return shared_run_uuid(run.project, run.id) if run.shared else None


def describe(run: Any, place: Place, meta: Dict[str, Any]) -> Dict[str, Any]:
    """Add the writer's facts to its state file's ``meta``; returns the ``start`` event's extra fields."""
    if not run.shared:
        return {"format": FORMAT}
    ident: WriterIdentity = run.writer
    meta.update(format=FORMAT_SHARED, shared=True, rank=ident.rank, local_rank=ident.local_rank,
                world_size=ident.world_size)
    meta["writer" if place.primary else "label"] = ident.label
    run.primary = place.primary
    return {"format": FORMAT_SHARED, "writer": ident.label}


def ensure_run_json(run: Any, start_time: float) -> None:
    """A writer that is not primary, on a machine where the run has no ``run.json`` yet (another node,
    or rank 0 still starting): a minimal one, created exclusively, never rewritten by this process."""
    path = os.path.join(run.dir, "run.json")
    if os.path.exists(path):
        return
    import json

    meta = {"format": FORMAT_SHARED, "uuid": run.uuid, "id": run.id, "project": run.project, "shared": True,
            "status": "running", "start_time": start_time}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return  # the primary (or another writer) was first
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(meta, indent=2))


def _read_json(path: str) -> Dict[str, Any]:
    import json

    try:
        with open(path, "rb") as f:
            meta = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


# --- a forked child of a writer --------------------------------------------------------------------
def start_fork_writer(run: Any) -> None:
    """In a forked child (a fork pool or DataLoader worker) that logs into a shared run: become a
    writer of its own, ``{parent label}-fork{pid}``, with a fresh log, seqs and steps from 0 and its
    own writer thread. The inherited queue and writer stay untouched (they are the parent's)."""
    from .rundir.queue import EVENT, RecordQueue
    from .rundir.writer import RunWriter
    from .system import basic_environment
    import time

    old_queue, old_writer = run._queue, run._writer
    run.writer = fork_identity(run.writer)
    run._lock_fd = None
    run._label_lock_fd = acquire_lock(os.path.join(run.dir, WRITERS_DIR), f".{run.writer.label}.lock")
    place = Place(writer_folder(run.dir, run.writer.label), WRITER_META, False, False, run.writer.label)
    os.makedirs(place.folder, exist_ok=True)
    now = time.time()
    env = basic_environment()
    meta: Dict[str, Any] = {"uuid": run.uuid, "id": run.id, "project": run.project, "status": "running",
                            "mode": run.mode, "start_time": now, "end_time": None, "exit_code": None,
                            "error": None, "resumed_time": None, "forked_from_pid": run._pid}
    meta.update(env)
    event = describe(run, place, meta)
    queue = RecordQueue(0, 0, max_items=old_queue.max_items,
                        max_bytes=old_queue.max_bytes)
    queue.put(EVENT, {"event": "start", "uuid": run.uuid, "pid": env["pid"], "host": env["host"], **event})
    writer = RunWriter(run.dir, queue, meta, warn=run._writer_warning, flush_interval=old_writer.flush_interval,
                       heartbeat_interval=old_writer.heartbeat_interval, folder=place.folder,
                       meta_name=WRITER_META, label=place.label)
    run._queue, run._writer, run._env = queue, writer, None
    writer.write_meta(fsync=False, first=True)
    writer.start()
    writer.init_returned()
