"""The reader: incremental reading from an offset, typed records from old and new runs, liveness,
and everything a RunReader exposes. Run directories are written by hand exactly as
docs/record-format.md says (format 2) or as SeeTrain wrote them before (format 1), plus a real
run being written by another process."""

import json
import math
import os
import subprocess
import textwrap
import time

import pytest

import seetrain
from seetrain.rundir import records, stream
from seetrain.rundir.reader import HEARTBEAT_STALE_S, read_records, read_run
from tests._child import popen_python, run_python


def write_run(path, meta, recs, tail=b""):
    """A run directory: run.json from ``meta``, records.jsonl from ``recs`` (dicts or raw lines)."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "run.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(path, "records.jsonl"), "wb") as f:
        for r in recs:
            f.write(r if isinstance(r, bytes) else json.dumps(r).encode() + b"\n")
        f.write(tail)
    return str(path)


def metrics(seq, step, data, t=None):
    return {"seq": seq, "time": t or 1764079200.0 + seq, "type": "metrics", "step": step, "data": data}


# --- read_records ----------------------------------------------------------------------------------
def test_partial_last_line_is_not_yet_then_arrives_whole(tmp_path):
    lines = [json.dumps(metrics(i, i, {"loss": 1.0 / (i + 1)})).encode() + b"\n" for i in range(5)]
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"".join(lines[:3]) + lines[3][:17])  # a writer mid-line
    chunk = read_records(tmp_path)
    assert [r["seq"] for r in chunk.records] == [0, 1, 2] and chunk.corrupt == 0
    assert chunk.next_offset == sum(map(len, lines[:3]))  # stops before the partial line
    again = read_records(tmp_path, chunk.next_offset)
    assert again.records == [] and again.next_offset == chunk.next_offset  # still not yet, never "torn"
    with open(path, "ab") as f:
        f.write(lines[3][17:] + lines[4])
    rest = read_records(tmp_path, chunk.next_offset)
    assert [r["seq"] for r in rest.records] == [3, 4] and rest.records[0]["data"]["loss"] == 0.25
    assert rest.next_offset == path.stat().st_size and rest.corrupt == 0


def test_bounds_corrupt_lines_and_long_lines(tmp_path):
    big = metrics(3, 3, {f"k{i}": i for i in range(2000)})  # one line of ~20 kB
    recs = [metrics(0, 0, {"a": 1}), b"{not json\n", b"\n", metrics(1, 1, {"a": 2}), metrics(2, 2, {"a": 3}), big]
    d = write_run(tmp_path / "r", {"id": "r", "status": "success", "format": 2}, recs)
    whole = read_records(d)
    assert [r["seq"] for r in whole.records] == [0, 1, 2, 3] and whole.corrupt == 1
    calls, offset = [], 0
    while True:
        chunk = read_records(d, offset, max_records=2)
        if chunk.next_offset == offset:
            break
        calls.append([r["seq"] for r in chunk.records])
        offset = chunk.next_offset
    assert calls == [[0, 1], [2, 3]]
    seen, offset = [], 0
    while True:  # a line longer than max_bytes still comes back whole
        chunk = read_records(d, offset, max_bytes=100)
        if chunk.next_offset == offset:
            break
        seen += [r["seq"] for r in chunk.records]
        offset = chunk.next_offset
    assert seen == [0, 1, 2, 3]
    assert read_records(tmp_path / "nowhere").records == []


@pytest.mark.parametrize("reader", ["read_records", "iter_chunks"])
def test_a_run_directory_that_appears_while_the_reader_looks_is_read_as_a_run(tmp_path, monkeypatch, reader):
    """A reader started before its run: the directory appears between the look that tells a run
    directory from a log file and the open (CI met this race live). Its records are read, and the
    reader does not fail with "is a directory"."""
    run_dir = tmp_path / "live" / "tail"
    real_isdir = os.path.isdir

    def isdir_then_the_run_starts(path):
        seen = real_isdir(path)
        if os.fspath(path) == str(run_dir) and not seen:
            write_run(run_dir, {"id": "tail"}, [metrics(0, 0, {"loss": 1.0})])
        return seen  # what the look saw, before the run started

    monkeypatch.setattr(stream.os.path, "isdir", isdir_then_the_run_starts)
    if reader == "read_records":
        chunk = read_records(run_dir)
        got, next_offset = chunk.records, chunk.next_offset
    else:
        chunks = list(stream.iter_chunks(run_dir))
        got, next_offset = [r for c in chunks for r in c.records], chunks[-1].next_offset
    assert [(r["seq"], r["data"]) for r in got] == [(0, {"loss": 1.0})]
    assert next_offset == (run_dir / "records.jsonl").stat().st_size


def test_a_records_file_that_is_a_directory_is_not_read_as_a_run(tmp_path):
    """Only a run directory given by its own path is looked into: ``<run>/records.jsonl`` that is
    itself a directory is an error, not a log one level further down."""
    (tmp_path / "records.jsonl" / "records.jsonl").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        read_records(tmp_path)


def test_live_run_in_another_process_arrives_once_in_order(tmp_path):
    """A real run logging in another process, read while it writes: every record exactly once."""
    n = 20000
    script = textwrap.dedent(f"""
        import time, seetrain
        run = seetrain.init(project="live", id="tail", logdir={str(tmp_path)!r}, system_metrics=False,
                            flush_interval=0.05)
        for i in range({n}):
            run.log({{"loss": 1.0 / (i + 1), "i": i}})
            if i % 500 == 0:
                time.sleep(0.01)
        run.finish()
    """)
    proc = popen_python(["-c", script])
    run_dir = tmp_path / "live" / "tail"
    got, offset, calls, partial_seen = [], 0, 0, False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = proc.poll() is not None
        chunk = read_records(run_dir, offset, max_bytes=64 << 10)
        assert chunk.corrupt == 0
        got += chunk.records
        if chunk.next_offset > offset:
            calls += 1
        offset = chunk.next_offset
        size = os.path.getsize(run_dir / "records.jsonl") if (run_dir / "records.jsonl").exists() else 0
        partial_seen |= size > offset and not done
        if done and chunk.records == [] and offset == size:
            break
        time.sleep(0.002)
    assert proc.wait(timeout=60) == 0
    seqs = [r["seq"] for r in got]
    assert seqs == list(range(len(got)))  # gap-free, in order, nothing twice
    steps = [r["step"] for r in got if r["type"] == "metrics"]
    assert steps == list(range(n))
    assert [r["data"]["i"] for r in got if r["type"] == "metrics"] == list(range(n))
    assert calls > 5  # it was read while it was written, not only at the end
    assert read_run(run_dir).status == "success"


# --- decode_record and old runs --------------------------------------------------------------------
def test_decode_record_types_old_lines_and_untags_numbers():
    old = records.decode_record(b'{"seq":3,"time":1.5,"step":2,"data":{"loss":"NaN","g":"-Infinity","n":1}}')
    assert old["type"] == "metrics" and math.isnan(old["data"]["loss"]) and old["data"]["g"] == -math.inf
    assert records.decode_record(b'{"seq":4,"time":1.5,"config":{"lr":0.1}}')["type"] == "config"
    sys_rec = records.decode_record(b'{"seq":5,"time":2.0,"type":"system","data":{"sys/cpu":"Infinity"}}')
    assert sys_rec["data"]["sys/cpu"] == math.inf
    summ = records.decode_record(b'{"seq":6,"time":2.0,"type":"summary","summary":{"best":"NaN","tag":"x"}}')
    assert math.isnan(summ["summary"]["best"]) and summ["summary"]["tag"] == "x"
    ev = records.decode_record(b'{"seq":7,"time":2.0,"type":"event","event":"warning","message":"NaN"}')
    assert ev["message"] == "NaN"  # only numbers carry tags
    with pytest.raises(ValueError):
        records.decode_record(b'{"seq":8,"time":2.0,"type":"metr')


def test_old_format_run_directory_reads_as_typed_records(tmp_path):
    """A run written before format 2: no type, no heartbeat, system metrics logged as sys/ keys."""
    recs = [{"seq": 0, "time": 10.0, "config": {"lr": 0.1}},
            {"seq": 1, "step": 0, "time": 11.0, "data": {"loss": 1.0, "acc": "NaN"}},
            {"seq": 2, "step": 0, "time": 11.5, "data": {"sys/cpu_percent": 50.0}},
            {"seq": 3, "step": 1, "time": 12.0, "data": {"loss": 0.5, "acc": 0.7}}]
    dead_pid = run_python(["-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
    d = write_run(tmp_path / "old", {"id": "old", "name": "o", "project": "p", "status": "running",
                                     "pid": int(dead_pid), "host": os.uname().nodename, "start_time": 10.0},
                  recs, tail=b'{"seq":4,"step":2,"ti')
    r = read_run(d)
    assert r.format == 1 and r.uuid is None
    assert r.status == "crashed" and r.vanished and r.torn  # its process is gone: the tail is torn
    assert r.keys() == ["acc", "loss"] and r.system_keys() == ["sys/cpu_percent"]
    assert r.scalars("loss").values == [1.0, 0.5] and r.scalars("loss").steps == [0, 1]
    assert math.isnan(r.scalars("acc").values[0])
    assert r.system("sys/cpu_percent").times == [11.5]
    assert r.config == {"lr": 0.1} and r.summary() == {"loss": 0.5, "acc": 0.7}
    assert [x["type"] for x in r.records()] == ["config", "metrics", "metrics", "metrics"]
    assert r.last_seq == 3 and r.last_step == 1 and r.corrupt_lines == 0


# --- liveness ----------------------------------------------------------------------------------------
def _meta(**kw):
    meta = {"format": 2, "uuid": "u" * 32, "id": "r", "project": "p", "status": "running",
            "pid": 999999, "host": "another-host", "start_time": time.time() - 100}
    meta.update(kw)
    return meta


def test_heartbeat_decides_liveness_on_any_host(tmp_path):
    fresh = read_run(write_run(tmp_path / "a", _meta(heartbeat=time.time() - 2), []))
    assert fresh.status == "running" and not fresh.vanished  # another host: its pid means nothing here
    stale = read_run(write_run(tmp_path / "b", _meta(heartbeat=time.time() - HEARTBEAT_STALE_S - 1), []))
    assert stale.status == "crashed" and stale.vanished and stale.heartbeat_age > HEARTBEAT_STALE_S
    mine = read_run(write_run(tmp_path / "c", _meta(heartbeat=time.time() - HEARTBEAT_STALE_S - 5,
                                                    pid=os.getpid(), host=os.uname().nodename), []))
    assert mine.status == "crashed"  # a live pid does not outvote a stale heartbeat (pid reuse)
    done = read_run(write_run(tmp_path / "d", _meta(status="killed", heartbeat=time.time() - 999), []))
    assert done.status == "killed" and not done.vanished


def test_a_live_writer_reads_running_and_a_stale_heartbeat_reads_crashed(tmp_path):
    """A real writer in another process; after SIGKILL its heartbeat stops and ages."""
    script = textwrap.dedent(f"""
        import time, seetrain
        run = seetrain.init(project="hb", id="k", logdir={str(tmp_path)!r}, system_metrics=False)
        run.log({{"loss": 1.0}})
        run.flush()
        print("ready", flush=True)
        time.sleep(120)
    """)
    proc = popen_python(["-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        run_dir = tmp_path / "hb" / "k"
        r = read_run(run_dir)
        assert r.status == "running" and "heartbeat" in r.meta and r.heartbeat_age < HEARTBEAT_STALE_S
    finally:
        proc.kill()
        proc.wait()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "running"  # SIGKILL: nobody wrote an ending
    # on the writer's own host its pid is gone: dead at once, though the heartbeat is still fresh
    r = read_run(run_dir)
    assert r.heartbeat_age < HEARTBEAT_STALE_S and r.status == "crashed" and r.vanished
    # what a reader sees HEARTBEAT_STALE_S later (on any host sharing the folder)
    meta["heartbeat"] -= HEARTBEAT_STALE_S + 1
    (run_dir / "run.json").write_text(json.dumps(meta))
    r = read_run(run_dir)
    assert r.status == "crashed" and r.vanished
    assert r.scalars("loss").values == [1.0]


# --- what a RunReader exposes ----------------------------------------------------------------------
def test_format2_run_exposes_events_console_system_summary_and_ending(tmp_path):
    t0 = 1764079200.0
    recs = [{"seq": 0, "time": t0, "type": "event", "event": "start", "format": 2, "uuid": "ab" * 16,
             "pid": 1, "host": "h"},
            {"seq": 1, "time": t0, "type": "config", "config": {"lr": 0.1, "bs": 8}},
            {"seq": 2, "time": t0 + 1, "type": "console", "stream": "stdout", "line": "epoch 0"},
            metrics(3, 0, {"loss": 1.0, "img": {"_type": "image", "path": "media/img/0_3.png"}}, t0 + 1),
            {"seq": 4, "time": t0 + 2, "type": "system", "data": {"sys/cpu_percent": 40.0}},
            metrics(5, 1, {"loss": 0.5}, t0 + 3),
            {"seq": 6, "time": t0 + 3, "type": "console", "stream": "stderr", "line": "warn: x"},
            {"seq": 7, "time": t0 + 3, "type": "config", "config": {"lr": 0.01}},
            {"seq": 8, "time": t0 + 4, "type": "summary", "summary": {"best_acc": 0.9, "loss": 0.4}},
            {"seq": 9, "time": t0 + 4, "type": "event", "event": "lost", "first_seq": 10, "last_seq": 11,
             "count": 2, "reason": "ENOSPC"},
            {"seq": 12, "time": t0 + 5, "type": "system", "data": {"sys/cpu_percent": 60.0}},
            {"seq": 13, "time": t0 + 6, "type": "event", "event": "finish", "status": "crashed", "exit_code": 1}]
    meta = _meta(status="crashed", uuid="ab" * 16, exit_code=1, lost=2, heartbeat=t0 + 6, end_time=t0 + 6,
                 error={"type": "ValueError", "message": "bad", "traceback": "Traceback ..."},
                 summary={"loss": 0.5, "old_key": 3}, last_step=1, last_seq=13, records=12)
    r = read_run(write_run(tmp_path / "f2", meta, recs))
    assert (r.format, r.uuid, r.exit_code, r.lost) == (2, "ab" * 16, 1, 2)
    assert r.error["type"] == "ValueError" and r.status == "crashed" and not r.vanished
    assert [e["event"] for e in r.events] == ["start", "lost", "finish"]
    assert r.lost_ranges()[0]["first_seq"] == 10
    assert [(c.stream, c.line) for c in r.console()] == [("stdout", "epoch 0"), ("stderr", "warn: x")]
    assert r.keys() == ["img", "loss"] and r.scalar_keys() == ["loss"]
    assert r.system_keys() == ["sys/cpu_percent"]
    cpu = r.system("sys/cpu_percent")
    assert cpu.values == [40.0, 60.0] and cpu.times == [t0 + 2, t0 + 5] and cpu.steps == [0, 1]
    assert r.scalars("loss").steps == [0, 1] and r.scalars("loss").times == [t0 + 1, t0 + 3]
    assert r.media("img")[0]["path"] == os.path.join(r.path, "media/img/0_3.png")
    assert r.config == {"lr": 0.01, "bs": 8}
    summary = r.summary()  # run.json's, the records' last values, then run.summary[...] on top
    assert summary["best_acc"] == 0.9 and summary["loss"] == 0.4 and summary["old_key"] == 3
    assert r.last_seq == 13 and r.num_records == 12 and r.last_step == 1
    assert [row.values for row in r.rows()] == [{"loss": 1.0}, {"loss": 0.5}]


def test_a_real_run_reads_back_typed(logdir):
    run = seetrain.init(project="p", config={"lr": 0.1}, system_metrics=False)
    for i in range(3):
        run.log({"loss": 1.0 / (i + 1), "bad": float("nan")})
    run.finish()
    r = read_run(run.dir)
    assert r.format == 2 and len(r.uuid) == 32 and r.status == "success"
    assert r.scalars("loss").values == [1.0, 0.5, 1 / 3] and math.isnan(r.summary()["bad"])
    assert [e["event"] for e in r.events][0] == "start" and r.events[-1]["event"] == "finish"
    assert r.config == {"lr": 0.1} and r.last_seq == r.num_records - 1


def test_memory_error_is_raised_not_counted_as_corrupt(tmp_path):
    """A reader that cannot hold the run says so; it never returns a silently shortened run."""
    d = write_run(tmp_path / "m", {"id": "m", "status": "success", "format": 2},
                  [metrics(i, i, {"loss": float(i)}) for i in range(50000)])
    code = textwrap.dedent(f"""
        import resource, sys
        import seetrain.rundir.reader as R
        def vm():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
        r = R.read_run({d!r})
        limit = vm() + (1 << 20)  # room for nothing like the run
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            n = len(r.scalars("loss").values)
        except MemoryError:
            print("memory-error")
            sys.exit(0)
        print("read", n, r.corrupt_lines)
    """)
    out = run_python(["-c", code], capture_output=True, text=True, timeout=120)
    result = out.stdout.split()
    assert result == ["memory-error"] or result == ["read", "50000", "0"], out.stdout + out.stderr


def test_refresh_reads_only_what_was_appended(tmp_path):
    d = write_run(tmp_path / "grow", _meta(heartbeat=time.time()), [metrics(i, i, {"loss": float(i)}) for i in range(3)],
                  tail=b'{"seq":3,"time":1.0,"type":"metr')
    r = read_run(d)
    assert r.scalars("loss").values == [0.0, 1.0, 2.0] and not r.torn  # live: the partial line is not yet
    with open(os.path.join(d, "records.jsonl"), "ab") as f:
        f.write(b'ics","step":3,"data":{"loss":3.0}}\n' + json.dumps(metrics(4, 4, {"loss": 4.0})).encode() + b"\n")
    assert r.refresh().scalars("loss").values == [0.0, 1.0, 2.0, 3.0, 4.0] and r.last_seq == 4
    assert r.num_records == 5 and r.corrupt_lines == 0
