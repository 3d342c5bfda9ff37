"""SeeTrainLogger with a real Lightning Trainer on a tiny MLP (CPU)."""

from __future__ import annotations

import argparse
import os
import shutil

import numpy as np
import pytest
import torch

import seetrain

pl = pytest.importorskip("lightning.pytorch")

from seetrain.integration.callbacks.lightning import SeeTrainLogger  # noqa: E402

from ._lightning_models import TinyMLP, loaders  # noqa: E402
from tests._child import run_python  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _trainer(logger, **kwargs):
    opts = dict(accelerator="cpu", devices=1, max_epochs=2, log_every_n_steps=1, enable_progress_bar=False,
                enable_model_summary=False)
    opts.update(kwargs)
    return pl.Trainer(logger=logger, **opts)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def test_fit_validate_then_test_log_into_one_run_beside_csv_logger(logdir, tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = SeeTrainLogger(project="pl", experiment_name="mlp", description="tiny", config={"seed": 0})
    csv = CSVLogger(str(tmp_path / "csv"), name="mlp")
    train, val = loaders(n=64, batch_size=8)  # 8 batches an epoch
    model = TinyMLP(lr=0.05, hidden=16, optim={"name": "sgd", "momentum": 0.0})
    trainer = _trainer([logger, csv])
    trainer.fit(model, train, val)

    run_dir = logger.experiment.dir
    assert logger.log_dir == run_dir and logger.version == logger.experiment.id and logger.name == "pl"
    assert not logger.experiment.finished  # finalize("success") after fit only flushes
    trainer.test(model, val)
    assert logger.experiment.dir == run_dir  # test logged into the same run
    logger.finish()

    runs = seetrain.list_runs(logdir)
    assert [r.path for r in runs] == [run_dir]
    r = seetrain.read_run(run_dir)
    assert r.status == "success" and r.name == "mlp"
    assert {"train_loss", "val_loss", "test_loss", "epoch"} <= set(r.keys())
    train_loss = r.scalars("train_loss")
    assert len(train_loss.steps) == 16 and train_loss.steps == sorted(train_loss.steps)
    assert train_loss.steps[-1] == trainer.global_step - 1
    val_loss = r.scalars("val_loss")
    assert len(val_loss.steps) == 2 and val_loss.steps[-1] == trainer.global_step - 1
    assert val_loss.values[-1] < val_loss.values[0]  # it learned
    assert len(r.scalars("test_loss").values) == 1
    cfg = r.config
    assert cfg["seed"] == 0 and cfg["lr"] == 0.05 and cfg["hidden"] == 16
    assert cfg["optim"] == {"name": "sgd", "momentum": 0.0}
    assert cfg["_framework"] == "pytorch_lightning"
    assert cfg["model/num_parameters"] == sum(p.numel() for p in model.parameters())
    # the checkpoint went into the run directory and its path into the config
    best = cfg["checkpoint"]["best"]
    assert best.startswith(os.path.join(run_dir, "checkpoints")) and os.path.isfile(best)
    # the CSV logger saw the same metrics
    with open(os.path.join(csv.log_dir, "metrics.csv")) as f:
        assert "train_loss" in f.readline()


def test_hyperparams_from_namespace_nested_dict_and_omegaconf(logdir):
    from omegaconf import OmegaConf

    logger = SeeTrainLogger(project="pl-hp", config={"base": 1})
    logger.log_hyperparams(argparse.Namespace(lr=0.1, layers=[8, 8], act=torch.nn.ReLU))
    logger.log_hyperparams({"opt": {"name": "adam", "betas": (0.9, 0.99)}})
    logger.log_hyperparams(OmegaConf.create({"data": {"root": "/x", "size": "${other}"}, "other": 3}))
    logger.finish()
    cfg = seetrain.read_run(logger.experiment.dir).config
    assert cfg["base"] == 1 and cfg["lr"] == 0.1 and cfg["layers"] == [8, 8]
    assert "ReLU" in cfg["act"]
    assert cfg["opt"] == {"name": "adam", "betas": [0.9, 0.99]}
    assert cfg["data"] == {"root": "/x", "size": 3} and cfg["other"] == 3


def test_log_image_and_text_helpers(logdir):
    logger = SeeTrainLogger(project="pl-media")
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    logger.log_image("samples", [img, img + 255], step=3, caption=["black", "white"])
    logger.log_image("single", torch.rand(3, 8, 8), step=4)
    logger.log_text("notes", "hello", step=5)
    logger.finish()
    r = seetrain.read_run(logger.experiment.dir)
    samples = r.media("samples")
    assert [m["caption"] for m in samples] == ["black", "white"] and {m["step"] for m in samples} == {3}
    assert all(os.path.isfile(m["path"]) for m in samples)
    assert r.media("single")[0]["step"] == 4
    text = r.media("notes")[0]
    with open(text["path"]) as f:
        assert f.read() == "hello"


def test_a_logging_failure_warns_and_counts_but_training_goes_on(logdir, shielded):
    from seetrain.resilience import get_integration_error_stats

    before = get_integration_error_stats().get("lightning.log_metrics", {}).get("failures", 0)
    logger = SeeTrainLogger(project="pl-strict", strict=True)  # strict: bad values raise inside the run
    with pytest.warns(seetrain.SeeTrainWarning, match="could not log_metrics"):
        logger.log_metrics({"not_a_number": object()}, step=0)
    logger.log_metrics({"fine": 1.0}, step=1)
    logger.finish()
    assert get_integration_error_stats()["lightning.log_metrics"]["failures"] == before + 1
    assert seetrain.read_run(logger.experiment.dir).scalars("fine").values == [1.0]


class _Exploding(TinyMLP):
    def training_step(self, batch, batch_idx):
        if self.global_step == 3:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)


