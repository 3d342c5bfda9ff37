"""Blob garbage collection: remove the blobs no row of :data:`~.db.models.BLOB_REFERENCES` names
(``seetrain server gc``, and a purge's own blobs), safe against a concurrent upload.

An upload writes its blob before the row that references it is committed. Two rules keep such a
blob alive, whatever the timing:

- An upload that writes the blob and its row in ONE transaction (``PUT /runs/{uuid}/media/...``)
  calls :func:`hold_against_gc` first: on SQLite every write transaction is exclusive already; on
  PostgreSQL it takes ``blob_leases`` in ROW EXCLUSIVE mode, which a collecting transaction's
  EXCLUSIVE lock waits for (and the other way round), while uploads never wait for each other.
- An upload that writes the blob first and its row in a later transaction (the ``seetrain ui``
  watcher's :func:`~.ingest.store_media_refs`) holds an :class:`UploadLease`: a ``blob_leases`` row,
  committed before the blob is written, deleted after the reference is in. A lease older than
  :data:`LEASE_STALE_S` (its uploader died) no longer protects its blob.

:func:`collect` checks references and leases and deletes the blobs in one locked write transaction
per batch, so an upload either committed its lease/row before the check (the blob is kept) or
starts after the delete (``put_file`` finds no blob and writes it again).
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from .db.models import BLOB_REFERENCES, blob_leases

LEASE_STALE_S = 24 * 3600.0  # a lease this old belongs to an uploader that died; its blob is collectable
BATCH = 500                  # blobs checked (and deleted) per write transaction


class GcReport(NamedTuple):
    """What a collection found: blobs examined, the unreferenced ones (deleted unless a dry run)."""

    examined: int
    examined_bytes: int
    collected: int
    collected_bytes: int
    leased: int          # unreferenced blobs kept because an upload holds them
    dry_run: bool
    shas: List[str]      # the collected (or, dry run, collectable) blobs


def referenced(conn: Connection, shas: Sequence[str]) -> Set[str]:
    """Which of ``shas`` some row of :data:`BLOB_REFERENCES` names."""
    found: Set[str] = set()
    for col in BLOB_REFERENCES:
        for i in range(0, len(shas), BATCH):
            found.update(s for (s,) in conn.execute(select(col).where(col.in_(list(shas[i:i + BATCH]))).distinct()))
    return found


def leased(conn: Connection, shas: Sequence[str], now: Optional[float] = None) -> Set[str]:
    """Which of ``shas`` an upload holds (a lease younger than :data:`LEASE_STALE_S`)."""
    since = (time.time() if now is None else now) - LEASE_STALE_S
    c = blob_leases.c
    found: Set[str] = set()
    for i in range(0, len(shas), BATCH):
        found.update(s for (s,) in conn.execute(select(c.sha256).where(c.sha256.in_(list(shas[i:i + BATCH])),
                                                                       c.started > since)))
    return found


def hold_against_gc(conn: Connection) -> None:
    """In an upload's write transaction, before its blob is written: no collection runs until it
    commits (PostgreSQL; SQLite write transactions exclude each other already)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE blob_leases IN ROW EXCLUSIVE MODE")


def _lock_for_gc(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE blob_leases IN EXCLUSIVE MODE")


class UploadLease:
    """Leases blobs for an upload whose references are committed later: ``add(sha)`` before each
    blob is written (its own committed transaction), ``release()`` once the references are in
    (also on ``with`` exit)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.ids: List[int] = []

    def add(self, sha: str) -> None:
        with self.store.write() as conn:
            res = conn.execute(insert(blob_leases).values(sha256=sha, started=time.time()))
            self.ids.append(int(res.inserted_primary_key[0]))

    def release(self) -> None:
        if self.ids:
            with self.store.write() as conn:
                conn.execute(delete(blob_leases).where(blob_leases.c.id.in_(self.ids)))
            self.ids = []

    def __enter__(self) -> "UploadLease":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _batches(items: Iterable[Tuple[str, int]]) -> Iterator[List[Tuple[str, int]]]:
    batch: List[Tuple[str, int]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def collect(store: Any, dry_run: bool = True, candidates: Optional[Iterable[str]] = None) -> GcReport:
    """Delete (``dry_run=False``) the blobs that no reference names and no upload holds: every blob
    of the store, or only ``candidates`` (a purge's blobs). Stale leases are dropped first."""
    with store.write() as conn:
        conn.execute(delete(blob_leases).where(blob_leases.c.started <= time.time() - LEASE_STALE_S))
    if candidates is None:
        items: Iterable[Tuple[str, int]] = store.blobs.iter_blobs()
    else:  # only these: asked one by one, never by listing the whole store
        sized = ((sha, store.blobs.size(sha)) for sha in sorted(set(candidates)))
        items = ((sha, size) for sha, size in sized if size is not None)
    examined = examined_bytes = n_leased = 0
    gone: List[Tuple[str, int]] = []
    for batch in _batches(items):
        examined += len(batch)
        examined_bytes += sum(size for _, size in batch)
        shas = [sha for sha, _ in batch]
        with store.write() as conn:  # check and delete under one lock: no upload slips between them
            _lock_for_gc(conn)
            keep = referenced(conn, shas)
            held = leased(conn, [s for s in shas if s not in keep])
            n_leased += len(held)
            doomed = [(sha, size) for sha, size in batch if sha not in keep and sha not in held]
            if not dry_run:
                for sha, _ in doomed:
                    store.blobs.delete(sha)
        gone.extend(doomed)
    return GcReport(examined, examined_bytes, len(gone), sum(size for _, size in gone), n_leased, dry_run,
                    [sha for sha, _ in gone])
