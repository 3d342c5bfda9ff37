"""First come, first served among one process's writers of one SQLite database.

SQLite makes a waiting writer poll with growing sleeps (up to 100 ms), so a writer that just arrived
overtakes one that has waited for seconds; taking a ticket here first gives each write transaction
its turn in arrival order. :meth:`~.deps.Store.write` takes the turn, so every write of the server
(records, runs, media, finish, keys) queues the same way. PostgreSQL locks rows, so writers of other
runs never wait on each other: it gets no queue.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Iterator

__all__ = ["WriteQueue", "queue_of", "turn"]


class WriteQueue:
    """A ticket line: :meth:`turn` returns when every earlier ticket is done. Re-entrant within a
    thread (a write inside a write already holds the turn)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._next = self._serving = 0
        self._holder = threading.local()

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        if getattr(self._holder, "depth", 0):
            self._holder.depth += 1
            try:
                yield
            finally:
                self._holder.depth -= 1
            return
        with self._cv:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._cv.wait()
        self._holder.depth = 1
        try:
            yield
        finally:
            self._holder.depth = 0
            with self._cv:
                self._serving += 1
                self._cv.notify_all()


_QUEUES: "weakref.WeakKeyDictionary[Any, WriteQueue]" = weakref.WeakKeyDictionary()  # engine -> its queue
_QUEUES_LOCK = threading.Lock()


def queue_of(engine: Any) -> WriteQueue:
    """The write queue of ``engine`` (made on first use)."""
    with _QUEUES_LOCK:
        q = _QUEUES.get(engine)
        if q is None:
            q = _QUEUES[engine] = WriteQueue()
    return q


def turn(engine: Any) -> Any:
    """The writer's turn on ``engine`` (a context manager): queued on SQLite, immediate otherwise."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return queue_of(engine).turn()
