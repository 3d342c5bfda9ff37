"""Issue 27 item 10 ("one trainer"): what `seetrain train` gained so that `seetrain apt train` is an alias
of it: validation every N training batches across epochs (``check_val_every_n_epoch: null``, Lightning's
meaning) and a warm-up counted in optimizer steps (``scheduler.warmup_steps``)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .test_apt_plugins_in_train import TINY_LM  # noqa: E402  (20 optimizer steps an epoch)


def test_validation_every_n_batches_across_epochs(logdir, capsys):
    across = ["trainer.max_epochs=3", "trainer.val_check_interval=30", "trainer.check_val_every_n_epoch=null"]
    assert train_main(TINY_LM + across) == 0
    (run,) = seetrain.list_runs(logdir)
    # batches 30 and 60 of the whole training (epoch 1, batch 10; the end of epoch 2): before, 30 > 20
    # batches an epoch was refused, and any number counted within an epoch
    assert run.scalars("val/loss").steps == [29, 59]
    assert run.scalars("val/epoch").values == [1, 2]
    assert train_main(TINY_LM + ["trainer.max_epochs=3", "trainer.val_check_interval=30"]) == 2
    assert "any number with trainer.check_val_every_n_epoch=null" in capsys.readouterr().err


def test_warm_up_in_optimizer_steps(logdir):
    assert train_main(TINY_LM + ["optim.lr=0.01", "scheduler.name=cosine", "scheduler.warmup_steps=10",
                                 "scheduler.warmup_epochs=5.0", "scheduler.min_lr_ratio=0.1"]) == 0  # warmup_steps wins over warmup_epochs
    (run,) = seetrain.list_runs(logdir)
    lr = dict(zip(run.scalars("train/lr").steps, run.scalars("train/lr").values))
    # logged after the step's scheduler update: at step s the rate of step s + 1, (s + 2) / 10 of the base
    assert math.isclose(lr[4], 0.01 * 6 / 10, rel_tol=1e-6)
    total = 40  # 2 epochs of 20 steps; cosine from step 10 to 40, down to 0.1 of the base
    cosine = 0.5 * (1 + math.cos(math.pi * (15 - 10) / (total - 10)))
    assert math.isclose(lr[14], 0.01 * (0.1 + 0.9 * cosine), rel_tol=1e-6)
