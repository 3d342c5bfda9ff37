"""What the run writer promises where the suite did not look (mutation survivors of
``rundir/writer.py`` and ``rundir/records.py``): a ``lost`` event names separate lost ranges one
by one, summary values keep keys that are not text, and a full queue makes ``log()`` wait for a
writer that would otherwise sleep through its flush interval."""

import decimal
import warnings

import orjson
import pytest

import seetrain
from seetrain.rundir.queue import RecordQueue
from seetrain.rundir.writer import RunWriter


def _events(path, name):
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    return [r for r in lines if r.get("type") == "event" and r.get("event") == name]


def test_lost_seqs_with_gaps_are_named_range_by_range(tmp_path):
    """Seqs lost in three calls, out of order, with written seqs between them: the one ``lost``
    event names each lost range exactly (docs/record-format.md), no written seq inside one."""
    warned = []
    writer = RunWriter(str(tmp_path), RecordQueue(first_seq=30), {"id": "r"},
                       warn=lambda message, key=None: warned.append(key))
    writer.add_lost([22, 1, 20, 21], "disk full")  # 1, and 20-22 in a row
    writer.add_lost([6, 5, 10, 12], "disk full")   # 5-6 grows after a higher range; 10 and 12 apart
    writer.add_lost([4, 3, 9], "disk full")        # 3-4 bridges to 5-6; 9 joins 10
    writer.start()
    writer.init_returned()
    writer.close()
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert lost["ranges"] == [[1, 1], [3, 6], [9, 10], [12, 12], [20, 22]]
    assert (lost["first_seq"], lost["last_seq"], lost["count"]) == (1, 22, 11)
    assert lost["reason"] == "disk full"
    meta = orjson.loads((tmp_path / "run.json").read_bytes())
    assert meta["lost"] == 11 and warned == ["lost"]


def test_one_contiguous_loss_is_one_range_without_a_list(tmp_path):
    writer = RunWriter(str(tmp_path), RecordQueue(first_seq=10), {"id": "r"}, warn=lambda *a, **k: None)
    writer.add_lost([5, 3], "disk full")
    writer.add_lost([4, 6], "disk full")  # bridges 3 and 5, extends to 6
    writer.start()
    writer.init_returned()
    writer.close()
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert (lost["first_seq"], lost["last_seq"], lost["count"]) == (3, 6, 4) and "ranges" not in lost
    assert type(lost["time"]) is float and lost["time"] > 0 and lost["seq"] >= 10


def test_two_separate_losses_are_named_as_two_ranges(tmp_path):
    writer = RunWriter(str(tmp_path), RecordQueue(first_seq=10), {"id": "r"}, warn=lambda *a, **k: None)
    writer.add_lost([2, 3, 7], "disk full")
    writer.start()
    writer.init_returned()
    writer.close()
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert (lost["first_seq"], lost["last_seq"], lost["count"], lost["ranges"]) == (2, 7, 3, [[2, 3], [7, 7]])


class _NoStr:
    def __str__(self) -> str:
        raise RuntimeError("no text for this key")

    def __repr__(self) -> str:
        return "NoStr()"


def test_summary_values_keep_keys_that_are_not_text_as_their_text(logdir):
    """``run.summary[...]`` values are copied by ``sanitize``: keys that are not text become their
    ``str`` (a ``Decimal``'s, not its ``repr``), or their ``repr`` when ``str`` fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = seetrain.init(project="p", system_metrics=False)
        run.summary["table"] = {1: "int", (1, 2): "tuple", decimal.Decimal("1.5"): "decimal", _NoStr(): "repr"}
        run.finish()
    assert seetrain.read_run(run.dir).summary()["table"] == {"1": "int", "(1, 2)": "tuple", "1.5": "decimal",
                                                             "NoStr()": "repr"}


def test_a_full_queue_wakes_the_writer_and_log_loses_nothing(logdir):
    """With a 16-record queue and a writer that flushes every 600 s, ``log()`` can only go on if
    the full queue wakes the writer (it waits for room; without the wake-up each wait lasts a
    flush interval). Every record arrives, in order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = seetrain.init(project="p", system_metrics=False, max_queue=16, flush_interval=600)
        for i in range(200):
            run.log({"i": i})
        run.finish()
    assert seetrain.read_run(run.dir).scalars("i").values == [float(i) for i in range(200)]


