"""A log folder's curation, kept beside its runs and never inside them.

A run directory belongs to the process that writes it, and ``seetrain ui`` promises never to write
into one. So what a user sets afterwards (name, tags, notes, archived, deleted) lives in a sidecar
per run, ``<logdir>/.seetrain/edits/<run uuid>.json``, which the reader applies
(:func:`seetrain.read_run`, :func:`seetrain.list_runs`, ``seetrain ls``), ``seetrain ui`` shows and
``seetrain sync`` sends to a server. A deleted run is moved whole to ``<logdir>/.trash/<project>/<run>``
(restorable); a purge removes it and leaves a tombstone sidecar (``purged``) so a running
``seetrain ui`` drops it from its index too. Names starting with ``.`` are never runs or projects.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

import orjson

EDITS_DIR = os.path.join(".seetrain", "edits")
TRASH_DIR = ".trash"
USER_FIELDS = ("name", "tags", "notes", "archived", "deleted", "purged")
_UUID = re.compile(r"^[0-9a-f]{32}$")


def logdir_of(run_path: str) -> str:
    """The log folder of a run directory ``<logdir>/<project>/<run>`` (or ``<logdir>/.trash/<project>/<run>``)."""
    up = os.path.dirname(os.path.dirname(os.path.abspath(run_path)))
    return os.path.dirname(up) if os.path.basename(up) == TRASH_DIR else up


def edits_path(logdir: str, uuid: str) -> str:
    if not _UUID.match(uuid or ""):
        raise ValueError(f"not a run uuid: {str(uuid)[:40]!r}")
    return os.path.join(logdir, EDITS_DIR, f"{uuid}.json")


def load(logdir: str, uuid: Optional[str]) -> Dict[str, Any]:
    """The run's sidecar (``{}`` when it has none, or it is unreadable)."""
    if not uuid or not _UUID.match(uuid):
        return {}
    try:
        with open(edits_path(logdir, uuid), "rb") as f:
            d = orjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    return {k: d[k] for k in USER_FIELDS if k in d} if isinstance(d, dict) else {}


def save(logdir: str, uuid: str, changes: Dict[str, Any]) -> Dict[str, Any]:
    """Merge ``changes`` (fields of :data:`USER_FIELDS`) into the sidecar, written atomically; returns it."""
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise ValueError(f"not a run edit: {sorted(unknown)}")
    path = edits_path(logdir, uuid)
    d = {**load(logdir, uuid), **changes}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps({"uuid": uuid, **d, "updated": time.time()}))
    os.replace(tmp, path)
    return d


def applied(meta: Dict[str, Any], run_path: str) -> Dict[str, Any]:
    """``meta`` (a run.json) with the user's edits of its log folder applied: ``name`` and ``tags``
    replaced when edited, ``notes``, ``archived`` and ``deleted`` (times or None) added."""
    d = load(logdir_of(run_path), meta.get("uuid"))
    if not d:
        return meta
    out = dict(meta)
    for k in ("name", "tags", "notes", "archived", "deleted"):
        if k in d:
            out[k] = d[k]
    return out


def trash_path(run_path: str) -> str:
    """Where ``<logdir>/<project>/<run>`` goes when deleted."""
    run_path = os.path.abspath(run_path)
    project_dir = os.path.dirname(run_path)
    return os.path.join(os.path.dirname(project_dir), TRASH_DIR, os.path.basename(project_dir),
                        os.path.basename(run_path))


def in_trash(run_path: str) -> bool:
    return os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(run_path)))) == TRASH_DIR


def _move(src: str, dest: str) -> str:
    if os.path.exists(dest):
        raise FileExistsError(f"{dest} exists already; move or remove it first")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.rename(src, dest)  # the same file system: the run moves whole, its files untouched
    return dest


def move_to_trash(run_path: str, uuid: Optional[str]) -> str:
    """Soft-delete a run: its directory moves to the trash, the sidecar says when. Returns the new path."""
    dest = _move(run_path, trash_path(run_path))
    if uuid:
        save(logdir_of(dest), uuid, {"deleted": time.time()})
    return dest


def restore_from_trash(trashed: str, uuid: Optional[str]) -> str:
    """Bring a deleted run back to ``<logdir>/<project>/<run>``. Returns its path."""
    trashed = os.path.abspath(trashed)
    logdir = logdir_of(trashed)
    dest = os.path.join(logdir, os.path.basename(os.path.dirname(trashed)), os.path.basename(trashed))
    _move(trashed, dest)
    if uuid:
        save(logdir, uuid, {"deleted": None})
    return dest


def purge(run_path: str, uuid: Optional[str]) -> None:
    """Remove a run directory for good (from the trash or in place); its sidecar becomes a tombstone."""
    logdir = logdir_of(run_path)
    shutil.rmtree(run_path)
    if uuid:
        path = edits_path(logdir, uuid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(orjson.dumps({"uuid": uuid, "purged": time.time(), "updated": time.time()}))
        os.replace(tmp, path)


def trashed_runs(logdir: str) -> List[str]:
    """The run directories in the log folder's trash."""
    root = os.path.join(logdir, TRASH_DIR)
    out: List[str] = []
    if not os.path.isdir(root):
        return out
    for proj in sorted(os.listdir(root)):
        pdir = os.path.join(root, proj)
        if os.path.isdir(pdir):
            out.extend(os.path.join(pdir, r) for r in sorted(os.listdir(pdir))
                       if os.path.isfile(os.path.join(pdir, r, "run.json")))
    return out


def sidecars(logdir: str) -> Dict[str, Tuple[int, int]]:
    """Every sidecar of the log folder: uuid -> (mtime_ns, size) of its file (nothing is read)."""
    root = os.path.join(logdir, EDITS_DIR)
    out: Dict[str, Tuple[int, int]] = {}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return out
    for e in entries:
        uuid = e.name[:-5]
        if e.name.endswith(".json") and _UUID.match(uuid):
            try:
                st = e.stat()
            except OSError:
                continue
            out[uuid] = (st.st_mtime_ns, st.st_size)
    return out
