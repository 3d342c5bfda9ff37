"""``seetrain ui``'s curation over a log folder: the dashboard's edits go to the folder's sidecars
and trash (:mod:`seetrain.rundir.edits`), never into a run directory, and edits made meanwhile by
``seetrain tag/rm/...`` reach the dashboard's index on the watcher's next scan (:meth:`LocalEdits.poll`)."""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any, Dict, Optional, Tuple

from sqlalchemy import select, update

from ..rundir import edits
from ..rundir.reader import RunReader
from . import curation
from .db.models import runs
from .validate import IngestError

log = logging.getLogger("seetrain.ui")


def _said(fn):
    """A route's log-folder operation: a file system refusal becomes a JSON 409 saying what to do."""
    @functools.wraps(fn)
    def wrapper(self: "LocalEdits", uuid: str, *args: Any) -> Any:
        try:
            return fn(self, uuid, *args)
        except FileExistsError as exc:
            raise IngestError(409, f"run {uuid}: {exc}") from None
        except OSError as exc:
            raise IngestError(409, f"run {uuid}: the log folder {self.logdir} refused the change "
                                   f"({exc.strerror or exc}); make it writable and try again") from None
    return wrapper


class LocalEdits:
    """The log folder side of the curation routes, and the sidecars' follower."""

    def __init__(self, logdir: str, store: Any, watcher: Any) -> None:
        self.logdir, self.store, self.watcher = os.path.abspath(logdir), store, watcher
        self._seen: Dict[str, Tuple[int, int]] = {}  # uuid -> (mtime_ns, size) of the sidecar applied

    # --- the routes' side ----------------------------------------------------------------------
    def _path(self, uuid: str) -> Optional[str]:
        st = self.watcher.state()["runs"].get(uuid)
        if st and os.path.isdir(st["path"]):
            return st["path"]
        for p in edits.trashed_runs(self.logdir):
            try:
                if RunReader(p).uuid == uuid:
                    return p
            except (OSError, ValueError):
                continue
        return None

    @_said
    def save_edit(self, uuid: str, row: Dict[str, Any]) -> None:
        changes: Dict[str, Any] = {"notes": row.get("notes") or "", "archived": row.get("archived")}
        for k in row.get("edited") or ():
            if k in ("name", "tags"):
                changes[k] = row[k]
        edits.save(self.logdir, uuid, changes)

    @_said
    def delete(self, uuid: str) -> None:
        path = self._path(uuid)
        if path is None or edits.in_trash(path):
            edits.save(self.logdir, uuid, {"deleted": edits.load(self.logdir, uuid).get("deleted") or time.time()})
            return
        if RunReader(path).alive:
            raise IngestError(409, f"run {uuid} is still running in {path}; stop it before deleting it")
        edits.move_to_trash(path, uuid)

    @_said
    def restore(self, uuid: str) -> None:
        path = self._path(uuid)
        if path is not None and edits.in_trash(path):
            edits.restore_from_trash(path, uuid)
        else:
            edits.save(self.logdir, uuid, {"deleted": None})

    @_said
    def purge(self, uuid: str) -> None:
        path = self._path(uuid)
        if path is not None:
            edits.purge(path, uuid)

    # --- the watcher's side --------------------------------------------------------------------
    def poll(self) -> int:
        """Apply the sidecars that changed since the last pass to the index; returns how many."""
        n = 0
        for uuid, sig in edits.sidecars(self.logdir).items():
            if self._seen.get(uuid) == sig:  # a stat per sidecar a pass; only changed ones are read
                continue
            try:
                if self._apply(uuid, edits.load(self.logdir, uuid)):
                    self._seen[uuid] = sig
                    n += 1
            except Exception as exc:  # one bad sidecar never stops the others
                log.warning("seetrain ui: edits of run %s: %s", uuid, exc)
        return n

    def _apply(self, uuid: str, d: Dict[str, Any]) -> bool:
        """The sidecar ``d`` onto the index row; False while the run is not indexed yet."""
        if d.get("purged"):
            with self.store.read() as conn:
                present = conn.execute(select(runs.c.uuid).where(runs.c.uuid == uuid)).first() is not None
            if present:
                curation.purge(self.store, uuid)
            return True
        with self.store.write() as conn:
            row = conn.execute(select(runs.c.edited).where(runs.c.uuid == uuid)).first()
            if row is None:
                return False
            edited = set(row[0] or [])
            values: Dict[str, Any] = {k: d[k] for k in ("notes", "archived", "deleted") if k in d}
            for k in ("name", "tags"):
                if k in d:
                    values[k] = d[k]
                    edited.add(k)
            values["edited"] = sorted(edited)
            conn.execute(update(runs).where(runs.c.uuid == uuid).values(**values))
        return True
