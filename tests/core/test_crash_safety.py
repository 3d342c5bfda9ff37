"""Crash safety: SIGKILL loses at most the last flush interval; uncaught exceptions mark a crash."""

import os
import signal
import subprocess
import textwrap
import time

import seetrain
from tests._child import popen_python, run_python

KILLED_SCRIPT = textwrap.dedent("""
    import sys, time, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], flush_interval=0.2, system_metrics=False)
    print(run.dir, flush=True)
    i = 0
    while True:
        run.log({"i": i})
        i += 1
        time.sleep(0.0005)
""")


def test_sigkill_keeps_everything_flushed(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(KILLED_SCRIPT)
    proc = popen_python([str(script), str(tmp_path / "logs")], stdout=subprocess.PIPE, text=True)
    run_dir = proc.stdout.readline().strip()
    records = os.path.join(run_dir, "records.jsonl")
    on_disk = 0  # records the writer flushed on its own (the script never calls flush()) before the kill
    deadline = time.monotonic() + 60
    while on_disk < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
        if os.path.exists(records):
            with open(records, "rb") as f:
                data = f.read()
            on_disk = data[:data.rfind(b"\n") + 1].count(b'"i":')  # whole lines only
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert on_disk >= 2000, "the writer did not flush on its own"
    r = seetrain.read_run(run_dir)
    values = r.scalars("i").values
    # everything flushed before the kill is still there after it, in order, no gaps
    # (how recent the last flushed record is, the one-second bound, is measured in benchmarks/)
    assert values == list(range(len(values)))
    assert len(values) >= on_disk, (len(values), on_disk)
    # nobody finished the run: run.json still says running, with the heartbeat that lets readers
    # call it vanished once it is stale (the reader's tests cover that side)
    assert r.meta["status"] == "running" and r.meta["heartbeat"] >= r.meta["start_time"]


def test_torn_last_line_is_ignored(tmp_path):
    run = seetrain.init(project="p", logdir=str(tmp_path), system_metrics=False)
    for i in range(10):
        run.log({"x": i})
    run.finish()
    path = os.path.join(run.dir, "records.jsonl")
    with open(path, "ab") as f:
        f.write(b'{"seq":99,"time":1.0,"step":10,"data":{"x":')  # a write cut short by a kill
    r = seetrain.read_run(run.dir)
    assert r.scalars("x").values == list(range(10)) and r.torn


def test_uncaught_exception_marks_run_crashed(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(textwrap.dedent("""
        import sys, seetrain
        hooked = []
        sys.excepthook = lambda *a: hooked.append(a) or print("user hook ran", flush=True)
        run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False)
        run.log({"loss": 1.0})
        print(run.dir, flush=True)
        raise ValueError("training blew up")
    """))
    out = run_python([str(script), str(tmp_path / "logs")], capture_output=True, text=True,
                     timeout=60)
    assert out.returncode == 1
    run_dir, hook_line = out.stdout.strip().splitlines()
    assert hook_line == "user hook ran"  # the existing excepthook is chained
    r = seetrain.read_run(run_dir)
    assert r.status == "crashed" and r.scalars("loss").values == [1.0]


def test_unfinished_run_is_finished_at_exit(tmp_path):
    script = tmp_path / "forget.py"
    script.write_text("import sys, seetrain\nrun = seetrain.init(project='p', logdir=sys.argv[1])\n"
                      "run.log({'x': 1})\nprint(run.dir)\n")
    out = run_python([str(script), str(tmp_path / "logs")], capture_output=True, text=True,
                     timeout=60, check=True)
    r = seetrain.read_run(out.stdout.strip())
    assert r.status == "success" and r.summary()["x"] == 1


def test_running_status_while_process_lives(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import sys, time, seetrain\nrun = seetrain.init(project='p', logdir=sys.argv[1])\n"
                      "print(run.dir, flush=True)\ntime.sleep(30)\n")
    proc = popen_python([str(script), str(tmp_path / "logs")], stdout=subprocess.PIPE, text=True)
    try:
        run_dir = proc.stdout.readline().strip()
        assert seetrain.read_run(run_dir).status == "running"
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_finishes_the_run_as_killed(tmp_path):
    script = tmp_path / "term.py"
    script.write_text("import sys, time, seetrain\nrun = seetrain.init(project='p', logdir=sys.argv[1], flush_interval=30)\n"
                      "[run.log({'i': i}) for i in range(500)]\nprint(run.dir, flush=True)\ntime.sleep(30)\n")
    proc = popen_python([str(script), str(tmp_path / "logs")], stdout=subprocess.PIPE, text=True)
    run_dir = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM
    r = seetrain.read_run(run_dir)
    assert r.status == "killed" and r.scalars("i").values == list(range(500))
