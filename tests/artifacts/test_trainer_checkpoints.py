"""``seetrain train``: the best and last checkpoints become versions of the run's model artifact."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.artifacts import Registry  # noqa: E402
from seetrain.train.commands import train_main  # noqa: E402


@pytest.mark.parametrize("backend", ["lightning", "paddle"])
def test_the_trainers_best_and_last_checkpoints_are_model_artifacts(logdir, backend):
    if backend == "paddle":
        pytest.importorskip("paddle")
    args = [f"trainer.backend={backend}", "trainer.enable_progress_bar=false", "trainer.num_threads=1",
            "data=synthetic", "data.num_samples=96", "data.batch_size=16", "model.width=8", "trainer.max_epochs=2", "trainer.checkpoint.save_top_k=1"]
    assert train_main(args) == 0
    (run,) = seetrain.list_runs(logdir, project="train")
    reg = Registry(logdir)
    name = f"model-{run.id}"
    best, latest = reg.resolve("train", f"{name}:best"), reg.resolve("train", f"{name}:latest")
    assert best.type == latest.type == "model"
    ckpts = os.path.join(run.path, "checkpoints")
    ext = ".ckpt" if backend == "lightning" else ".pdparams"
    assert [f.path for f in latest.manifest.files] == [f"last{ext}"]
    (best_file,) = best.manifest.files
    assert best_file.path.endswith(ext)
    assert best_file.path.startswith("epoch") and os.path.isfile(os.path.join(ckpts, best_file.path))
    listing = run.config["model_artifacts"]
    assert {e["artifact"] for e in listing["files"]} == {best.ref, latest.ref}