def test_wait_written_answers_whether_the_records_are_written(tmp_path):
    """``wait_written`` (what ``run.flush()`` waits on) is True once every record up to the seq is
    written, False when the time given runs out first or at once when the writer thread has ended
    (a seq it will never write)."""
    import threading

    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda message, key=None: None, flush_interval=600)
    writer.start()
    writer.init_returned()
    for step in range(5):
        queue.put_metrics(step, {"loss": float(step)})
    last = queue.counters().next_seq - 1  # as run.flush() asks
    assert writer.wait_written(last, timeout=60) is True  # 600 s flush interval: the wait wakes the writer
    assert [orjson.loads(x).get("step") for x in (tmp_path / "records.jsonl").read_bytes().splitlines()][-5:] == \
        [0, 1, 2, 3, 4]
    assert writer.wait_written(last + 1, timeout=0.2) is False  # nothing logged after: the time runs out
    writer.close()
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(writer.wait_written(last + 1, timeout=3600)))
    waiting.start()
    waiting.join(60)  # an ended writer answers at once; waiting for the hour would mean it ignored that
    assert answers == [False]


def test_a_lost_event_that_cannot_be_written_gives_back_exactly_its_ranges(tmp_path):
    """The write of the ``lost`` event itself fails (the disk is still full): the ranges it was to
    report go back whole, no seq more, and the next event names them with the event's own seq."""
    writer = RunWriter(str(tmp_path), RecordQueue(first_seq=10), {"id": "r"}, warn=lambda *a, **k: None)
    writer.add_lost([2, 3], "disk full")
    writer.add_lost([6], "disk full")
    real_append, calls = writer.file.append, []

    def full_once(data):
        calls.append(data)
        if len(calls) == 1:
            return OSError(28, "No space left on device")
        return real_append(data)

    writer.file.append = full_once
    writer.start()
    writer.init_returned()
    writer.close()
    first = orjson.loads(calls[0].splitlines()[0])
    assert (first["event"], first["ranges"]) == ("lost", [[2, 3], [6, 6]])  # the write that failed
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert lost["ranges"] == [[2, 3], [6, 6], [first["seq"], first["seq"]]]
    assert lost["count"] == 4 and lost["reason"].startswith("OSError")


def _run_json(path):
    return orjson.loads((path / "run.json").read_bytes())


