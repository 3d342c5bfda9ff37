"""Resume under a lock from the tail; run names that cannot escape the logdir."""

import os
import subprocess
import textwrap
import time

import pytest

import seetrain
from seetrain.rundir import RunLockedError
from tests.core._scripts import assert_seqs_complete, lines, meta
from tests._child import popen_python

HOLDER = """
    import sys, time, seetrain
    run = seetrain.init(project="p", id="shared", logdir=sys.argv[1], system_metrics=False)
    run.log({"x": 0})
    run.flush()
    print("ready", flush=True)
    time.sleep(60)
"""


def test_a_second_live_writer_is_refused_and_the_lock_dies_with_its_process(tmp_path):
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(HOLDER))
    logdir = str(tmp_path / "logs")
    proc = popen_python([str(script), logdir], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(RunLockedError, match=r"being written by a live process \(pid \d+"):
            seetrain.init(project="p", id="shared", logdir=logdir, resume=True, system_metrics=False)
    finally:
        proc.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
        proc.wait()
    again = seetrain.init(project="p", id="shared", logdir=logdir, resume=True, system_metrics=False)
    again.log({"x": 1})
    again.finish()
    recs = lines(again.dir)
    assert_seqs_complete(recs)
    assert [r["data"]["x"] for r in recs if r["type"] == "metrics"] == [0, 1]


def test_seqs_and_steps_continue_across_resumes_without_config_re_emitted(logdir):
    run = seetrain.init(project="p", id="r", config={"lr": 1}, system_metrics=False)
    run.log({"loss": 1.0})
    run.finish()
    for k in range(3):
        again = seetrain.init(project="p", id="r", resume=True, system_metrics=False,
                              config={"lr": 1, "round": k})
        assert again.config.to_dict() == {"lr": 1, "round": k}
        again.log({"loss": 0.5 / (k + 1)})
        again.finish()
    recs = lines(run.dir)
    assert_seqs_complete(recs)
    assert [r["step"] for r in recs if r["type"] == "metrics"] == [0, 1, 2, 3]
    assert [r["config"] for r in recs if r["type"] == "config"] == [{"lr": 1}, {"round": 0}, {"round": 1},
                                                                  {"round": 2}]
    resumes = [r for r in recs if r.get("event") == "resume"]
    assert len(resumes) == 3 and all(r["pid"] == os.getpid() for r in resumes)
    assert len({meta(run.dir)["uuid"]}) == 1 and meta(run.dir)["records"] == len(recs)
    with pytest.raises(ValueError, match="already exists"):
        seetrain.init(project="p", id="r")
    with pytest.raises(ValueError, match="must"):
        seetrain.init(project="p", id="nope", resume="must")


def test_resume_reads_only_the_tail(logdir):
    """A run of 200,000 records resumes as fast as a short one (its cost does not grow with length)."""
    run = seetrain.init(project="p", id="long", system_metrics=False, console="off")
    for i in range(200_000):
        run.log({"x": i})
    run.finish()
    short = seetrain.init(project="p", id="short", system_metrics=False, console="off")
    short.log({"x": 0})
    short.finish()

    def resume_time(rid):
        best = 1e9
        for _ in range(3):
            t = time.perf_counter()
            r = seetrain.init(project="p", id=rid, resume=True, system_metrics=False, console="off")
            best = min(best, time.perf_counter() - t)
            r.finish()
        return best

    long_t, short_t = resume_time("long"), resume_time("short")
    assert long_t < short_t + 0.05, (long_t, short_t)
    assert seetrain.init(project="p", id="long", resume=True, system_metrics=False).step == 200_000


@pytest.mark.parametrize("kwargs", [{"project": "../outside"}, {"project": "ABS"}, {"id": "../../outside"},
                                    {"id": "a/b"}, {"id": ".."}, {"id": "."}])
def test_project_and_id_cannot_escape_the_logdir(logdir, tmp_path, kwargs):
    kwargs = {k: (str(tmp_path / "outside") if v == "ABS" else v) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match="single folder name"):
        seetrain.init(system_metrics=False, **kwargs)
    assert not (tmp_path / "outside").exists()
