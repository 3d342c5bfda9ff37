"""Shared runs (issue 23): many processes write one run, and nothing is lost, doubled or overwritten.

Every writer is a real process (a launcher's ``RANK``/``WORLD_SIZE`` in its environment, or a fork
of a writer); the run is read back with :func:`seetrain.read_run` and each writer's log is checked
line by line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time

import pytest

import seetrain
from seetrain.rundir.files import RunLockedError
from seetrain.rundir.format import shared_run_uuid
from tests._child import popen_python, run_python
from tests.core._scripts import assert_seqs_complete

WRITER = textwrap.dedent("""
    import sys, seetrain
    logdir, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = seetrain.init(project="p", id=run_id, logdir=logdir, shared=True, resume=True,
                        flush_interval=0.05, system_metrics=False, console="off")
    start = run.step
    for i in range(start, start + n):
        run.log({"x": i})
        if i == start + n // 2:
            run.flush()
            print("half", flush=True)
            sys.stdin.readline()  # the test says when to go on (all writers are then alive at once)
    run.finish()
""")


def _start(tmp_path, run_id: str, n: int, rank: int, world: int, logdir=None) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    return popen_python([str(script), str(logdir or tmp_path / "logs"), run_id, str(n)], env=env,
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_writers(tmp_path, run_id: str, n: int, ranks, world: int, logdir=None) -> None:
    """Start one writer per rank, wait until every one is half-way (all alive at once), let them finish."""
    procs = [_start(tmp_path, run_id, n, r, world, logdir) for r in ranks]
    for p in procs:
        assert p.stdout.readline().strip() == "half", p.stderr.read()[-3000:]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]


def _log_lines(path: str):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.split(b"\n")[:-1]]


def _writer_log(run_dir: str, label: str, primary: bool = False):
    folder = run_dir if primary else os.path.join(run_dir, "writers", label)
    return _log_lines(os.path.join(folder, "records.jsonl"))


def test_four_processes_write_one_run_and_every_point_is_there_once(tmp_path):
    _run_writers(tmp_path, "ddp", 10_000, range(4), 4)
    run_dir = str(tmp_path / "logs" / "p" / "ddp")
    r = seetrain.read_run(run_dir)
    assert r.shared and r.status == "success" and r.crashed_writers == []
    assert [(w.label, w.primary, w.rank, w.status) for w in r.writers] == [
        ("rank0", True, 0, "success"), ("rank1", False, 1, "success"),
        ("rank2", False, 2, "success"), ("rank3", False, 3, "success")]
    x = r.scalars("x")
    assert len(x.values) == 40_000  # every point of every writer, none doubled or overwritten
    for label in ("rank0", "rank1", "rank2", "rank3"):
        mine = r.scalars("x", writer=label)
        assert mine.values == list(range(10_000)) and mine.steps == list(range(10_000))
        assert [v for v, w in zip(x.values, x.writers) if w == label] == list(range(10_000))
        recs = _writer_log(run_dir, label, primary=label == "rank0")
        assert_seqs_complete(recs)  # each writer's own seqs: 0..N-1, gap-free
        start = recs[0]
        assert start["event"] == "start" and start["writer"] == label and start["format"] == 3
    # one uuid, the same every writer names; the primary alone rewrote run.json
    meta = json.load(open(os.path.join(run_dir, "run.json")))
    assert meta["uuid"] == shared_run_uuid("p", "ddp") and meta["writer"] == "rank0" and meta["format"] == 3
    for label in ("rank1", "rank2", "rank3"):
        wmeta = json.load(open(os.path.join(run_dir, "writers", label, "writer.json")))
        assert wmeta["uuid"] == meta["uuid"] and wmeta["label"] == label and wmeta["status"] == "success"
        assert wmeta["world_size"] == 4 and wmeta["records"] == 10_002  # start, 10,000 points, finish


KILLABLE = textwrap.dedent("""
    import sys, time, seetrain
    run = seetrain.init(project="p", id="k", logdir=sys.argv[1], shared=True, flush_interval=0.05,
                        system_metrics=False, console="off")
    i = 0
    while True:
        run.log({"x": i})
        i += 1
        if i == 3000:
            run.flush()
            print("flushed", i, flush=True)
        time.sleep(0.0002)
