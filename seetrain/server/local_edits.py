"""``seetrain ui``'s curation over a log folder: the dashboard's edits go to the folder's sidecars
and trash (:mod:`seetrain.rundir.edits`), never into a run directory, and edits made meanwhile by
``seetrain tag/rm/...`` reach the dashboard's index on the watcher's next scan (:meth:`LocalEdits.poll`)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Optional

from sqlalchemy import select, update

from ..rundir import edits
from ..rundir.reader import RunReader
from . import curation
from .db.models import runs
from .validate import IngestError

log = logging.getLogger("seetrain.ui")


class LocalEdits:
    """The log folder side of the curation routes, and the sidecars' follower."""

    def __init__(self, logdir: str, store: Any, watcher: Any) -> None:
        self.logdir, self.store, self.watcher = os.path.abspath(logdir), store, watcher
        self._seen: Dict[str, int] = {}  # uuid -> sidecar mtime applied to the index

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

    def save_edit(self, uuid: str, row: Dict[str, Any]) -> None:
        changes: Dict[str, Any] = {"notes": row.get("notes") or "", "archived": row.get("archived")}
        for k in row.get("edited") or ():
            if k in ("name", "tags"):
                changes[k] = row[k]
        edits.save(self.logdir, uuid, changes)

    def delete(self, uuid: str) -> None:
        path = self._path(uuid)
        if path is None or edits.in_trash(path):
            edits.save(self.logdir, uuid, {"deleted": edits.load(self.logdir, uuid).get("deleted") or time.time()})
            return
        if RunReader(path).alive:
            raise IngestError(409, f"run {uuid} is still running in {path}; stop it before deleting it")
        edits.move_to_trash(path, uuid)

    def restore(self, uuid: str) -> None:
        path = self._path(uuid)
        if path is not None and edits.in_trash(path):
            edits.restore_from_trash(path, uuid)
        else:
            edits.save(self.logdir, uuid, {"deleted": None})

    def purge(self, uuid: str) -> None:
        path = self._path(uuid)
        if path is not None:
            edits.purge(path, uuid)

    # --- the watcher's side --------------------------------------------------------------------
    def poll(self) -> int:
        """Apply the sidecars that changed since the last pass to the index; returns how many."""
        n = 0
        for uuid, d in edits.all_edits(self.logdir).items():
            mtime = d.pop("_mtime_ns")
            if self._seen.get(uuid) == mtime:
                continue
            try:
                if self._apply(uuid, d):
                    self._seen[uuid] = mtime
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
