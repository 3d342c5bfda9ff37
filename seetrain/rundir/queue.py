"""The queue between ``Run`` and its writer: seq and step counters, bounded in records and bytes.

``put_*`` is called by the training threads (``put_metrics`` is the hot path: one lock, one
append); ``pop_all`` by the writer. Items are built only here: the training thread appends a plain
tuple laid out as :class:`Item` (making the named tuple there would cost ``log()`` about 0.2 µs,
some 15 %), and ``pop_all`` hands the writer :class:`Item` s, made on the writer's thread. Each
``put`` answers how full the queue is (:data:`ROOM`, :data:`FLUSH`, :data:`FULL`), so the caller
never reads the queue's counters.
"""

from __future__ import annotations

import collections
import threading
from itertools import repeat
from time import time as _time
from typing import Any, Deque, Dict, List, NamedTuple, Optional

# item kinds (METRICS must stay 0: the writer tests a batch for "metrics only" with any())
METRICS, MEDIA, CONFIG, SYSTEM, EVENT, CONSOLE, SUMMARY, LOST = range(8)

# how full the queue is after a put (false only for ROOM)
ROOM, FLUSH, FULL = 0, 1, 2  # FLUSH: past the high-water mark, wake the writer; FULL: wait for it


class Item(NamedTuple):
    """One queued record: what it is, its seq, wall time, step (metrics and media) and payload."""

    kind: int
    seq: int
    time: float
    step: Optional[int]
    payload: Any


class MediaPayload(NamedTuple):
    """The payload of a MEDIA item: ``{key: media value or list}`` and the bytes they hold."""

    values: Dict[str, Any]
    nbytes: int


class ConsoleLine(NamedTuple):
    """The payload of a CONSOLE item."""

    stream: str
    line: str


class Counters(NamedTuple):
    next_seq: int
    next_step: int


_new = tuple.__new__  # _new(Item, plain): a queued plain tuple as the Item it is (half of Item._make's cost)


class RecordQueue:
    """Assigns seq (gap-free) and automatic steps under one lock and queues the items in seq order."""

    def __init__(self, first_seq: int = 0, first_step: int = 0, max_items: int = 100_000,
                 max_bytes: int = 64 << 20) -> None:
        self.lock = threading.Lock()
        self.items: Deque[tuple] = collections.deque()  # plain tuples laid out as Item
        self.seq = first_seq           # next seq
        self.first_seq = first_seq     # first seq of this process
        self.next_step = first_step    # next automatic step
        self.max_items = max(int(max_items), 16)
        self._high = self.max_items // 2
        self.max_bytes = max(int(max_bytes), 1 << 20)
        self._media_bytes = 0          # bytes held by media not yet written (queue and media thread)

    def put_metrics(self, step: Optional[int], data: Dict[str, Any]) -> int:
        """Queue a metrics record; returns :data:`ROOM`, :data:`FLUSH` or :data:`FULL`."""
        with self.lock:
            if step is None:
                step = self.next_step
                self.next_step = step + 1
            elif step >= self.next_step:
                self.next_step = step + 1
            seq = self.seq
            self.seq = seq + 1
            items = self.items  # here: pop_all swaps the deque under the lock
            items.append((METRICS, seq, _time(), step, data))
        n = len(items)
        return ROOM if n <= self._high else FULL if n >= self.max_items else FLUSH

    def put_split(self, step: Optional[int], scalars: Dict[str, Any], media: Dict[str, Any], nbytes: int) -> int:
        """Scalars and media of one ``log()`` call: two records at the same step, so encoding the
        media never holds the scalars back. Returns :data:`ROOM`, :data:`FLUSH` or :data:`FULL`
        (also when the media waiting to be written hold more than ``max_bytes``)."""
        with self.lock:
            items = self.items
            if step is None:
                step = self.next_step
                self.next_step = step + 1
            elif step >= self.next_step:
                self.next_step = step + 1
            t = _time()
            seq = self.seq
            if scalars:
                items.append((METRICS, seq, t, step, scalars))
                seq += 1
            items.append((MEDIA, seq, t, step, MediaPayload(media, nbytes)))
            self.seq = seq + 1
            self._media_bytes += nbytes
            n = len(items)
            over = self._media_bytes > self.max_bytes
        return FULL if over or n >= self.max_items else FLUSH if n > self._high else ROOM

    def put(self, kind: int, payload: Any) -> int:
        """Queue any other record (config, system, event, summary, lost); returns its seq."""
        with self.lock:
            seq = self.seq
            self.seq = seq + 1
            self.items.append((kind, seq, _time(), None, payload))
        return seq

    def put_console(self, stream: str, line: str) -> int:
        """Queue one captured console line; returns its seq."""
        return self.put(CONSOLE, ConsoleLine(stream, line))

    def pop_all(self, limit: int = 4096) -> List[Item]:
        """Up to ``limit`` items, oldest first (the writer's side): the deque is swapped out under
        the lock, and a backlog beyond ``limit`` is put back in front of anything newer."""
        with self.lock:
            items, self.items = self.items, collections.deque()
            if len(items) > limit:
                taken = list(items)
                self.items.extend(taken[limit:])  # still under the lock: nothing newer is queued yet
                items = taken[:limit]
        return list(map(_new, repeat(Item, len(items)), items))

    def media_done(self, nbytes: int) -> None:
        """The media writer wrote (or gave up on) media holding ``nbytes``."""
        with self.lock:
            self._media_bytes -= nbytes

    def full(self) -> bool:
        """Whether the queue holds ``max_items`` records or more than ``max_bytes`` of media."""
        return len(self.items) >= self.max_items or self._media_bytes > self.max_bytes

    def __len__(self) -> int:
        return len(self.items)

    def counters(self) -> "Counters":
        """The next seq and the next automatic step."""
        return Counters(self.seq, self.next_step)