""")


def test_sigkill_of_one_writer_keeps_its_flushed_records_and_names_it_crashed(tmp_path):
    logdir = tmp_path / "logs"
    victim_script = tmp_path / "victim.py"
    victim_script.write_text(KILLABLE)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = lambda rank: dict(os.environ, RANK=str(rank), WORLD_SIZE="4")  # noqa: E731
    others = [popen_python([str(script), str(logdir), "k", "5000"], env=env(r), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1, 3)]
    victim = popen_python([str(victim_script), str(logdir)], env=env(2), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    assert victim.stdout.readline().split() == ["flushed", "3000"], victim.stderr.read()[-3000:]
    for p in others:
        assert p.stdout.readline().strip() == "half", p.stderr.read()[-3000:]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    for p in others:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in others:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
    r = seetrain.read_run(str(logdir / "p" / "k"))
    assert r.status == "crashed" and r.crashed_writers == ["rank2"] and r.vanished
    assert {w.label: w.status for w in r.writers} == {"rank0": "success", "rank1": "success",
                                                      "rank2": "crashed", "rank3": "success"}
    lost = r.scalars("x", writer="rank2").values
    assert len(lost) >= 3000 and lost == list(range(len(lost)))  # all it flushed, in order, no gap
    for label in ("rank0", "rank1", "rank3"):
        assert r.scalars("x", writer=label).values == list(range(5000))
    # the terminal says it too: four writers, crashed, naming the one that crashed
    ls = run_python(["-m", "seetrain.cli", "ls"], env=dict(os.environ, SEETRAIN_LOGDIR=str(logdir)),
                    capture_output=True, text=True, timeout=60)
    header, _, row = ls.stdout.splitlines()[:3]
    assert header.split()[3:5] == ["STATUS", "WRITERS"] and row.split()[3:7] == ["crashed", "(rank2", "crashed)", "4"]
    show = run_python(["-m", "seetrain.cli", "show", "k"], env=dict(os.environ, SEETRAIN_LOGDIR=str(logdir)),
                      capture_output=True, text=True, timeout=60)
    assert "writers   4, crashed: rank2" in show.stdout and "  rank2: crashed" in show.stdout, show.stdout
    doc = json.loads(run_python(["-m", "seetrain.cli", "show", "k", "--json"], capture_output=True, text=True,
                                env=dict(os.environ, SEETRAIN_LOGDIR=str(logdir)), timeout=60).stdout)
    assert doc["run"]["writers"] == 4 and doc["run"]["crashed_writers"] == ["rank2"]
    assert [w["label"] for w in doc["run"]["writer_states"]] == ["rank0", "rank1", "rank2", "rank3"]


def test_a_new_set_of_processes_continues_each_writers_seqs(tmp_path):
    _run_writers(tmp_path, "again", 100, range(2), 2)
    _run_writers(tmp_path, "again", 100, range(3), 3)  # ranks 0 and 1 continue; rank 2 is a new writer
    run_dir = str(tmp_path / "logs" / "p" / "again")
    r = seetrain.read_run(run_dir)
    assert r.status == "success" and [w.label for w in r.writers] == ["rank0", "rank1", "rank2"]
    for label in ("rank0", "rank1"):
        recs = _writer_log(run_dir, label, primary=label == "rank0")
        assert_seqs_complete(recs)  # no gap, no duplicate across the two processes
        assert [e["event"] for e in recs if e["type"] == "event"] == ["start", "finish", "resume", "finish"]
        assert r.scalars("x", writer=label).values == list(range(200))
        assert r.scalars("x", writer=label).steps == list(range(200))
    recs = _writer_log(run_dir, "rank2")
    assert_seqs_complete(recs)
    assert r.scalars("x", writer="rank2").values == list(range(100))


def test_two_nodes_with_their_own_log_folders_name_one_run(tmp_path):
    node_a, node_b = tmp_path / "node-a", tmp_path / "node-b"
    _run_writers(tmp_path, "multi", 50, [0], 2, logdir=node_a)  # the primary on node A
    _run_writers(tmp_path, "multi", 50, [1], 2, logdir=node_b)  # rank 1 on node B: no run.json there yet
    a, b = seetrain.read_run(str(node_a / "p" / "multi")), seetrain.read_run(str(node_b / "p" / "multi"))
    assert a.uuid == b.uuid == shared_run_uuid("p", "multi")
    assert [w.label for w in a.writers] == ["rank0"] and [w.label for w in b.writers] == ["rank1"]
    assert b.shared and b.status == "success" and not b.vanished and b.scalars("x").values == list(range(50))
    assert b.meta["status"] == "running" and "writer" not in b.meta  # node B's run.json: made once, never rewritten


FORK_POOL = textwrap.dedent("""
    import multiprocessing as mp, os, sys, seetrain
    run = seetrain.init(project="p", id="pool", logdir=sys.argv[1], shared=True, writer="main",
                        system_metrics=False, console="off")

    def work(task):
        for j in range(200):
            seetrain.log({"task": task, "j": j})
        return os.getpid()

    if __name__ == "__main__":
        run.log({"parent": 1})
        with mp.get_context("fork").Pool(3) as pool:  # leaving the block terminates the workers
            pids = pool.map(work, range(6), chunksize=1)
        run.log({"parent": 2})
        run.finish()
        print(run.dir, *sorted(set(pids)), flush=True)
