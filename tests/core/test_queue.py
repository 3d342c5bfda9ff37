"""The record queue between Run and its writer: named items built in one place, and a fill signal
(room / flush / full) so the caller never reads the queue's counters."""

from __future__ import annotations

from seetrain.rundir.queue import (CONSOLE, FLUSH, FULL, MEDIA, METRICS, ROOM, ConsoleLine, Item, MediaPayload,
                                   RecordQueue)


def test_put_says_when_to_wake_the_writer_and_when_to_wait_for_it():
    q = RecordQueue(max_items=16, max_bytes=1 << 20)  # high-water mark: 8 records
    fills = [q.put_metrics(None, {"x": float(i)}) for i in range(16)]
    assert fills[:8] == [ROOM] * 8 and fills[8:15] == [FLUSH] * 7 and fills[15] == FULL
    assert q.full()
    q.pop_all()
    assert not q.full() and q.put_metrics(None, {"x": 0.0}) == ROOM


def test_media_beyond_the_byte_bound_fill_the_queue_until_written():
    q = RecordQueue(max_items=1000, max_bytes=1 << 20)
    assert q.put_split(None, {}, {"img": object()}, 1000) == ROOM
    assert q.put_split(None, {"loss": 1.0}, {"img": object()}, 2 << 20) == FULL
    q.pop_all()
    assert q.full()  # popped, but not written yet: the bytes are still held
    q.media_done(2 << 20)
    assert not q.full()


def test_items_are_named_and_numbered_in_order():
    q = RecordQueue(first_seq=5, first_step=3)
    q.put_metrics(None, {"a": 1.0})
    q.put_split(10, {"b": 2.0}, {"img": "m"}, 7)
    q.put_console("stdout", "hello")
    items = q.pop_all()
    assert all(type(it) is Item for it in items)
    assert [(it.kind, it.seq, it.step) for it in items] == [(METRICS, 5, 3), (METRICS, 6, 10), (MEDIA, 7, 10),
                                                             (CONSOLE, 8, None)]
    assert items[2].payload == MediaPayload({"img": "m"}, 7)
    assert items[3].payload == ConsoleLine("stdout", "hello")
    assert q.counters() == (9, 11)
