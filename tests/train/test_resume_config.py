"""Ctrl-C, then the printed hint alone: the run goes on with its own config (not the defaults) and
ends with the same weights and the same LR sequence as a run that never stopped, on both backends;
overrides given on resume are listed, and a schedule change is warned about."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .conftest import FAST  # noqa: E402
from tests._child import run_python  # noqa: E402

# 10 optimizer steps an epoch; max_epochs is not the default 10, so a resume that drops it shows
ARGS = FAST + ["data=synthetic", "data.num_samples=160", "data.batch_size=16", "model.width=8",
               "trainer.max_epochs=4", "trainer.log_every_n_steps=1", "scheduler.name=cosine"]

# `seetrain train` in a child that presses Ctrl-C (a real SIGINT to itself) at the first validation of
# epoch STOP: the injected validation hook is the capability; the trainer's own handling is what runs
CTRL_C_CHILD = """
import os, signal, sys
from seetrain.train import runner
from seetrain.train.commands import train_main

stop, argv = int(sys.argv[1]), sys.argv[2:]
plan = runner.plan

def with_ctrl_c(config, hooks=()):
    def ctrl_c(epoch, step, metrics):
        if epoch == stop:
            os.kill(os.getpid(), signal.SIGINT)
    return plan(config, list(hooks) + [ctrl_c])

runner.plan = with_ctrl_c
sys.exit(train_main(argv))
"""

BACKENDS = ["lightning", pytest.param("paddle", marks=pytest.mark.skipif(
    importlib.util.find_spec("paddle") is None, reason="PaddlePaddle is not installed"))]


def _weights(run_dir: str, backend: str) -> dict:
    ckpt = os.path.join(run_dir, "checkpoints")
    if backend == "paddle":
        import paddle

        return {k: v.numpy() for k, v in paddle.load(os.path.join(ckpt, "last.pdparams")).items()}
    import torch

    return {k: v.numpy() for k, v in torch.load(os.path.join(ckpt, "last.ckpt"), map_location="cpu",
                                                 weights_only=True)["model"].items()}


def _lr(run) -> dict:
    s = run.scalars("train/lr")
    return dict(zip(s.steps, s.values))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_then_the_hint_alone_ends_as_an_uninterrupted_run(backend, logdir, tmp_path):
    import numpy as np

    args = ARGS + [f"trainer.backend={backend}"]
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_CHILD)
    res = run_python([str(script), "2"] + args + ["logger.project=cut"], cwd=tmp_path, capture_output=True,
                     text=True, timeout=240, env={**os.environ, "SEETRAIN_LOGDIR": logdir})
    assert res.returncode == 130, res.stderr[-3000:]
    (cut,) = seetrain.list_runs(logdir, project="cut")
    assert cut.status == "killed" and "Traceback" not in res.stderr, res.stderr[-3000:]
    note = re.search(r"interrupted at step (\d+); .*go on with: (.+)$", res.stderr, re.M)
    assert note, res.stderr[-2000:]
    assert int(note.group(1)) >= 20                        # epochs 0 and 1 done (10 steps each)
    hint = shlex.split(note.group(2))
    given = hint[2:] if hint[:2] == ["seetrain", "train"] else hint
    assert given == [f"trainer.resume={cut.path}"]

    assert train_main(given) == 0                           # the hint alone
    assert train_main(args + ["logger.project=whole"]) == 0  # the same training, never stopped
    (cut,), (whole,) = seetrain.list_runs(logdir, project="cut"), seetrain.list_runs(logdir, project="whole")
    assert cut.status == "success" and cut.config["trainer"]["max_epochs"] == 4     # its own config, kept
    a, b = _weights(whole.path, backend), _weights(cut.path, backend)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a), "the resumed run ends with other weights"
    lr_whole, lr_cut = _lr(whole), _lr(cut)
    assert sorted(lr_whole) == list(range(40))
    assert {s: lr_cut.get(s) for s in lr_whole} == pytest.approx(lr_whole, rel=1e-6)  # no jump at the resume step
    assert hint[:2] == ["seetrain", "train"], note.group(2)  # a command to paste, nothing to add


def test_overrides_on_resume_are_listed_and_a_schedule_change_warned(logdir, capsys):
    args = ARGS + ["trainer.max_epochs=1", "optim.lr=0.01", "trainer.checkpoint.enabled=true"]
    assert train_main(args) == 0
    (first,) = seetrain.list_runs(logdir)
    capsys.readouterr()
    assert train_main([f"trainer.resume={first.path}", "trainer.max_epochs=2", "optim.lr=0.01"]) == 0
    err = capsys.readouterr().err
    assert "resuming with its own config; changed on the command line: trainer.max_epochs 1 -> 2" in err, err
    assert "optim.lr" not in err                            # given, but the same as recorded: nothing changed
    assert re.search(r"warning: .*trainer.max_epochs.* changes? the LR schedule", err), err
    (run,) = seetrain.list_runs(logdir)
    assert run.id == first.id and run.config["optim"]["lr"] == 0.01 and run.config["trainer"]["max_epochs"] == 2
    assert run.config["trainer"]["log_every_n_steps"] == 1   # recorded, not the default 10


def test_a_resume_without_changes_says_nothing_about_overrides(logdir, capsys):
    assert train_main(ARGS + ["trainer.max_epochs=1"]) == 0
    (first,) = seetrain.list_runs(logdir)
    capsys.readouterr()
    assert train_main([f"trainer.resume={first.path}", "trainer.max_epochs=1"]) == 0
    err = capsys.readouterr().err
    assert "changed on the command line" not in err and "warning" not in err, err


def test_overrides_given_on_resume_are_recorded_in_the_run_and_from_run_trains_what_really_ran(logdir, capsys):
    """The run keeps, in its config, the overrides each resume gave (``resume_overrides``); ``--from-run``
    on it trains with them in effect, from the start (no ``trainer.resume``), and says so."""
    import yaml

    assert train_main(ARGS + ["trainer.max_epochs=1", "optim.lr=0.01"]) == 0
    (first,) = seetrain.list_runs(logdir)
    assert train_main([f"trainer.resume={first.path}", "trainer.max_epochs=2", "optim.lr=0.01"]) == 0
    assert train_main([f"trainer.resume={first.path}", "trainer.max_epochs=3"]) == 0
    (run,) = seetrain.list_runs(logdir)
    assert run.config["resume_overrides"] == [
        {"checkpoint": first.path, "overrides": ["trainer.max_epochs=2", "optim.lr=0.01"]},
        {"checkpoint": first.path, "overrides": ["trainer.max_epochs=3"]}]
    assert run.config["trainer"]["max_epochs"] == 3
    capsys.readouterr()
    assert train_main(["--from-run", run.path, "--print-config"]) == 0
    out, err = capsys.readouterr()
    again = yaml.safe_load(out)
    assert again["trainer"]["max_epochs"] == 3 and again["optim"]["lr"] == 0.01
    assert again["trainer"]["resume"] is None and again.get("resume_overrides") in (None, [])  # a new run, from step 0
    assert "was resumed with trainer.max_epochs=2 optim.lr=0.01, then trainer.max_epochs=3" in err, err