def _run_json_when(path, ready, timeout=30.0):
    """run.json once ``ready(meta)`` holds (or as it is when ``timeout`` runs out)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        meta = _run_json(path) if (path / "run.json").exists() else {}
        if ready(meta) or time.monotonic() > deadline:
            return meta
        time.sleep(0.01)


def _started_writer(path, **intervals):
    """A running writer of ``path`` (warnings ignored) whose first run.json is written."""
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(path), queue, {"id": "r"}, warn=lambda *a, **k: None, **intervals)
    writer.start()
    writer.init_returned()
    _run_json_when(path, bool)
    return writer, queue


def test_run_json_summary_keeps_every_key_of_a_batch_whose_last_record_lacks_some(tmp_path):
    """``run.json``'s summary (what ``seetrain ls`` shows without reading records) from one batch
    of records with different keys: each key's last value, not only the last record's keys."""
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600)
    queue.put_metrics(0, {"a": 1.0, "b": 1.0})
    queue.put_metrics(1, {"a": 2.0})
    queue.put_metrics(2, {"c": 3.0})
    writer.close()  # never started: one drain, one batch
    writer.write_meta()  # as finish() does
    assert _run_json(tmp_path)["summary"] == {"a": 2.0, "b": 1.0, "c": 3.0}


def test_the_careful_path_keeps_the_last_step_of_steps_from_zero(tmp_path):
    """A batch that needs repairs (a NaN) goes record by record: ``run.json``'s ``last_step`` is still
    its highest step, 0 here."""
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600)
    queue.put_metrics(0, {"loss": float("nan")})
    writer.close()
    writer.write_meta()
    assert _run_json(tmp_path)["last_step"] == 0


@pytest.mark.parametrize("mixed", [False, True], ids=["metrics-only", "mixed-batch"])
def test_a_record_that_cannot_be_encoded_is_counted_lost_and_the_next_ones_are_written(tmp_path, monkeypatch, mixed):
    """One record whose encoding raises (injected: every value the writer meets is repairable): it is
    named in a ``lost`` event with the cause, and the records after it in the batch are written,
    in a batch of metrics only and in one that also holds a config record."""
    from seetrain.rundir import records
    from seetrain.rundir.queue import CONFIG

    real = records.encode_metrics

    def fails_at_step_1(seq, t, step, data, problem, **kw):
        if step == 1:
            raise RuntimeError("boom")
        return real(seq, t, step, data, problem, **kw)

    monkeypatch.setattr(records, "encode_metrics", fails_at_step_1)
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600)
    for step in range(3):
        queue.put_metrics(step, {"loss": float("nan") if step == 0 else float(step)})  # NaN: the careful path
    if mixed:
        queue.put(CONFIG, {"lr": 0.1})
    writer.close()
    lines = [orjson.loads(x) for x in (tmp_path / "records.jsonl").read_bytes().splitlines()]
    assert [r["step"] for r in lines if r["type"] == "metrics"] == [0, 2]
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert (lost["first_seq"], lost["last_seq"], lost["count"]) == (1, 1, 1)
    assert lost["reason"] == "could not encode a record (RuntimeError: boom)"


def test_environment_facts_reach_run_json_before_the_next_heartbeat(tmp_path):
    """``update_meta`` (the environment capture's facts) wakes the writer: run.json has them long
    before a 600 s heartbeat, not only at the end."""
    writer, queue = _started_writer(tmp_path, flush_interval=600, heartbeat_interval=600)
    writer.update_meta({"python": "3.11.9", "git": {"commit": "abc"}})
    meta = _run_json_when(tmp_path, lambda m: "git" in m)
    try:
        assert meta.get("git") == {"commit": "abc"} and meta.get("python") == "3.11.9"
    finally:
        writer.close()


def test_a_failed_fsync_at_close_is_reported_with_its_cause(tmp_path):
    """The last fsync fails (a disk gone read-only): the warning says what failed and why."""
    warned = []
    writer = RunWriter(str(tmp_path), RecordQueue(first_seq=0), {"id": "r"},
                       warn=lambda message, key=None: warned.append(message))

    def fsync():
        raise OSError(30, "Read-only file system")

    writer.file.fsync = fsync
    writer.start()
    writer.init_returned()
    writer.close()
    assert warned == ["could not fsync the run directory (OSError: [Errno 30] Read-only file system); training goes on"]


def test_a_writer_that_never_started_writes_its_media_before_closing_the_media_thread(tmp_path):
    """``close()`` on a writer whose thread never ran (it could not be started): its queued media are
    handed to the media writer while that can still write them, so the image file and its record
    are there."""
    import numpy as np

    from seetrain.media import Image

    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600)
    image = Image(np.zeros((4, 4, 3), dtype=np.uint8))
    queue.put_split(0, {"loss": 1.0}, {"sample": image}, 48)
    writer.close()
    lines = [orjson.loads(x) for x in (tmp_path / "records.jsonl").read_bytes().splitlines()]
    assert [r["data"] for r in lines][0] == {"loss": 1.0}
    ref = lines[1]["data"]["sample"]
    assert ref["_type"] == "image" and ref["path"] == "media/sample/0_1.png"
    assert (tmp_path / ref["path"]).stat().st_size > 0
    writer.write_meta()
    assert _run_json(tmp_path)["summary"] == {"loss": 1.0, "sample": ref}  # the media's last value too


def test_every_other_kind_of_record_is_written_whole_with_its_seq_and_time(tmp_path):
    """System metrics, console lines, events, config and summary records queued between metrics:
    each line has its seq, time, type and fields (a system record no step); config and summary
    reach run.json without waiting for a 600 s heartbeat; ``last_step`` is the metrics' highest, 0."""
    from seetrain.rundir.queue import CONFIG, EVENT, SUMMARY, SYSTEM

    writer, queue = _started_writer(tmp_path, flush_interval=600, heartbeat_interval=600)
    queue.put_metrics(0, {"loss": 1.0})
    queue.put(SYSTEM, {"sys/cpu": 50.0})
    queue.put_console("stderr", "hello\n")
    queue.put(EVENT, {"event": "note", "text": "x"})
    queue.put(CONFIG, {"lr": 0.1})
    times = [item[2] for item in list(queue.items)]
    writer.wake.set()
    try:
        meta = _run_json_when(tmp_path, lambda m: m.get("config"))
        assert meta.get("config") == {"lr": 0.1} and meta["last_step"] == 0
        queue.put(SUMMARY, {"best": 0.9})
        times.append(list(queue.items)[-1][2])
        writer.wake.set()
        assert _run_json_when(tmp_path, lambda m: "best" in m.get("summary", {}))["summary"].get("best") == 0.9
    finally:
        writer.close()
    lines = [orjson.loads(x) for x in (tmp_path / "records.jsonl").read_bytes().splitlines()]
    assert lines == [
        {"seq": 0, "time": times[0], "type": "metrics", "step": 0, "data": {"loss": 1.0}},
        {"seq": 1, "time": times[1], "type": "system", "data": {"sys/cpu": 50.0}},
        {"seq": 2, "time": times[2], "type": "console", "stream": "stderr", "line": "hello\n"},
        {"seq": 3, "time": times[3], "type": "event", "event": "note", "text": "x"},
        {"seq": 4, "time": times[4], "type": "config", "config": {"lr": 0.1}},
        {"seq": 5, "time": times[5], "type": "summary", "summary": {"best": 0.9}},
    ]


def test_an_other_record_that_cannot_be_encoded_is_lost_alone(tmp_path, monkeypatch):
    """A console line whose encoding raises (injected) is named lost with the cause; the config
    record after it and the metrics before it are written."""
    from seetrain.rundir import records
    from seetrain.rundir.queue import CONFIG

    real = records.encode

    def console_fails(seq, t, type, fields):
        if type == "console":
            raise RuntimeError("boom")
        return real(seq, t, type, fields)

    monkeypatch.setattr(records, "encode", console_fails)
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600)
    queue.put_metrics(0, {"loss": 1.0})
    queue.put_console("stdout", "x\n")
    queue.put(CONFIG, {"lr": 0.1})
    writer.close()
    writer.write_meta()
    lines = [orjson.loads(x) for x in (tmp_path / "records.jsonl").read_bytes().splitlines()]
    assert [(r["seq"], r["type"]) for r in lines][:2] == [(0, "metrics"), (2, "config")]
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert (lost["first_seq"], lost["count"], lost["reason"]) == (1, 1, "could not encode a record (RuntimeError: boom)")
    assert _run_json(tmp_path)["last_seq"] == lost["seq"]


