"""SeeTrainTracker with a real Accelerate training loop on CPU (one process and two processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
accelerate = pytest.importorskip("accelerate")

import seetrain  # noqa: E402
from seetrain.integration.trackers.accelerate import SeeTrainTracker, register  # noqa: E402
from tests._child import child_env  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each test gets its own Accelerator state (it is a process-wide singleton)."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


def _train(accelerator, steps: int = 5):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model, optimizer = accelerator.prepare(model, optimizer)
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)
    losses = []
    for step in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        accelerator.log({"train/loss": loss.item(), "train": {"lr": 0.05}}, step=step)
    return losses


def test_training_loop_writes_one_run(logdir):
    from accelerate import Accelerator

    tracker = SeeTrainTracker(experiment_name="mlp-baseline", description="tiny MLP")
    accelerator = Accelerator(log_with=[tracker], cpu=True)
    accelerator.init_trackers("accelerate-demo", config={"lr": 0.05, "batch_size": 64})
    losses = _train(accelerator)
    accelerator.get_tracker("seetrain").log_images(
        {"samples": [np.zeros((8, 8, 3), dtype=np.uint8), np.full((8, 8, 3), 255, dtype=np.uint8)]}, step=4)
    run = accelerator.get_tracker("seetrain", unwrap=True)
    assert run is tracker.experiment and run.dir.startswith(logdir)
    accelerator.end_training()

    r = seetrain.read_run(run.dir)
    assert r.status == "success"
    assert r.project == "accelerate-demo"  # taken from init_trackers
    assert r.name == "mlp-baseline"
    assert r.config["lr"] == 0.05 and r.config["batch_size"] == 64 and r.config["_framework"] == "accelerate"
    series = r.scalars("train/loss")
    assert series.steps == [0, 1, 2, 3, 4]
    assert series.values == pytest.approx(losses)
    assert series.values[-1] < series.values[0]
    assert r.scalars("train/lr").values == [0.05] * 5  # nested dicts are flattened
    images = r.media("samples")
    assert len(images) == 2 and all(os.path.isfile(os.path.join(run.dir, m["path"])) for m in images)


def test_explicit_project_and_unified_api(logdir):
    from accelerate import Accelerator

    from seetrain import integration

    it = integration.init("accelerate", project="explicit-project", experiment_name="unified",
                          config={"seed": 0})
    tracker = it.get_tracker()
    accelerator = Accelerator(log_with=[tracker], cpu=True)
    accelerator.init_trackers("ignored-project", config={"epochs": 1})
    _train(accelerator, steps=2)
    it.log({"extra": 1.5}, step=9)
    assert it.run is tracker.experiment
    run_dir = it.run.dir
    it.finish()

    r = seetrain.read_run(run_dir)
    assert (r.project, r.name, r.status) == ("explicit-project", "unified", "success")
    assert r.config["seed"] == 0 and r.config["epochs"] == 1
    assert r.scalars("train/loss").steps == [0, 1]
    assert r.scalars("extra").steps == [9]


def test_log_with_registered_name(logdir):
    from accelerate import Accelerator

    register()
    accelerator = Accelerator(log_with="seetrain", cpu=True)
    accelerator.init_trackers("registered", config={"a": 1}, init_kwargs={"seetrain": {"experiment_name": "by-name"}})
    _train(accelerator, steps=2)
    run = accelerator.get_tracker("seetrain").tracker
    accelerator.end_training()
    r = seetrain.read_run(run.dir)
    assert (r.project, r.name, r.config["a"], r.status) == ("registered", "by-name", 1, "success")


def test_bad_values_warn_and_training_goes_on(logdir):
    from accelerate import Accelerator

    tracker = SeeTrainTracker(project="robust")
    accelerator = Accelerator(log_with=[tracker], cpu=True)
    accelerator.init_trackers("robust")
    with pytest.warns(seetrain.SeeTrainWarning, match="bad"):
        accelerator.log({"bad": object(), "good": 1.0}, step=0)
    accelerator.end_training()
    r = seetrain.read_run(tracker.experiment.dir)
    assert r.keys() == ["good"]


def test_constructor_rejects_two_names():
    with pytest.raises(ValueError, match="run_name and experiment_name"):
        SeeTrainTracker("a", experiment_name="b")


def test_two_processes_write_exactly_one_run(tmp_path):
    logs = tmp_path / "logs"
    env = dict(os.environ, SEETRAIN_LOGDIR=str(logs), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           os.path.join(HERE, "accelerate_two_process_script.py")]
    proc = subprocess.run(cmd, env=child_env(env), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0 run mode local" in proc.stdout and "rank 1 run mode disabled" in proc.stdout

    runs = seetrain.list_runs(str(logs))
    assert len(runs) == 1
    r = runs[0]
    assert (r.project, r.name, r.status) == ("ddp-project", "two-procs", "success")
    assert r.config["world_size"] == 2
    assert r.scalars("train/loss").steps == [0, 1, 2]
    assert r.scalars("rank").values == [0, 0, 0]  # only the main process logged
