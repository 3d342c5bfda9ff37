"""Write errors never kill the writer and never glue lines; losses are counted and named."""

import os
import re

import seetrain
from tests.core._scripts import assert_seqs_complete, lines, meta, run_script

FULL_DISK = """
    import os, resource, signal, sys, time, seetrain
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # writes past the limit fail with EFBIG
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False, console="off",
                        flush_interval=0.05)
    print(run.dir, flush=True)
    run.log({"before": 0})
    run.flush()
    size = os.path.getsize(os.path.join(run.dir, "records.jsonl"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20000, hard))   # the disk is (nearly) full
    for i in range(3000):
        run.log({"i": i, "pad": 0.123456789})
        if i % 100 == 0:
            time.sleep(0.02)                               # several batches meet the limit
    run.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))            # space comes back
    for j in range(100):
        run.log({"after": j})
    run.finish()
"""


def test_file_size_limit_loses_whole_records_counts_them_and_recovers(tmp_path):
    out = run_script(tmp_path, FULL_DISK)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = out.stdout.split()[0]
    recs = lines(run_dir)  # every line parses: nothing glued, nothing torn
    assert_seqs_complete(recs)  # written seqs plus the lost ranges cover every seq exactly once
    lost_events = [r for r in recs if r.get("event") == "lost"]
    assert lost_events and all("EFBIG" in r["reason"] or "File too large" in r["reason"] for r in lost_events)
    n_lost = sum(r["count"] for r in lost_events)
    m = meta(run_dir)
    assert m["lost"] == n_lost > 0 and m["status"] == "success"
    written_i = [r["data"]["i"] for r in recs if r["type"] == "metrics" and "i" in r["data"]]
    assert 0 < len(written_i) < 3000 and written_i == sorted(written_i)
    assert [r["data"]["after"] for r in recs if r["type"] == "metrics" and "after" in r["data"]] == list(range(100))
    # the warning says what failed, why (the error as the OS gave it), what was kept, and that training went on
    assert re.search(r"could not write records\.jsonl \(OSError: [^)]*(File too large|EFBIG)[^)]*\); the lost "
                     r"records are counted in run\.json and named in a 'lost' event, and writing goes on when the "
                     r"disk accepts data again; training goes on", out.stderr), out.stderr[-2000:]


W_ERROR = """
    import os, sys, time, seetrain
    run = seetrain.init(project="p", logdir=sys.argv[1], system_metrics=False, flush_interval=0.1)
    print(run.dir, flush=True)
    path = os.path.join(run.dir, "records.jsonl")

    def written():
        return sum(1 for line in open(path) if '"x":' in line) if os.path.exists(path) else 0

    def wait_written(n):                   # no flush(): the writer alone must get there
        deadline = time.monotonic() + 60
        while written() < n and time.monotonic() < deadline:
            time.sleep(0.02)

    run.log({"huge": 10**400, "x": 0})     # a problem found on the writer thread: a warning there
    wait_written(1)                        # the warning was raised (as an error) on the writer thread
    for i in range(1, 50):
        run.log({"x": i})
    wait_written(50)
    print(written(), flush=True)
    run.finish()
"""


def test_w_error_never_kills_the_writer(tmp_path):
    out = run_script(tmp_path, W_ERROR, python_flags=["-W", "error"])
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir, written_before_finish = out.stdout.split()
    assert int(written_before_finish) == 50
    assert [r["data"]["x"] for r in lines(run_dir) if r["type"] == "metrics"] == list(range(50))
    assert "'huge'" in out.stderr


def test_resume_after_a_torn_tail_sets_it_aside(logdir):
    run = seetrain.init(project="p", id="torn", system_metrics=False, config={"lr": 1})
    for i in range(10):
        run.log({"x": i})
    run.finish()
    path = os.path.join(run.dir, "records.jsonl")
    torn = b'{"seq":99,"time":1.0,"type":"metrics","step":10,"data":{"x":'
    with open(path, "ab") as f:
        f.write(torn)  # a write cut short by a kill
    again = seetrain.init(project="p", id="torn", resume=True, system_metrics=False, config={"lr": 1})
    again.log({"x": 10})
    again.finish()
    recs = lines(run.dir)  # no glued line
    assert_seqs_complete(recs)
    assert [r["data"]["x"] for r in recs if r["type"] == "metrics"] == list(range(11))
    assert [r["step"] for r in recs if r["type"] == "metrics"][-1] == 10
    with open(path + ".torn", "rb") as f:
        assert f.read() == torn + b"\n"
    assert [r["config"] for r in recs if r["type"] == "config"] == [{"lr": 1}]  # not re-emitted
    assert [r["event"] for r in recs if r["type"] == "event"] == ["start", "finish", "resume", "finish"]
