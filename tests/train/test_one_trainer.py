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


def test_the_language_model_does_not_decay_its_embeddings(logdir):
    """As `seetrain apt train` did (and GPT-style training does): weight decay on the weight matrices,
    not on the token and position embeddings (nor biases and norms). The same 5 steps without decay and
    with a huge one show which is which."""
    from seetrain.apt.model import APTLanguageModel

    norms = {}
    for wd in (0, 20):
        assert train_main(TINY_LM + ["trainer.max_epochs=1", "trainer.max_steps=5", "optim.lr=0.01", f"optim.weight_decay={wd}",
                                     "scheduler.name=none", f"logger.experiment_name=wd{wd}"]) == 0
        (run,) = [r for r in seetrain.list_runs(logdir) if r.name == f"wd{wd}"]
        weights = APTLanguageModel.from_pretrained(f"{run.path}/files/model").state_dict()
        norms[wd] = {k: float(weights[k].norm()) for k in ("tok_emb.weight", "pos_emb.weight", "blocks.0.ffn.up.weight")}
    ratio = {k: norms[20][k] / norms[0][k] for k in norms[0]}
    # 5 steps of (1 - 0.01 * 20): a decayed matrix keeps about (0.8)^5 = 0.33 of its size (Adam's own
    # steps of 0.01 an element add some back: 0.57 measured), an embedding its size within 2 %
    assert ratio["blocks.0.ffn.up.weight"] < 0.7, ratio
    assert abs(ratio["tok_emb.weight"] - 1) < 0.02 and abs(ratio["pos_emb.weight"] - 1) < 0.02, ratio


def test_resume_from_a_step_with_the_run_directory_as_the_checkpoint(logdir, monkeypatch):
    """`seetrain train --resume-from STEP trainer.resume=RUN_DIR`: the run directory stands for its
    last.ckpt, so the history goes back to STEP as with the file (the points after it superseded)."""
    from seetrain.train.resume import REWIND_ENV

    monkeypatch.setenv(REWIND_ENV, "")  # restored after the test: train_main sets it for the process
    base = TINY_LM + ["trainer.checkpoint.enabled=true", "trainer.log_every_n_steps=1"]
    assert train_main(base + ["trainer.max_epochs=1"]) == 0
    (run,) = seetrain.list_runs(logdir)
    assert run.scalars("train/loss").steps[-1] == 19
    assert train_main(["--resume-from", "9", f"trainer.resume={run.path}", "trainer.max_epochs=2"]) == 0
    (again,) = seetrain.list_runs(logdir)
    assert again.id == run.id
    assert list(again.scalars("train/loss", superseded=True).steps) == list(range(10, 20))  # the first attempt's
    assert list(again.scalars("train/loss").steps) == list(range(40))[:10] + list(range(20, 40))
