"""Resume under a lock from the tail; run names that cannot escape the logdir."""

import os
import subprocess
import textwrap

import pytest

import seetrain
from seetrain.rundir.files import RunLockedError
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


def _bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux /proc/self/io ``rchar``)."""
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="counts bytes read through Linux /proc/self/io")
def test_resume_reads_only_the_tail(logdir):
    """Resuming a run of 200,000 records reads a tail of its records, not the file (its cost does not grow
    with length); counted in bytes read, not timed (resume speed is measured in benchmarks/)."""
    run = seetrain.init(project="p", id="long", system_metrics=False, console="off")
    for i in range(200_000):
        run.log({"x": i})
    run.finish()
    size = os.path.getsize(os.path.join(run.dir, "records.jsonl"))
    before = _bytes_read()
    seetrain.init(project="p", id="long", resume=True, system_metrics=False, console="off").finish()
    read = _bytes_read() - before
    assert read < size / 20, (read, size)
    assert seetrain.init(project="p", id="long", resume=True, system_metrics=False).step == 200_000


@pytest.mark.parametrize("kwargs", [{"project": "../outside"}, {"project": "ABS"}, {"id": "../../outside"},
                                    {"id": "a/b"}, {"id": ".."}, {"id": "."}])
def test_project_and_id_cannot_escape_the_logdir(logdir, tmp_path, kwargs):
    kwargs = {k: (str(tmp_path / "outside") if v == "ABS" else v) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match="single folder name"):
        seetrain.init(system_metrics=False, **kwargs)
    assert not (tmp_path / "outside").exists()
