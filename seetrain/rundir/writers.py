"""The writers of a shared run (format 3): who a writing process is, where its log and
``writer.json`` lie, and what state each writer (and so the run) is in.

A shared run is written by many processes (DDP ranks, nodes, fork-pool workers). The primary
writer's log is the run directory's own ``records.jsonl`` and its state is ``run.json``; every
other writer has ``writers/<label>/records.jsonl`` and ``writers/<label>/writer.json``. The
writing side (:mod:`seetrain.run_start`) and every reader (:mod:`.reader`, the follower, the
server's sync) enumerate writers through :func:`writer_states` and :func:`.files.writer_logs`.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

from .files import writer_logs
from .format import FINAL_STATUSES, PRIMARY_WRITER, RUNNING, WRITER_LABEL_MAX, WRITER_META, WRITERS_DIR, \
    known_status, valid_writer_label

HEARTBEAT_STALE_S = 30.0  # a running writer whose heartbeat is older than this has vanished
_SEVERITY = {"crashed": 4, "failed": 3, "killed": 2, "success": 1}  # the worst ending of several writers


# --- who writes ------------------------------------------------------------------------------------
class WriterIdentity(NamedTuple):
    """One writing process of a shared run, as its ``writer.json`` (or the primary's ``run.json``) names it."""

    label: str
    rank: Optional[int]         # $RANK (torchrun, Lightning, Accelerate), None outside a launcher
    local_rank: Optional[int]   # $LOCAL_RANK
    world_size: Optional[int]   # $WORLD_SIZE
    host: str
    pid: int


def _env_int(environ: Mapping[str, str], name: str) -> Optional[int]:
    try:
        return int(environ[name])
    except (KeyError, ValueError):
        return None


def _fit_label(text: str) -> str:
    """``text`` made a valid label: other characters become ``-``, cut to the longest allowed."""
    out = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in text).lstrip(".")
    return (out or "writer")[:WRITER_LABEL_MAX]


