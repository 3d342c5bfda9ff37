"""SeeTrainVisBackend against the contract MMEngine's own backend tests hold WandbVisBackend and
LocalVisBackend to: ``_init_env`` then ``experiment``, ``add_scalars`` with a ``step`` key, beside
another backend, crash then exit."""

from __future__ import annotations

import json
import os
import textwrap
import uuid

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mmengine")

from mmengine.visualization import Visualizer  # noqa: E402

import seetrain  # noqa: E402
from seetrain.integration.visbackends.mmengine import SeeTrainVisBackend  # noqa: E402
from tests._child import run_python  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_init_env_then_experiment_is_one_run(logdir):
    backend = SeeTrainVisBackend(save_dir=None, init_kwargs=dict(project="mm-env"))
    backend._init_env()  # as MMEngine's test_vis_backend does for every backend
    run = backend.experiment
    backend._init_env()
    assert backend.experiment is run
    backend.add_scalar("x", 1.0, step=0)
    backend.close()
    assert len(seetrain.list_runs(logdir)) == 1
    assert seetrain.read_run(run.dir).scalars("x").values == [1.0]


def test_a_step_key_in_add_scalars_is_the_step(logdir):
    backend = SeeTrainVisBackend(save_dir=None, init_kwargs=dict(project="mm-step"))
    backend.add_scalars({"map": 0.7, "acc": 0.9, "step": 5})
    backend.add_scalars({"map": 0.8, "step": 9}, step=1)  # the key wins, as in LocalVisBackend
    backend.add_scalars({"map": 0.9}, step=12)
    backend.close()
    r = seetrain.read_run(backend.experiment.dir)
    assert "step" not in r.keys()
    assert r.scalars("map").steps == [5, 9, 12] and r.scalars("acc").steps == [5]


def test_beside_local_vis_backend_both_hold_the_same_scalars(logdir, tmp_path):
    vis = Visualizer.get_instance(f"vis-{uuid.uuid4().hex[:8]}", save_dir=str(tmp_path / "work"), vis_backends=[
        dict(type="LocalVisBackend"), dict(type="SeeTrainVisBackend", init_kwargs=dict(project="mm-side"))])
    for step in range(1, 4):
        vis.add_scalars({"loss": 1.0 / step, "lr": 0.1}, step=step)
    vis.add_scalar("acc", 0.5, step=3)
    backend = vis.get_backend("SeeTrainVisBackend")
    local = vis.get_backend("LocalVisBackend")
    vis.close()
    with open(os.path.join(local._save_dir, local._scalar_save_file)) as f:
        rows = [json.loads(line) for line in f]
    r = seetrain.read_run(backend.experiment.dir)
    local_loss = [(row["step"], row["loss"]) for row in rows if "loss" in row]
    assert list(zip(r.scalars("loss").steps, r.scalars("loss").values)) == local_loss
    assert r.scalars("acc").steps == [3] and r.status == "success"


_CRASH = textwrap.dedent("""
    import torch
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader, TensorDataset
    import seetrain.integration.visbackends.mmengine  # noqa: F401

    class Exploding(BaseModel):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 1)
            self.calls = 0

        def forward(self, x, y, mode="tensor"):
            self.calls += 1
            if self.calls == 5:
                raise RuntimeError("boom")
            return {"loss": torch.nn.functional.mse_loss(self.net(x), y)}

    def collate(batch):
        xs, ys = zip(*batch)
        return {"x": torch.stack(xs), "y": torch.stack(ys)}

    x = torch.randn(64, 4)
    runner = Runner(model=Exploding(), work_dir=WORK,
                    train_dataloader=DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8,
                                                collate_fn=collate),
                    train_cfg=dict(by_epoch=True, max_epochs=1), optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
                    default_hooks=dict(logger=dict(type="LoggerHook", interval=1), checkpoint=None),
                    visualizer=dict(type="Visualizer", vis_backends=[dict(type="SeeTrainVisBackend",
                                                                          project="mm-crash")]))
    runner.train()
""")


def test_a_crash_in_training_marks_the_run_crashed_at_exit(tmp_path):
    logs = tmp_path / "logs"
    script = f"WORK = {str(tmp_path / 'work')!r}\n" + _CRASH
    proc = run_python(["-c", script], env=dict(os.environ, SEETRAIN_LOGDIR=str(logs)), cwd=ROOT,
                      capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(logs))
    assert r.status == "crashed" and r.scalars("loss").steps == [1, 2, 3, 4]
