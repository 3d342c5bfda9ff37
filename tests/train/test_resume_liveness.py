"""``trainer.resume`` decides "still running" by the live check (a writer process that lives), not by
what ``run.json`` says: a run whose process was SIGKILLed (or OOM-killed) resumes, a live one is
refused; and resuming from a run in another logdir continues it there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import seetrain
from seetrain.train.errors import TrainConfigError
from seetrain.train.resume import run_init_kwargs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = """
    import os, signal, sys, seetrain
    run = seetrain.init(project="train", experiment_name="first", logdir=sys.argv[1], system_metrics=False,
                        console="off", flush_interval=0.05)
    for step in range(3):
        run.log({"train/loss": 1.0 / (step + 1)}, step=step)
    run.flush()  # the records are on disk before the kill
    os.makedirs(os.path.join(run.dir, "checkpoints"))
    open(os.path.join(run.dir, "checkpoints", "last.ckpt"), "wb").close()
    print(run.dir, seetrain.__file__, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # alive until the test closes stdin
"""


def _start_child(tmp_path, logdir: str, how: str) -> subprocess.Popen:
    script = tmp_path / "first.py"
    script.write_text(textwrap.dedent(CHILD))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return subprocess.Popen([sys.executable, str(script), logdir, how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))


def _config(logdir: str) -> dict:
    return {"logger": {"project": "mine", "logdir": logdir}}


def test_resume_after_sigkill_continues_the_run_in_its_own_logdir(tmp_path):
    other = str(tmp_path / "other-logdir")     # where the killed training wrote
    mine = str(tmp_path / "my-logdir")         # the logdir of the resuming training's config
    child = _start_child(tmp_path, other, "kill")
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err
    run_dir, imported = out.split()
    assert imported.startswith(os.path.join(ROOT, "seetrain")), imported
    first = seetrain.read_run(run_dir)
    assert first.meta["status"] == "running" and first.status == "crashed"  # run.json was never finished

    kw = run_init_kwargs(_config(mine), None, os.path.join(run_dir, "checkpoints", "last.ckpt"))
    assert (kw["logdir"], kw["project"], kw["id"], kw["resume"]) == (other, "train", first.id, True)
    assert kw["experiment_name"] == "first"

    run = seetrain.init(**kw, system_metrics=False, console="off")
    run.log({"train/loss": 0.1}, step=3)
    run.finish()
    assert run.dir == run_dir
    again = seetrain.read_run(run_dir)
    assert again.id == first.id and again.status == "success"
    assert again.scalars("train/loss").steps == [0, 1, 2, 3]
    assert not os.path.exists(mine)            # nothing was started in the config's logdir


def test_resume_of_a_run_whose_writer_lives_is_refused(tmp_path):
    logdir = str(tmp_path / "logs")
    child = _start_child(tmp_path, logdir, "live")
    try:
        run_dir, _ = child.stdout.readline().split()
        with pytest.raises(TrainConfigError, match="still running in another process") as e:
            run_init_kwargs(_config(logdir), None, run_dir)
        assert e.value.key == "trainer.resume"
    finally:
        child.stdin.close()
        child.wait(120)
    assert seetrain.read_run(run_dir).status == "success"
    kw = run_init_kwargs(_config(logdir), None, run_dir)  # once it has ended, it resumes
    assert kw["resume"] is True and kw["id"] == os.path.basename(run_dir)


def test_a_new_run_takes_every_logger_field_and_no_checkpoint_means_no_resume(tmp_path):
    config = {"logger": {"project": "cls", "experiment_name": "exp", "description": "why", "logdir": str(tmp_path),
                         "tags": ["a"], "group": "g1"}, "seed": 3}
    kw = run_init_kwargs(config, "fallback", None)
    assert kw == dict(project="cls", experiment_name="exp", description="why", config=config, logdir=str(tmp_path),
                      tags=["a", "group:g1"])
    bare = run_init_kwargs({"logger": {}}, "fallback", None)
    assert bare == dict(project="train", experiment_name="fallback", description=None, config={"logger": {}},
                        logdir=None, tags=None)


def test_checkpoint_depth_and_a_run_moved_out_of_its_place(tmp_path):
    """Up to three folders below the run directory a checkpoint belongs to the run; deeper, or in a
    run directory that no longer sits at <logdir>/<project>/<id>, it starts a new run."""
    from seetrain.train.resume import checkpoint_run

    logdir = str(tmp_path / "logs")
    run = seetrain.init(project="train", logdir=logdir, system_metrics=False, console="off")
    run.finish()
    deep = os.path.join(run.dir, "checkpoints", "a", "b")
    os.makedirs(os.path.join(deep, "c"))
    for d in (deep, os.path.join(deep, "c")):
        open(os.path.join(d, "x.ckpt"), "wb").close()
    found = checkpoint_run(os.path.join(deep, "x.ckpt"))          # <run>/checkpoints/a/b/x.ckpt: 3 levels
    assert found is not None and (found.path, found.logdir, found.id) == (run.dir, logdir, run.id)
    assert checkpoint_run(os.path.join(deep, "c", "x.ckpt")) is None  # 4 levels: not this run's
    moved = tmp_path / "elsewhere" / run.id                        # right id, wrong project folder
    os.makedirs(moved.parent)
    os.rename(run.dir, moved)
    assert checkpoint_run(str(moved)) is None