def writer_identity(label: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> WriterIdentity:
    """This process as a writer: its ``label`` is the user's (checked: ``ValueError`` with what to
    use), else ``rank{RANK}`` under a launcher that sets ``RANK``, else ``{host}-{pid}``."""
    env = os.environ if environ is None else environ
    host, pid = os.uname().nodename, os.getpid()
    rank = _env_int(env, "RANK")
    if label is None:
        label = f"rank{rank}" if rank is not None else _fit_label(f"{host}-{pid}")
    elif not valid_writer_label(label):
        raise ValueError(f"seetrain.init(writer={label!r}): a writer label is 1 to {WRITER_LABEL_MAX} letters, "
                         "digits, '.', '_' or '-', not starting with '.' (it names the writer's folder "
                         "writers/<label>/ in the run directory), e.g. writer='eval' or writer='rank3'")
    return WriterIdentity(label, rank, _env_int(env, "LOCAL_RANK"), _env_int(env, "WORLD_SIZE"), host, pid)


def fork_identity(parent: WriterIdentity) -> WriterIdentity:
    """A forked child of writer ``parent``: ``{parent label}-fork{pid}`` (the parent's part cut to fit)."""
    pid = os.getpid()
    suffix = f"-fork{pid}"
    return parent._replace(label=parent.label[:WRITER_LABEL_MAX - len(suffix)] + suffix, pid=pid)


def writer_folder(run_dir: str, label: str) -> str:
    """Where a non-primary writer's ``records.jsonl`` and ``writer.json`` lie."""
    return os.path.join(run_dir, WRITERS_DIR, label)


def label_lock_path(run_dir: str, label: str) -> str:
    """The lock one live writer of ``label`` holds (the primary too): no two processes write as one
    label. A hidden file beside the writers' folders (never a valid label, so never listed)."""
    return os.path.join(run_dir, WRITERS_DIR, f".{label}.lock")


def default_shared(shared: Optional[bool], environ: Optional[Mapping[str, str]] = None) -> bool:
    """``shared`` as given, else ``$SEETRAIN_SHARED`` (``1``/``true``/``yes``/``on``); off by default,
    under torchrun, Lightning and Accelerate too (their ranks join one run when asked: the
    adapters' every-rank option passes ``shared=True``)."""
    if shared is not None:
        return bool(shared)
    value = (os.environ if environ is None else environ).get("SEETRAIN_SHARED", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


# --- what state they are in ----------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host lives (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b")")[-1].split()[0] != b"Z"
    except OSError:
        return True


def heartbeat_age(meta: Mapping[str, Any]) -> Optional[float]:
    """Seconds since the heartbeat in ``meta`` (``None`` without one)."""
    try:
        return max(time.time() - float(meta["heartbeat"]), 0.0)
    except (KeyError, TypeError, ValueError):
        return None


def meta_alive(meta: Mapping[str, Any]) -> bool:
    """Whether the process ``meta`` (a ``run.json`` or ``writer.json``) describes still writes: status
    ``running``, a fresh heartbeat and, on this host, a live pid (so a SIGKILLed writer reads as
    dead at once); without a heartbeat, the pid alone."""
    if meta.get("status") != RUNNING:
        return False
    pid = meta.get("pid")
    on_this_host = bool(pid) and meta.get("host") == os.uname().nodename
    try:
        if on_this_host and not pid_alive(int(pid)):
            return False
    except (TypeError, ValueError):
        on_this_host = False
    age = heartbeat_age(meta)
    if age is not None:
        return age < HEARTBEAT_STALE_S
    return on_this_host


def meta_status(meta: Mapping[str, Any]) -> str:
    """The status ``meta`` says, with ``running`` only while its process lives (else ``crashed``);
    a status no run ends with, the ending its exit code gives (:func:`~.format.known_status`)."""
    status = known_status(meta.get("status"), meta.get("exit_code")) or "unknown"
    if status != RUNNING:
        return status
    return RUNNING if meta_alive(meta) else "crashed"


class WriterState(NamedTuple):
    """One writer of a run as its ``writer.json`` (the primary: ``run.json``) says now."""

    label: str                  # the primary's too (``run.json``'s ``writer``; "" for an unshared run)
    primary: bool
    status: str                 # running (alive), success, failed, killed, crashed (vanished included)
    exit_code: Optional[int]
    rank: Optional[int]
    host: Optional[str]
    pid: Optional[int]
    n_records: int              # records written (the writer's count, current to its last heartbeat)
    folder: str                 # its records.jsonl lies here (the run directory for the primary)


def read_writer_meta(folder: str) -> Dict[str, Any]:
    """``writer.json`` of a writer folder (``{}`` when absent or unreadable: a writer that was
    killed before its first heartbeat)."""
    from . import records
    from .safe_open import open_nofollow

    try:
        with open_nofollow(os.path.join(folder, WRITER_META)) as f:
            meta = records.loads(f.read())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _int_or_none(value: Any) -> Optional[int]:
    return value if type(value) is int else None


def _state(label: str, primary: bool, folder: str, meta: Mapping[str, Any]) -> WriterState:
    status = meta_status(meta) if meta else "crashed"
    return WriterState(label, primary, status, _int_or_none(meta.get("exit_code")), _int_or_none(meta.get("rank")),
                       meta.get("host"), _int_or_none(meta.get("pid")), _int_or_none(meta.get("records")) or 0, folder)


def primary_label(run_meta: Mapping[str, Any]) -> str:
    """The primary writer's label (``run.json``'s ``writer``; ``""`` for a run that is not shared)."""
    label = run_meta.get("writer")
    return label if isinstance(label, str) else PRIMARY_WRITER


def writer_states(run_dir: str, run_meta: Mapping[str, Any]) -> List[WriterState]:
    """Every writer of the run in ``run_dir`` whose ``run.json`` is ``run_meta``: the primary first
    (when it has written: a second node's run directory may hold other writers only), then the
    others in label order."""
    out: List[WriterState] = []
    for log in writer_logs(run_dir):
        if log.label == PRIMARY_WRITER:
            out.append(_state(primary_label(run_meta), True, log.folder, run_meta))
        else:
            out.append(_state(log.label, False, log.folder, read_writer_meta(log.folder)))
    return out


def combined_status(states: List[WriterState]) -> str:
    """A run's status from its writers': ``running`` while any writer lives; then ``crashed`` if
    any writer crashed (or vanished); else the primary's, or the worst of them without one."""
    if not states:
        return "unknown"
    if any(s.status == RUNNING for s in states):
        return RUNNING
    if any(s.status == "crashed" for s in states):
        return "crashed"
    for s in states:
        if s.primary and s.status in FINAL_STATUSES:
            return s.status
    return max((s.status for s in states), key=lambda st: _SEVERITY.get(st, 0))