""")


def test_fork_pool_children_become_writers_and_every_record_is_on_disk(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(FORK_POOL)
    proc = popen_python([str(script), str(tmp_path / "logs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    run_dir, *pids = out.split()
    r = seetrain.read_run(run_dir)
    children = [w for w in r.writers if not w.primary]
    assert sorted(w.label for w in children) == sorted(f"main-fork{pid}" for pid in pids)
    assert r.scalars("parent").values == [1, 2] and set(r.scalars("parent").writers) == {"main"}
    task, j = r.scalars("task"), r.scalars("j")
    assert len(task.values) == 6 * 200  # every record of every task
    for t in range(6):
        mine = [(w, jj) for tt, jj, w in zip(task.values, j.values, task.writers) if tt == t]
        assert [jj for _, jj in mine] == list(range(200))
        assert len({w for w, _ in mine}) == 1 and mine[0][0].startswith("main-fork")  # one worker ran it
    for w in children:
        recs = _writer_log(run_dir, w.label)
        assert_seqs_complete(recs)
        assert recs[0]["event"] == "start" and recs[0]["writer"] == w.label
    assert r.status == "success" and not any("forked from pid" in line for line in err.splitlines())


def test_shared_run_refusals_say_what_to_do(tmp_path):
    logdir = str(tmp_path / "logs")
    with pytest.raises(ValueError, match="needs id="):
        seetrain.init(project="p", logdir=logdir, shared=True)
    with pytest.raises(ValueError, match="writer label"):
        seetrain.init(project="p", id="s", logdir=logdir, shared=True, writer="../evil")
    with pytest.raises(ValueError, match="pass shared=True"):
        seetrain.init(project="p", id="s", logdir=logdir, writer="eval")
    first = seetrain.init(project="p", id="s", logdir=logdir, shared=True, writer="eval", system_metrics=False)
    try:
        with pytest.raises(RunLockedError, match="writer 'eval'"):
            seetrain.init(project="p", id="s", logdir=logdir, shared=True, writer="eval", system_metrics=False)
        with pytest.raises(ValueError, match="is a shared run"):
            seetrain.init(project="p", id="s", logdir=logdir, resume=True, system_metrics=False)
    finally:
        first.finish()
    plain = seetrain.init(project="p", id="plain", logdir=logdir, system_metrics=False)
    plain.finish()
    with pytest.raises(ValueError, match="not shared"):
        seetrain.init(project="p", id="plain", logdir=logdir, shared=True, system_metrics=False)


def test_config_of_another_writer_is_its_own(tmp_path):
    logdir = str(tmp_path / "logs")
    primary = seetrain.init(project="p", id="c", logdir=logdir, shared=True, writer="train",
                            config={"lr": 0.1}, system_metrics=False)
    other = seetrain.init(project="p", id="c", logdir=logdir, shared=True, writer="eval",
                          config={"lr": 9.0, "eval_every": 5}, system_metrics=False)
    assert not other.primary and primary.primary
    other.finish()
    primary.finish()
    r = seetrain.read_run(primary.dir)
    assert r.config == {"lr": 0.1}  # run.json's config is the primary's alone
    assert r.writer_config("eval") == {"lr": 9.0, "eval_every": 5}
    assert r.meta["writer"] == "train"


def test_a_label_keeps_its_own_log_when_it_comes_back(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    logdir = str(tmp_path / "logs")
    opts = dict(project="p", id="back", logdir=logdir, shared=True, system_metrics=False, console="off")
    first, second = seetrain.init(writer="a", **opts), seetrain.init(writer="b", **opts)
    first.log({"x": 0})
    second.log({"x": 0})
    first.finish()
    second.finish()
    again = seetrain.init(writer="b", **opts)  # the run's lock is free, but "b" wrote as another writer
    assert not again.primary and again.step == 1
    again.log({"x": 1})
    again.finish()
    r = seetrain.read_run(again.dir)
    assert r.meta["writer"] == "a" and [w.label for w in r.writers] == ["a", "b"]
    assert r.scalars("x", writer="b").values == [0, 1] and r.scalars("x", writer="a").values == [0]
    assert_seqs_complete(_writer_log(again.dir, "b"))


def test_every_writers_media_and_its_own_events_are_read(tmp_path):
    """read_run(...).media(key) gave the primary's media only: an image logged by another writer (an
    evaluation process) was on disk and in its log but never listed."""
    np = pytest.importorskip("numpy")
    logdir = str(tmp_path / "logs")
    primary = seetrain.init(project="p", id="m", logdir=logdir, shared=True, writer="train", system_metrics=False)
    other = seetrain.init(project="p", id="m", logdir=logdir, shared=True, writer="eval", system_metrics=False)
    primary.log({"img": seetrain.Image(np.zeros((4, 4, 3), dtype=np.uint8))}, step=0)
    other.log({"img": seetrain.Image(np.full((4, 4, 3), 200, dtype=np.uint8))}, step=5)
    other.finish()
    primary.finish()
    r = seetrain.read_run(primary.dir)
    media = r.media("img")
    assert [(m["writer"], m["step"]) for m in media] == [("train", 0), ("eval", 5)]
    from PIL import Image as PILImage

    assert [PILImage.open(m["path"]).getpixel((0, 0)) for m in media] == [(0, 0, 0), (200, 200, 200)]
    assert [m["step"] for m in r.media("img", writer="eval")] == [5]
    assert [e["event"] for e in r.writer_events("eval")] == ["start", "finish"]
    assert [e["event"] for e in r.events] == ["start", "finish"]  # the run's own: the primary's, one seq order
