"""What a training prints and leaves: the run directory and the `seetrain ui` hint first, the final and
the best validation figures last (the same lines on both backends), val/acc in `seetrain ls`, and
untracked runs (logger=none) each with their own checkpoint folder."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .conftest import FAST  # noqa: E402

TINY = FAST + ["data=synthetic", "data.num_samples=64", "data.batch_size=16", "model.width=8", "trainer.max_epochs=2"]
BACKENDS = ["lightning", pytest.param("paddle", marks=pytest.mark.skipif(
    importlib.util.find_spec("paddle") is None, reason="PaddlePaddle is not installed"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_dir_and_ui_hint_first_final_and_best_figures_last(backend, logdir, capsys):
    assert train_main(TINY + [f"trainer.backend={backend}"]) == 0
    out = capsys.readouterr().out
    (run,) = seetrain.list_runs(logdir)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == f"run dir: {run.path}", out               # before any training output
    assert lines[1] == f"watch it: seetrain ui {logdir}", out
    acc = run.scalars("val/acc").values
    final = re.search(r"^final val/acc: ([0-9.]+), val/loss: ([0-9.]+)$", out, re.M)
    assert final and float(final.group(1)) == pytest.approx(acc[-1], abs=5e-5), out
    assert re.search(rf"^best val/acc: {max(acc):.4f} \(epoch \d\) after \d+ steps, 2 epochs", out, re.M), out


def test_seetrain_ls_shows_val_acc(logdir, capsys):
    from seetrain.cli import main

    assert train_main(TINY + ["trainer.log_every_n_steps=1"]) == 0
    capsys.readouterr()
    assert main(["ls", logdir]) == 0
    out = capsys.readouterr().out
    acc = seetrain.list_runs(logdir)[0].scalars("val/acc").values[-1]
    assert f"val/acc={acc:.4g}" in out, out


@pytest.mark.parametrize("backend,last", [("lightning", "last.ckpt"), pytest.param("paddle", "last.pdparams", marks=
                         pytest.mark.skipif(importlib.util.find_spec("paddle") is None, reason="no PaddlePaddle"))])
def test_untracked_runs_keep_their_checkpoints_apart(backend, last, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = TINY + ["logger=none", f"trainer.backend={backend}", "trainer.max_epochs=1"]
    assert train_main(args) == 0 and train_main(args + ["seed=1"]) == 0
    out = capsys.readouterr().out
    said = re.findall(r"^checkpoints: (.+)$", out, re.M)        # said at the start, as the run dir is
    assert len(said) == 2 and said[0] != said[1], out
    for folder in said:
        assert os.path.isfile(os.path.join(folder, last)) and folder.startswith(str(tmp_path))
