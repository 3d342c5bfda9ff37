"""SeeTrainLogger against the contract Lightning's own logger tests hold every logger to
(pickling, several loggers side by side, spawn strategies, crash then exit, entry points),
plus prefix=, log_hyperparams metrics, trainer.log_dir and log_model."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys

import pytest
import torch

import seetrain

pl = pytest.importorskip("lightning.pytorch")

from seetrain.integration.callbacks.lightning import SeeTrainLogger  # noqa: E402

from tests._child import child_env, run_python  # noqa: E402

from ._lightning_models import TinyMLP, loaders  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _trainer(logger, **kwargs):
    opts = dict(accelerator="cpu", devices=1, max_epochs=1, log_every_n_steps=1, enable_progress_bar=False,
                enable_model_summary=False)
    opts.update(kwargs)
    return pl.Trainer(logger=logger, **opts)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _env(logdir):
    env = child_env(SEETRAIN_LOGDIR=str(logdir), OMP_NUM_THREADS="1")
    for var in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR"):
        env.pop(var, None)
    return env


# --- pickling -------------------------------------------------------------------------------
def test_a_pickled_logger_before_any_run_names_the_same_run_as_the_original(logdir):
    logger = SeeTrainLogger(project="pl-pickle")
    copy = pickle.loads(pickle.dumps(logger))
    copy.log_metrics({"loss": 1.0}, step=0)  # the copy (a spawned process) makes the run
    copy.experiment.finish()
    assert logger.version == copy.version  # the original knows the id without making a run
    assert logger.log_dir == copy.experiment.dir
    assert len(seetrain.list_runs(logdir)) == 1
    logger.log_metrics({"loss": 0.5}, step=1)  # and logging from the original continues that run
    logger.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.scalars("loss").values == [1.0, 0.5] and r.status == "success"


def test_a_pickled_logger_with_an_open_run_hands_the_run_over(logdir):
    logger = SeeTrainLogger(project="pl-pickle2")
    logger.log_hyperparams({"lr": 0.1})
    run_id = logger.version
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.version == run_id
    copy.log_metrics({"loss": 2.0}, step=0)
    copy.finish()
    logger.log_metrics({"loss": 1.0}, step=1)
    logger.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.id == run_id and r.scalars("loss").values == [2.0, 1.0] and r.config["lr"] == 0.1


# --- spawn strategies ---------------------------------------------------------------------------
@pytest.mark.timeout(900)  # four spawned processes (fit and test, 2 ranks each); about a minute when the machine is idle
def test_ddp_spawn_fit_then_test_write_one_run_and_version_in_main_makes_none(tmp_path):
    logdir = tmp_path / "logs"
    cmd = [sys.executable, os.path.join(HERE, "lightning_spawn_script.py")]
    proc = subprocess.run(cmd, env=_env(logdir), capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    if proc.returncode != 0 and "address already in use" in proc.stderr.lower():  # a port race with another job
        shutil.rmtree(logdir, ignore_errors=True)
        proc = subprocess.run(cmd, env=_env(logdir), capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    output = f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, output
    seen = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("VERSION", "LOG_DIR")))
    runs = seetrain.list_runs(str(logdir))
    assert len(runs) == 1, output + str([r.path for r in runs])
    (r,) = runs
    assert seen["VERSION_AFTER_FIT"] == r.id == seen["VERSION_AFTER_TEST"], output
    assert seen["LOG_DIR_AFTER_FIT"] == r.path, output
    assert r.status == "success" and r.name == "spawn-run", output
    assert r.scalars("train_loss").steps == [0, 1], output  # 32 samples / 2 processes / batch 8
    assert len(r.scalars("val_loss").values) == 1 and len(r.scalars("test_loss").values) == 1, output
    assert r.scalars("main/after_test").values == [1.0], output
    assert r.config["lr"] == 0.05 and r.config["_framework"] == "pytorch_lightning", output


# --- crash, then exit --------------------------------------------------------------------------
_CRASH_THEN_EXIT = r"""
import torch, lightning.pytorch as pl
from seetrain.integration.callbacks.lightning import SeeTrainLogger
from tests.integration._lightning_models import TinyMLP, loaders

class Exploding(TinyMLP):
    def training_step(self, batch, batch_idx):
        if self.global_step == 2:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)

