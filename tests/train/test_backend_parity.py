"""The two backends look the same from outside: the same metric keys in the run, the same console
lines, and the same answer to ``trainer.precision=16-mixed`` on a CPU."""

from __future__ import annotations

import pytest

pytest.importorskip("lightning")
pytest.importorskip("paddle")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .conftest import FAST  # noqa: E402

TINY = FAST + ["data=synthetic", "data.num_samples=64", "data.batch_size=16", "model.width=8", "trainer.max_epochs=2",
               "trainer.log_every_n_steps=1"]


def _keys(logdir, project):
    (run,) = seetrain.list_runs(logdir, project=project)
    return sorted(k for k in run.keys() if k.split("/")[0] in ("train", "val", "epoch", "lr"))


def test_both_backends_log_the_same_metric_keys(logdir):
    for backend in ("lightning", "paddle"):
        assert train_main(TINY + [f"trainer.backend={backend}", f"logger.project={backend}"]) == 0
    assert _keys(logdir, "lightning") == _keys(logdir, "paddle") == [
        "train/epoch", "train/loss", "train/lr", "val/acc", "val/epoch", "val/loss"]


def test_float16_on_a_cpu_is_the_same_error_on_both_backends(logdir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: float16 mixed precision runs")
    errs = []
    for backend in ("lightning", "paddle"):
        assert train_main(TINY + [f"trainer.backend={backend}", "trainer.precision=16-mixed"]) == 2, backend
        errs.append(capsys.readouterr().err)
    assert errs[0] == errs[1], errs
    assert errs[0].strip() == ("seetrain train: trainer.precision=16-mixed: float16 mixed precision needs a GPU, and "
                               "this run would train on the CPU; use 32-true, or auto (it picks what the device supports)")
    assert not seetrain.list_runs(logdir)


@pytest.mark.parametrize("backend", ["lightning", "paddle"])
def test_the_progress_bar_is_the_same_on_both_backends(backend, logdir, capfd):
    args = [a for a in TINY if a != "trainer.enable_progress_bar=false"]
    assert train_main(args + ["data.num_samples=160", f"trainer.backend={backend}", "trainer.checkpoint.enabled=false"]) == 0
    out, err = capfd.readouterr()
    assert "Epoch 0" in err and "Epoch 1" in err and "10/10" in err, err[-2000:]
    assert "loss=" in err and "acc=" in err, err[-2000:]
    assert "step 10/10" not in out and "Eval begin" not in out, out[-2000:]   # no second, framework-own progress
