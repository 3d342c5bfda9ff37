"""Adapters' ``log_model``: each checkpoint is a version of the run's model artifact, ``best`` on the
best and ``latest`` on the last, and the run's copies are hard links to the store (stored once)."""

from __future__ import annotations

import os

import pytest

import seetrain
from seetrain.artifacts import Registry

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from seetrain.integration.callbacks.lightning import SeeTrainLogger  # noqa: E402
from tests.integration._lightning_models import TinyMLP, loaders  # noqa: E402


def test_lightning_log_model_logs_model_artifacts_with_best_and_latest(logdir):
    from lightning.pytorch.callbacks import ModelCheckpoint

    torch.set_num_threads(1)
    torch.manual_seed(0)
    logger = SeeTrainLogger(project="pl-art", log_model=True)
    ckpt = ModelCheckpoint(monitor="val_loss", mode="max", save_top_k=1, save_last=True)  # max: the first stays best
    trainer = pl.Trainer(logger=logger, accelerator="cpu", devices=1, max_epochs=3, log_every_n_steps=1,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[ckpt])
    trainer.fit(TinyMLP(), *loaders(n=16, batch_size=8))
    logger.finish()
    run = seetrain.read_run(logger.log_dir)
    listing = run.config["model_artifacts"]
    reg = Registry(logdir)
    name = f"model-{run.meta['id']}"
    versions = reg.versions("pl-art", name)
    best, latest = reg.resolve("pl-art", f"{name}:best"), reg.resolve("pl-art", f"{name}:latest")
    assert best.type == latest.type == "model" and best.version != latest.version
    by_alias = {a: e for e in listing["files"] for a in e["aliases"]}
    assert by_alias["best"]["artifact"] == best.ref and by_alias["last"]["artifact"] == latest.ref
    assert best.metadata["step"] == by_alias["best"]["step"] and latest.metadata["step"] == by_alias["last"]["step"]
    assert len(versions) >= 2
    for e in listing["files"]:  # the run's copy is the artifact's blob itself
        v = reg.resolve("pl-art", e["artifact"])
        (f,) = v.manifest.files
        assert os.stat(os.path.join(logger.log_dir, e["path"])).st_ino == os.stat(reg.store.path(f.sha256)).st_ino
