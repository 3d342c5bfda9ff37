"""Issue 27 item 10 ("one trainer"): `seetrain train`'s language-model task reports what
`seetrain apt train` reports: ``lr``, ``train/tokens_per_s``, the VFT blocks' ``vft/*`` statistics, the
``final/*`` figures with the unigram baseline, a text sample, and the trained model in ``files/model``."""

from __future__ import annotations

import math
import os

import pytest

pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402

from .test_apt_plugins_in_train import TINY_LM  # noqa: E402


def test_language_model_run_reports_as_apt_train_did(logdir, capsys):
    assert train_main(TINY_LM) == 0
    (run,) = seetrain.list_runs(logdir)
    assert run.status == "success"
    keys = set(run.keys())
    assert {"lr", "train/tokens_per_s", "vft/block0/eps_mean", "vft/block0/over_tau", "final/val_loss",
            "final/val_ppl", "final/unigram_baseline"} <= keys, sorted(keys)
    loss_steps = run.scalars("train/loss").steps
    assert run.scalars("lr").steps == loss_steps and run.scalars("train/tokens_per_s").steps == loss_steps
    assert all(v > 0 for v in run.scalars("train/tokens_per_s").values)
    assert run.scalars("vft/block0/eps_mean").steps == loss_steps
    final = run.scalars("final/val_loss").values[-1]
    assert final < math.log(259) - 1.0  # learned: far below the uniform guess over 259 tokens
    assert math.isclose(run.scalars("final/val_ppl").values[-1], math.exp(final), rel_tol=1e-6)
    assert math.isclose(run.config["unigram_baseline"], run.scalars("final/unigram_baseline").values[-1])
    assert run.media("samples/text")
    from seetrain.apt.data import ByteTokenizer
    from seetrain.apt.model import APTLanguageModel

    model_dir = os.path.join(run.path, "files", "model")
    assert APTLanguageModel.from_pretrained(model_dir).config.d_model == 32
    assert ByteTokenizer.load(model_dir).vocab_size == 259
    out = capsys.readouterr().out
    assert f"model: {model_dir}" in out and "unigram baseline" in out
