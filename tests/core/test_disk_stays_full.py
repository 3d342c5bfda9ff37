"""A disk that stays full: the writer tries again at its own pace instead of in a loop, and a run
still finishes. Before, every failed write queued a ``lost`` event whose own write failed at once
and queued another: the writer thread spun on a whole core (1,560 failed writes in 2 s) and
``finish()`` waited for it for ever, so the program never ended.

The full disk is injected (the record file's ``append`` answers ENOSPC, as it does when the
write fails); the real ``RLIMIT_FSIZE`` case is in ``test_write_faults.py``."""

import threading

import orjson

from seetrain.rundir.queue import RecordQueue
from seetrain.rundir.writer import RunWriter

ENOSPC = 28


def _full_disk_writer(tmp_path, **kw):
    warned = []
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda message, key=None: warned.append(message),
                       **kw)
    attempts = []

    def full(data):
        attempts.append(bytes(data))
        return OSError(ENOSPC, "No space left on device")

    writer.file.append = full
    return writer, queue, attempts, warned


def _in_time(fn, seconds=60):
    """Run ``fn`` in a thread; True when it returned within ``seconds`` (a hang fails, not blocks)."""
    done = threading.Event()

    def go():
        fn()
        done.set()

    threading.Thread(target=go, daemon=True).start()
    return done.wait(seconds)


def test_one_drain_tries_a_full_disk_once_and_leaves_the_lost_event_for_the_next(tmp_path):
    writer, queue, attempts, warned = _full_disk_writer(tmp_path)
    for step in range(3):
        queue.put_metrics(step, {"loss": float(step)})
    assert _in_time(writer.drain), "drain() kept retrying a full disk"
    assert len(attempts) == 1 and attempts[0].count(b"\n") == 3  # the batch, once
    assert writer.lost == 3 and len(queue) == 1                 # counted; its lost event waits
    assert _in_time(writer.drain)
    assert len(attempts) == 2 and orjson.loads(attempts[1].splitlines()[0])["event"] == "lost"
    assert writer.lost == 4 and len(queue) == 1                 # the event's own seq too; the next waits again
    assert len(warned) == 1 and "No space left on device" in warned[0]


def test_a_run_on_a_disk_that_stays_full_still_finishes(tmp_path):
    """The writer thread runs (flush every 50 ms) while nothing can be written; ``close()`` returns,
    and every record logged is counted lost in run.json (none silently dropped)."""
    writer, queue, attempts, warned = _full_disk_writer(tmp_path, flush_interval=0.05)
    writer.start()
    writer.init_returned()
    for step in range(10):
        queue.put_metrics(step, {"loss": float(step)})
    writer.wake.set()
    assert _in_time(writer.close), "close() never returned: the writer thread kept retrying"
    writer.write_meta()
    meta = orjson.loads((tmp_path / "run.json").read_bytes())
    # every seq given out (the 10 records and each lost event) is counted lost, nothing was written
    assert (meta["lost"], meta["last_seq"], meta["records"]) == (queue.counters().next_seq, -1, 0)
    assert meta["lost"] >= 10 and len(queue) == 0 and not writer.is_alive()
    assert writer.wait_written(queue.counters().next_seq - 1, timeout=5) is True  # each is written or lost