torch.set_num_threads(1)
logger = SeeTrainLogger(project="pl-crash-exit")
trainer = pl.Trainer(logger=logger, accelerator="cpu", max_epochs=1, log_every_n_steps=1,
                     enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
try:
    trainer.fit(Exploding(), *loaders(n=32, batch_size=8))
except RuntimeError:
    pass
print("VERSION", logger.version, logger.log_dir, trainer.log_dir)
"""


def test_after_a_failed_fit_reading_version_does_not_reopen_and_exit_keeps_crashed(tmp_path):
    logdir = tmp_path / "logs"
    proc = run_python(["-c", _CRASH_THEN_EXIT], env=_env(logdir), cwd=ROOT,
                      capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(logdir))
    assert r.status == "crashed", r.meta
    line = next(line for line in proc.stdout.splitlines() if line.startswith("VERSION "))
    _, version, log_dir, trainer_log_dir = line.split()
    assert version == r.id and log_dir == r.path == trainer_log_dir
    assert r.scalars("train_loss").steps == [0, 1]


def test_after_a_failed_fit_the_next_logging_call_resumes_the_same_run(logdir):
    class Exploding(TinyMLP):
        def training_step(self, batch, batch_idx):
            if self.global_step == 1:
                raise RuntimeError("boom")
            return super().training_step(batch, batch_idx)

    logger = SeeTrainLogger(project="pl-crash-resume")
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(logger, enable_checkpointing=False).fit(Exploding(), *loaders(n=32, batch_size=8))
    run_id = logger.version
    assert logger.log_dir.endswith(run_id) and seetrain.get_run() is None  # nothing reopened
    assert seetrain.read_run(logger.log_dir).status == "crashed"
    logger.log_metrics({"after": 1.0}, step=10)
    logger.finish()
    r = seetrain.read_run(logger.log_dir)
    assert r.status == "success" and r.id == run_id and r.scalars("after").values == [1.0]


# --- what a user configures -------------------------------------------------------------------
def test_prefix_hparams_metrics_and_trainer_log_dir(logdir):
    logger = SeeTrainLogger(project="pl-prefix", prefix="fold1")
    trainer = _trainer(logger, limit_val_batches=0)
    trainer.fit(TinyMLP(), loaders(n=16, batch_size=8)[0])
    logger.log_hyperparams({"depth": 2}, {"hp_metric": 0.25})
    run_dir = logger.experiment.dir
    assert trainer.log_dir == run_dir == logger.log_dir
    ckpts = os.listdir(os.path.join(run_dir, "checkpoints"))  # checkpoints still land in the run
    logger.finish()
    r = seetrain.read_run(run_dir)
    assert r.scalars("fold1-train_loss").steps == [0, 1] and "train_loss" not in r.keys()
    assert r.scalars("fold1-hp_metric").values == [0.25] and r.config["depth"] == 2
    assert len(ckpts) == 1


def test_two_seetrain_loggers_beside_a_csv_logger_each_get_every_metric(logdir, tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    first, second = SeeTrainLogger(project="pl-multi-a"), SeeTrainLogger(project="pl-multi-b", prefix="b")
    csv = CSVLogger(str(tmp_path / "csv"))
    trainer = _trainer([first, second, csv])
    trainer.fit(TinyMLP(), *loaders(n=16, batch_size=8))
    assert first.version != second.version and trainer.log_dir == first.log_dir
    first.finish()
    second.finish()
    a, b = seetrain.read_run(first.log_dir), seetrain.read_run(second.log_dir)
    assert a.scalars("train_loss").values == b.scalars("b-train_loss").values and len(a.scalars("train_loss").values) == 2
    assert a.config["lr"] == b.config["lr"] == 0.05
    assert os.path.isdir(os.path.join(first.log_dir, "checkpoints"))


def test_log_model_true_keeps_best_and_last_in_the_run(logdir):
    from lightning.pytorch.callbacks import ModelCheckpoint

    logger = SeeTrainLogger(project="pl-model", log_model=True)
    ckpt = ModelCheckpoint(monitor="val_loss", save_top_k=1, save_last=True)
    trainer = _trainer(logger, max_epochs=3, callbacks=[ckpt])
    trainer.fit(TinyMLP(), *loaders(n=16, batch_size=8))
    logger.finish()
    r = seetrain.read_run(logger.log_dir)
    listing = r.config["model_artifacts"]
    with open(os.path.join(r.path, listing["manifest"])) as f:
        assert json.load(f)["files"] == listing["files"]
    best = next(e for e in listing["files"] if "best" in e["aliases"])
    last = next(e for e in listing["files"] if "last" in e["aliases"])
    assert best["path"] == listing["best"] and last["path"] == listing["last"]
    assert best["source"] == ckpt.best_model_path and last["step"] == trainer.global_step
    assert best["monitor"] == "val_loss" and best["best_score"] == pytest.approx(float(ckpt.best_model_score))
    on_disk = [os.path.relpath(os.path.join(d, f), r.path).replace(os.sep, "/")
               for d, _, files in os.walk(os.path.join(r.path, "artifacts", "model")) for f in files if f.endswith(".ckpt")]
    assert sorted(on_disk) == sorted(e["path"] for e in listing["files"])  # only best and last kept
    state = torch.load(os.path.join(r.path, best["path"]), weights_only=False)
    assert state["global_step"] == best["step"]


def test_log_model_all_keeps_every_checkpoint_and_bad_values_are_refused(logdir):
    from lightning.pytorch.callbacks import ModelCheckpoint

    with pytest.raises(ValueError, match="log_model"):
        SeeTrainLogger(project="x", log_model="best")
    logger = SeeTrainLogger(project="pl-model-all", log_model="all")
    ckpt = ModelCheckpoint(save_top_k=-1, every_n_epochs=1)
    trainer = _trainer(logger, max_epochs=3, callbacks=[ckpt], limit_val_batches=0)
    trainer.fit(TinyMLP(), loaders(n=16, batch_size=8)[0])
    logger.finish()
    files = seetrain.read_run(logger.log_dir).config["model_artifacts"]["files"]
    assert [e["step"] for e in files] == [2, 4, 6]
    assert all(os.path.isfile(os.path.join(logger.log_dir, e["path"])) for e in files)


# --- entry points -------------------------------------------------------------------------------
def test_unified_api_builds_the_logger_with_its_options(logdir, finish_integrations):
    from seetrain import integration

    it = integration.init("lightning", project="pl-api", prefix="p", log_model=True)
    logger = it.get_callback()
    assert isinstance(logger, SeeTrainLogger)
    _trainer(logger, limit_val_batches=0).fit(TinyMLP(), loaders(n=16, batch_size=8)[0])
    it.finish()
    r = seetrain.read_run(logger.log_dir)
    assert r.status == "success" and "p-train_loss" in r.keys() and r.config["model_artifacts"]["last"]
