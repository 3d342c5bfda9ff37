"""The queue between ``Run`` and its writer: seq and step counters, bounded in records and bytes.

``put_*`` is called by the training threads (``put_metrics`` is the hot path: one lock, one
append); ``pop_all`` by the writer. Items are built only here, as plain tuples with the fields of
:class:`Item` (a plain tuple costs the hot path less than building the named type; readers
unpack them by position in that order).
"""

from __future__ import annotations

import collections
import threading
from time import time as _time
from typing import Any, Deque, Dict, List, NamedTuple, Optional, Tuple

# item kinds (METRICS must stay 0: the writer tests a batch for "metrics only" with any())
METRICS, MEDIA, CONFIG, SYSTEM, EVENT, CONSOLE, SUMMARY, LOST = range(8)


class Item(NamedTuple):
    """One queued record: what it is, its seq, wall time, step (metrics and media) and payload."""

    kind: int
    seq: int
    time: float
    step: Optional[int]
    payload: Any




class RecordQueue:
    """Assigns seq (gap-free) and automatic steps under one lock and queues the items in seq order."""

    def __init__(self, first_seq: int = 0, first_step: int = 0, max_items: int = 100_000,
                 max_bytes: int = 64 << 20) -> None:
        self.lock = threading.Lock()
        self.items: Deque[Item] = collections.deque()
        self.seq = first_seq           # next seq
        self.first_seq = first_seq     # first seq of this process
        self.next_step = first_step    # next automatic step
        self.max_items = max(int(max_items), 16)
        self.high = self.max_items // 2
        self.max_bytes = max(int(max_bytes), 1 << 20)
        self.media_bytes = 0           # bytes held by media not yet written (queue and media thread)

    def put_metrics(self, step: Optional[int], data: Dict[str, Any]) -> int:
        """Queue a metrics record; returns the queue length (for backpressure)."""
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
        return len(items)

    def put_split(self, step: Optional[int], scalars: Dict[str, Any], media: Dict[str, Any], nbytes: int) -> int:
        """Scalars and media of one ``log()`` call: two records at the same step, so encoding the
        media never holds the scalars back."""
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
            items.append((MEDIA, seq, t, step, (media, nbytes)))
            self.seq = seq + 1
            self.media_bytes += nbytes
        return len(items)

    def put(self, kind: int, payload: Any) -> int:
        """Queue any other record (config, system, event, console, summary); returns its seq."""
        with self.lock:
            seq = self.seq
            self.seq = seq + 1
            self.items.append((kind, seq, _time(), None, payload))
        return seq

    def pop_all(self, limit: int = 4096) -> List[Item]:
        """Up to ``limit`` items, oldest first (the writer's side): the deque is swapped out under
        the lock, and a backlog beyond ``limit`` is put back in front of anything newer."""
        with self.lock:
            items, self.items = self.items, collections.deque()
            if len(items) <= limit:
                return list(items)
            taken = list(items)
            self.items.extend(taken[limit:])  # still under the lock: nothing newer is queued yet
        return taken[:limit]

    def media_done(self, nbytes: int) -> None:
        with self.lock:
            self.media_bytes -= nbytes

    def __len__(self) -> int:
        return len(self.items)

    def counters(self) -> Tuple[int, int]:
        """(next seq, next automatic step)."""
        return self.seq, self.next_step
