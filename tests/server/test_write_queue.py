"""Writers of one SQLite database get their write transaction in arrival order (server/write_queue.py),
for every write of the Store (records, runs, media, finish), not only the records route."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("sqlalchemy")

from seetrain.server.deps import Store  # noqa: E402
from seetrain.server.settings import Settings  # noqa: E402
from seetrain.server import write_queue  # noqa: E402


def _wait(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


def test_store_writes_begin_in_the_order_the_writers_arrived(tmp_path):
    store = Store(Settings(db=str(tmp_path / "q.db"), blobs=str(tmp_path / "b")))
    q = write_queue.queue_of(store.engine)
    order, release = [], threading.Event()

    def first():
        with store.write():
            release.wait(30)

    def writer(name):
        with store.write() as conn:
            order.append(name)
            conn.exec_driver_sql("SELECT 1")

    holder = threading.Thread(target=first)
    holder.start()
    _wait(lambda: q._next - q._serving == 1)  # the first writer holds the turn
    threads = []
    for name in "abcde":  # each arrives after the one before has taken its ticket
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        _wait(lambda n=len(threads): q._next - q._serving == 1 + n)
    release.set()
    for t in [holder] + threads:
        t.join(30)
    assert order == list("abcde")


def test_a_write_inside_a_turn_of_the_same_thread_does_not_wait_for_itself(tmp_path):
    store = Store(Settings(db=str(tmp_path / "q.db"), blobs=str(tmp_path / "b")))
    with write_queue.turn(store.engine):
        with store.write() as conn:  # the Store's write takes the turn this thread already holds
            conn.exec_driver_sql("SELECT 1")