def test_a_shared_runs_writer_names_its_media_by_its_label_under_the_runs_media(tmp_path):
    """A writer of a shared run (``folder`` writers/<label>, ``label``): its media files lie under the
    run's ``media/`` and end in ``_<label>`` (its seqs are its own), its thread is named after the run."""
    import numpy as np

    from seetrain.media import Image

    folder = tmp_path / "writers" / "rank1"
    folder.mkdir(parents=True)
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600,
                       folder=str(folder), meta_name="writer.json", label="rank1")
    assert writer.name == "seetrain-writer-r"
    queue.put_split(3, {}, {"sample": Image(np.zeros((4, 4, 3), dtype=np.uint8))}, 48)
    writer.close()
    writer.write_meta()
    (line,) = [orjson.loads(x) for x in (folder / "records.jsonl").read_bytes().splitlines()]
    assert line["data"]["sample"]["path"] == "media/sample/3_0_rank1.png"
    assert (tmp_path / "media" / "sample" / "3_0_rank1.png").stat().st_size > 0
    assert (folder / "writer.json").exists() and not (tmp_path / "run.json").exists()


def test_a_resumed_writer_starts_from_what_run_json_says(tmp_path):
    """Resumed (run.json from before, seqs going on from 10): the summary, the count of lost records
    and the highest step carry over; a lower step does not lower ``last_step``; before anything is
    written the last seq is the one before the first new seq, and ``run.flush()`` has nothing to wait for."""
    meta = {"id": "r", "summary": {"old": 1.0}, "lost": 3, "last_step": 7}
    queue = RecordQueue(first_seq=10)
    writer = RunWriter(str(tmp_path), queue, dict(meta), warn=lambda *a, **k: None, flush_interval=600)
    writer.start()
    writer.init_returned()
    assert writer.wait_written(9, timeout=30) is True
    writer.write_meta()
    before = _run_json(tmp_path)
    assert (before["last_seq"], before["last_step"], before["lost"], before["summary"]) == (9, 7, 3, {"old": 1.0})
    assert before["records"] == 7  # last_seq + 1 - lost
    queue.put_metrics(2, {"new": 2.0})
    writer.close()
    writer.write_meta()
    after = _run_json(tmp_path)
    assert (after["last_seq"], after["last_step"], after["lost"], after["records"]) == (10, 7, 3, 8)
    assert after["summary"] == {"old": 1.0, "new": 2.0}


def test_a_resumed_run_json_without_an_integer_last_step_starts_from_none(tmp_path):
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r", "last_step": "7"}, warn=lambda *a, **k: None)
    writer.write_meta()
    assert _run_json(tmp_path)["last_step"] == -1
    queue.put_metrics(0, {"a": 1.0})
    writer.close()
    writer.write_meta()
    assert _run_json(tmp_path)["last_step"] == 0


