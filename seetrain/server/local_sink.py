"""The follower's local sink: a run directory's records into the server's own store, in process
(``seetrain ui``). The same checks and the same batch assembly as the HTTP route
(:func:`~.ingest.ingest_records`); media files are opened inside the run directory with no link
followed and copied before they are stored, so the index holds the file that was checked."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Set

from ..rundir.follow import Batch, Cursor, Refused, primary_meta
from ..rundir.format import PRIMARY_WRITER
from ..rundir.safe_open import LinkRefused, open_in_run
from .ingest import IngestError, Limits, ingest_records, store_media_refs, upsert_run, upsert_writer
from .queries import get_run

log = logging.getLogger("seetrain.ui")


class LocalSink:
    """Stores one run directory's batches into ``store``. Its own counts live in ``cursor.extra``
    (saved with the offsets): ``missing_media``, ``refused_links``, ``refused_reason``."""

    def __init__(self, store: Any, run_dir: str, cursor: Cursor, copies_in: Optional[str] = None,
                 writer: str = PRIMARY_WRITER) -> None:
        """``writer``: the shared run's writer whose log (``writers/<label>/``) this sink stores; ""
        the primary's (the run directory's own records.jsonl and run.json)."""
        self.store, self.run_dir, self.cursor, self.copies_in = store, run_dir, cursor, copies_in
        self.writer = writer
        self.limits = Limits.of(store.settings)
        self.uuid = ""
        self.stored = 0  # records stored so far (new ones, not duplicates)
        self._opened = False
        self._refused_media: Set[str] = set()
        for k, v in (("missing_media", 0), ("refused_links", 0), ("refused_reason", "")):
            self.cursor.extra.setdefault(k, v)

    def open_run(self, meta: Dict[str, Any], uuid: str) -> bool:
        meta = dict(meta, uuid=uuid)
        meta.setdefault("project", os.path.basename(os.path.dirname(self.run_dir)))
        meta.setdefault("id", os.path.basename(self.run_dir))
        self.uuid = uuid
        if not self.writer and not primary_meta(meta):
            return False  # another node's minimal run.json: the run is its writers' (and its primary's elsewhere)
        try:
            with self.store.write() as conn:
                if self.writer:  # a shared run's other writer: its writer.json (the run made if need be)
                    run = {k: meta.get(k) for k in ("project", "id", "start_time")}
                    w = upsert_writer(conn, uuid, self.writer, dict(meta, run=run), self.limits.key_length, self.limits)
                    first, self._opened = not self._opened, True
                    return first and w["n_records"] == 0  # the index holds nothing of it: from the start
                before = get_run(conn, uuid)
                upsert_run(conn, uuid, meta, self.limits.key_length, self.limits)
        except IngestError as exc:
            raise Refused(exc.detail, exc.status) from None
        first, self._opened = not self._opened, True
        return first and (before is None or before["last_seq"] == -1)

    def send_batch(self, batch: Batch) -> int:
        return self.send_records(batch.records())

    def send_records(self, records: List[Dict[str, Any]]) -> int:
        try:
            _store_artifact_blobs(self.store, self.run_dir, records)
            res = ingest_records(self.store, self.uuid, records, self.limits, writer=self.writer)
        except IngestError as exc:
            raise Refused(exc.detail, exc.status) from None
        self.stored += res.stored
        misses: Set[str] = set()
        copies = _MediaCopies(self, misses)
        try:
            store_media_refs(self.store, self.uuid, records, copies)
        finally:
            copies.close()
        self.cursor.extra["missing_media"] += len(misses)
        return res.last_seq

    def refuse_link(self, rel: str, exc: LinkRefused) -> None:
        if rel in self._refused_media:
            return
        self._refused_media.add(rel)
        extra = self.cursor.extra
        extra["refused_links"] += 1
        if not extra["refused_reason"]:
            extra["refused_reason"] = str(exc)[:500]
            log.warning("seetrain ui: %s", exc)


class _MediaCopies:
    """The ``media_loader`` of one batch: each media file opened inside the run directory with no
    link followed (:func:`~seetrain.rundir.safe_open.open_in_run`) and copied to a private temp folder."""

    def __init__(self, sink: LocalSink, misses: Set[str]) -> None:
        self.sink, self.misses, self.n = sink, misses, 0
        self.folder: Optional[str] = None  # made on the first media file

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __call__(self, rel: str) -> Optional[str]:
        try:
            src = open_in_run(self.sink.run_dir, rel)
        except LinkRefused as exc:
            self.sink.refuse_link(rel, exc)
            return None
        except OSError:
            self.misses.add(rel)
            return None
        with src:
            if self.folder is None:
                self.folder = tempfile.mkdtemp(prefix=".media-copies-", dir=self.sink.copies_in)
            self.n += 1
            copy = os.path.join(self.folder, f"{self.n}{os.path.splitext(rel)[1]}")
            with open(copy, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return copy


def _store_artifact_blobs(store: Any, run_dir: str, records: List[Dict[str, Any]]) -> None:
    """The files of the artifact versions the records name, from the log folder's store
    (``<logdir>/.artifacts/blobs``) into the server's blob store, before the records are stored."""
    from ..artifacts.remote import artifact_events
    from ..artifacts.store import open_local
    from .gc import UploadLease

    events = artifact_events(records)
    if not events:
        return
    local = open_local(os.path.dirname(os.path.dirname(run_dir)))
    lease = UploadLease(store)
    for art in events:
        for f in art.get("files") or []:
            sha = f.get("sha256") if isinstance(f, dict) else None
            if isinstance(sha, str) and len(sha) == 64 and not store.blobs.exists(sha) and local.has(sha):
                lease.add(sha)
                store.blobs.put_file(sha, local.path(sha), "application/octet-stream")
