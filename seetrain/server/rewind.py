"""Rewinds on the server (issue 26): a run writer's ``rewind`` record supersedes the points it
stored before with a step above the rewind's.

Nothing is deleted: at ingest (:func:`store`) a rewind is kept with the highest ``series_chunks``
id of its (run, writer) at that moment, since every chunk of that writer stored before it holds
records with lower seqs (ingest cuts a batch after each rewind: :func:`split_parts`). At read time
(:func:`cuts_of`, :func:`mask_rows`, :func:`keep`) the points of a chunk up to that id whose
step is above the rewind's are hidden, or are the only ones shown when ``superseded`` is asked for.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from ..rundir.format import REWIND
from .db.models import rewinds, series_chunks

F8 = np.dtype("<f8")
_type = itemgetter("type")


class Cut(NamedTuple):
    """One stored rewind: points of ``writer``'s chunks with id <= ``max_chunk`` and a step above
    ``step`` are superseded."""

    writer: str
    max_chunk: int
    step: int


def split_parts(parts: Iterable[List[Dict[str, Any]]]) -> Iterator[List[Dict[str, Any]]]:
    """Seq-ordered parts of a batch, each cut after every rewind record, so the series chunks a
    rewind's part stores hold only records from before it."""
    for part in parts:
        types = list(map(_type, part))  # one C pass: the usual part holds no rewind
        if REWIND not in types:
            yield part
            continue
        start = 0
        for i, t in enumerate(types):
            if t == REWIND and i < len(part) - 1:
                yield part[start:i + 1]
                start = i + 1
        yield part[start:]


def store(conn: Connection, uuid: str, writer: str, recs: Sequence[Dict[str, Any]]) -> None:
    """Keep the rewind records of ``recs`` (new records of one part, already written in this
    transaction) with the highest chunk id of ``writer``'s series in the run now."""
    if REWIND not in set(map(_type, recs)):
        return
    found = [r for r in recs if r["type"] == REWIND]
    c = series_chunks.c
    top = conn.execute(select(func.max(c.id)).where(c.run_uuid == uuid, c.writer == writer)).scalar() or 0
    conn.execute(insert(rewinds), [dict(run_uuid=uuid, writer=writer, seq=r["seq"], step=int(r["step"]),
                                        max_chunk=int(top), time=r.get("time")) for r in found])


def cuts_of(conn: Connection, run_uuids: Sequence[str]) -> Dict[str, List[Cut]]:
    """The stored rewinds of each of ``run_uuids`` that has any (one small indexed query)."""
    if not run_uuids:
        return {}
    c = rewinds.c
    out: Dict[str, List[Cut]] = {}
    uuids = sorted(set(run_uuids))
    for i in range(0, len(uuids), 500):
        q = select(c.run_uuid, c.writer, c.max_chunk, c.step).where(c.run_uuid.in_(uuids[i:i + 500]))
        for u, w, top, step in conn.execute(q):
            out.setdefault(u, []).append(Cut(w, top, step))
    return out


def limit(cuts: Optional[List[Cut]], writer: str, chunk_id: int) -> Optional[int]:
    """The lowest step a rewind of ``writer`` after chunk ``chunk_id`` went back to (None: none did)."""
    steps = [c.step for c in cuts or () if c.writer == writer and chunk_id <= c.max_chunk]
    return min(steps) if steps else None


def keep(steps: np.ndarray, lim: Optional[int], superseded: bool) -> Optional[np.ndarray]:
    """Which points of a chunk to show: the live ones (None: all), or with ``superseded`` only
    those above ``lim``. Points without a step (system metrics) are never superseded."""
    if lim is None:
        return np.zeros(steps.size, bool) if superseded else None
    dead = steps > lim
    return dead if superseded else ~dead


class At(NamedTuple):
    """Where a chunk row holds what :func:`mask_rows` needs: its id, its writer and (``x=time``) its steps."""

    id: int
    writer: int
    steps: int = -1


def mask_rows(rows: Iterable[Sequence[Any]], cuts: Optional[List[Cut]], by_step: bool, superseded: bool,
              at: At, chunk_steps: Callable[..., np.ndarray]) -> List[tuple]:
    """Chunk rows as :func:`seetrain.server.series._assemble` takes them (``n, step_min, stride,
    x blob, values blob, lo, hi``, then the columns ``at`` names), with the hidden points taken out
    of the blobs (``superseded``: only the hidden ones kept); ``chunk_steps`` is
    :func:`seetrain.server.series.chunk_steps` (a chunk's steps from its row)."""
    out = []
    for r in rows:
        n, step_min, stride, xblob, vblob, lo, hi = r[:7]
        lim = limit(cuts, r[at.writer], r[at.id])
        if lim is None and not superseded:
            out.append(tuple(r[:7]))
            continue
        steps = chunk_steps(n, step_min, stride, xblob if by_step else r[at.steps])
        k = keep(steps, lim, superseded)
        if k is None:
            out.append(tuple(r[:7]))
            continue
        xs = steps if by_step else np.frombuffer(xblob, dtype=F8)
        ys = np.frombuffer(vblob, dtype=F8)
        out.append((int(k.sum()), None, None, np.ascontiguousarray(xs[k], F8).tobytes(),
                    np.ascontiguousarray(ys[k], F8).tobytes(), lo, hi))
    return out


def extra_columns(by_step: bool) -> list:
    """The columns :func:`mask_rows` needs besides a chunk row's own and its writer: its id and
    (``x=time``) its steps."""
    c = series_chunks.c
    return [c.id] if by_step else [c.id, c.steps.label("rewind_steps")]