def test_failed_fit_marks_run_crashed_and_next_fit_resumes_it(logdir):
    logger = SeeTrainLogger(project="pl-crash")
    train, val = loaders(n=32, batch_size=8)
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(logger, max_epochs=1, enable_checkpointing=False).fit(_Exploding(), train, val)
    (r,) = seetrain.list_runs(logdir)
    run_id = r.id
    assert r.status == "crashed"
    assert r.scalars("train_loss").steps == [0, 1, 2]

    trainer = _trainer(logger, max_epochs=1, enable_checkpointing=False)
    trainer.fit(TinyMLP(), train, val)  # the same logger again: the same run goes on
    assert logger.experiment.id == run_id
    logger.finish()
    r = seetrain.read_run(os.path.join(logdir, "pl-crash", run_id))
    assert r.status == "success"
    assert len(seetrain.list_runs(logdir)) == 1
    assert len(r.scalars("train_loss").steps) == 3 + 4


def _run_ddp_script(logdir, cwd):
    env = dict(os.environ, SEETRAIN_LOGDIR=str(logdir), OMP_NUM_THREADS="1")
    for var in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR"):
        env.pop(var, None)
    return run_python([os.path.join(HERE, "lightning_ddp_script.py"), str(cwd)], env=env,
                      capture_output=True, text=True, timeout=400, cwd=str(cwd))


@pytest.mark.timeout(900)
def test_ddp_on_two_cpu_processes_writes_one_run_from_rank_zero(tmp_path):
    logdir = tmp_path / "logs"
    proc = _run_ddp_script(logdir, tmp_path)
    if proc.returncode != 0 and "address already in use" in proc.stderr.lower():  # a port race with another job
        shutil.rmtree(logdir, ignore_errors=True)
        proc = _run_ddp_script(logdir, tmp_path)
    output = f"\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, output
    ranks = []
    for n in (0, 1):
        with open(tmp_path / f"rank{n}.txt") as f:
            ranks.append(f.read().strip())
    assert "run_mode=local" in ranks[0] and "run_mode=disabled" in ranks[1], output

    runs = seetrain.list_runs(str(logdir))
    assert len(runs) == 1, output
    r = runs[0]
    summary = f"{output}\n--- run ---\n{r.meta}\n{r.keys()}"
    assert r.status == "success" and r.name == "ddp-run", summary  # finished at exit, nothing left running
    assert r.meta.get("pid") == int(ranks[0].split("pid=")[1].split()[0]), summary
    assert r.scalars("who/logger_rank").values == [0], summary
    assert r.scalars("who/experiment_rank").values == [0], summary
    # 32 samples, 2 processes, batch 8: 2 steps an epoch, 2 epochs
    assert r.scalars("train_loss").steps == [0, 1, 2, 3], summary
    assert len(r.scalars("val_loss").values) == 2, summary
    assert r.config["_framework"] == "pytorch_lightning" and r.config["script"] == "ddp", summary


_PL_ONLY = r"""
import sys
sys.modules["lightning"] = None  # as if only the pytorch_lightning package were installed
import pytorch_lightning as pl, torch
from seetrain.integration.callbacks.lightning import SeeTrainLogger
from tests.integration._lightning_models import TinyMLP, loaders
assert issubclass(SeeTrainLogger, pl.loggers.Logger) and "lightning" not in [m.split(".")[0] for m in sys.modules if sys.modules[m]]
torch.set_num_threads(1)
logger = SeeTrainLogger(project="pl-only")
train, val = loaders(n=16, batch_size=8)
pl.Trainer(logger=logger, accelerator="cpu", max_epochs=1, log_every_n_steps=1, enable_progress_bar=False,
           enable_model_summary=False, enable_checkpointing=False).fit(TinyMLP(), train, val)
print("RUN", logger.experiment.dir)
"""


def test_works_with_only_the_pytorch_lightning_package(tmp_path):
    pytest.importorskip("pytorch_lightning")
    root = os.path.dirname(os.path.dirname(HERE))
    env = dict(os.environ, SEETRAIN_LOGDIR=str(tmp_path / "logs"), OMP_NUM_THREADS="1")
    proc = run_python(["-c", _PL_ONLY], env=env, cwd=root, capture_output=True, text=True,
                      timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert r.status == "success" and r.scalars("train_loss").steps == [0, 1]
    assert r.config["_framework"] == "pytorch_lightning"