def test_run_json_is_rewritten_at_the_heartbeat_not_at_every_flush(tmp_path):
    """Between heartbeats (600 s here) metrics written at every flush leave run.json alone: it is
    replaced (a new file, atomically) only when due, so the hot path costs no metadata rewrite."""
    import os

    writer, queue = _started_writer(tmp_path, flush_interval=0.01, heartbeat_interval=600)
    st = os.stat(tmp_path / "run.json")
    first = (st.st_ino, st.st_mtime_ns)
    for step in range(20):
        queue.put_metrics(step, {"loss": float(step)})
        assert writer.wait_written(queue.counters().next_seq - 1, timeout=30)
    try:
        st = os.stat(tmp_path / "run.json")
        assert (st.st_ino, st.st_mtime_ns) == first
    finally:
        writer.close()


def test_the_writer_outlives_an_error_of_its_own_and_says_so(tmp_path):
    """An exception escaping a write-out (injected once) is reported once, and the writer thread goes
    on: the records logged after it are written."""
    warned = []
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda message, key=None: warned.append(message),
                       flush_interval=0.01)
    real_drain, calls = writer.drain, []

    def drain_fails_once():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        real_drain()

    writer.drain = drain_fails_once
    writer.start()
    writer.init_returned()
    queue.put_metrics(0, {"loss": 1.0})
    try:
        assert writer.wait_written(0, timeout=30) is True
    finally:
        writer.close()
    assert warned == ["could not run the writer (RuntimeError: boom); training goes on"]
    assert [orjson.loads(x)["step"] for x in (tmp_path / "records.jsonl").read_bytes().splitlines()] == [0]


def test_a_run_json_that_cannot_be_written_is_reported_and_the_records_go_on(tmp_path):
    """run.json's place is taken by a directory: the warning names run.json and the cause; records
    are still written."""
    warned = []
    (tmp_path / "run.json").mkdir()
    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda message, key=None: warned.append(message))
    queue.put_metrics(0, {"loss": 1.0})
    writer.close()
    writer.write_meta()
    assert len(warned) == 1 and warned[0].startswith("could not write run.json (") and "directory" in warned[0]
    assert warned[0].endswith("; training goes on")
    assert len((tmp_path / "records.jsonl").read_bytes().splitlines()) == 1


def test_a_backlog_larger_than_one_batch_is_written_whole_on_close(tmp_path):
    """10,000 records queued (more than one 4,096-record batch) when a writer that never ran closes:
    every one is written, none counted lost."""
    queue = RecordQueue(first_seq=0, max_items=20_000)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None)
    for step in range(10_000):
        queue.put_metrics(step, {"i": float(step)})
    writer.close()
    writer.write_meta()
    assert len((tmp_path / "records.jsonl").read_bytes().splitlines()) == 10_000
    assert (_run_json(tmp_path)["lost"], _run_json(tmp_path)["last_seq"]) == (0, 9_999)


def test_a_failed_write_counts_the_scalars_lost_not_the_media_written_beside_them(tmp_path):
    """One ``log()`` of a scalar and an image: the scalar line's write fails (injected), the media
    thread writes the image's line. Only the scalar's seq is lost."""
    import numpy as np

    from seetrain.media import Image

    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None, flush_interval=600)
    real = writer.file.append
    writer.file.append = lambda data: OSError(28, "No space left on device") if b'"loss"' in bytes(data) \
        else real(data)
    queue.put_split(0, {"loss": 1.0}, {"sample": Image(np.zeros((4, 4, 3), dtype=np.uint8))}, 48)
    writer.close()
    writer.write_meta()
    (lost,) = _events(tmp_path / "records.jsonl", "lost")
    assert (lost["first_seq"], lost["last_seq"], lost["count"]) == (0, 0, 1)
    assert _run_json(tmp_path)["lost"] == 1


def test_a_value_set_with_run_summary_stays_in_run_json_over_later_logged_values(tmp_path):
    """``run.summary["acc"] = 0.9`` then ``log({"acc": 0.5})`` in a later write-out: run.json (what
    ``seetrain ls`` shows) keeps 0.9, as ``read_run(...).summary()`` does."""
    from seetrain.rundir.queue import SUMMARY

    queue = RecordQueue(first_seq=0)
    writer = RunWriter(str(tmp_path), queue, {"id": "r"}, warn=lambda *a, **k: None)
    queue.put(SUMMARY, {"acc": 0.9})
    writer.drain()
    queue.put_metrics(0, {"acc": 0.5, "loss": 1.0})
    writer.close()
    writer.write_meta()
    assert _run_json(tmp_path)["summary"] == {"acc": 0.9, "loss": 1.0}
