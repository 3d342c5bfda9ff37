"""SeeTrainVisBackend with MMEngine's Visualizer and a real Runner training a toy model."""

from __future__ import annotations

import os
import textwrap
import uuid

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mmengine")

from mmengine.config import Config  # noqa: E402
from mmengine.evaluator import BaseMetric  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402
from mmengine.registry import VISBACKENDS  # noqa: E402
from mmengine.visualization import Visualizer  # noqa: E402

import seetrain  # noqa: E402
from seetrain.integration.visbackends.mmengine import SeeTrainVisBackend  # noqa: E402
from tests._child import run_python  # noqa: E402


def _visualizer(backend, save_dir=None):
    return Visualizer.get_instance(f"vis-{uuid.uuid4().hex[:8]}", vis_backends=[backend], save_dir=save_dir)


def test_registered_under_its_exact_name():
    assert VISBACKENDS.get("SeeTrainVisBackend") is SeeTrainVisBackend
    assert VISBACKENDS.get("seetrainvisbackend") is None  # lookups are case-sensitive


def test_visualizer_writes_scalars_images_config_lazily(logdir, tmp_path):
    vis = _visualizer(dict(type="SeeTrainVisBackend", init_kwargs=dict(project="mm-vis", experiment_name="v1")),
                      save_dir=str(tmp_path / "work"))
    backend = vis.get_backend("SeeTrainVisBackend")
    assert backend._run is None and seetrain.list_runs(logdir) == []  # nothing until first use

    vis.add_config(Config(dict(optimizer=dict(type="SGD", lr=0.01), max_epochs=3)))
    vis.add_scalars({"loss": 0.9, "acc": 0.5}, step=1)
    vis.add_scalars({"loss": 0.4, "acc": 0.8}, step=2)
    vis.add_scalar("lr", torch.tensor(0.01), step=2)
    vis.add_image("sample", np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8), step=2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    vis.add_graph(model, None)
    run_dir = backend.experiment.dir
    vis.close()

    r = seetrain.read_run(run_dir)
    assert (r.project, r.name, r.status) == ("mm-vis", "v1", "success")
    assert r.config["optimizer"] == {"type": "SGD", "lr": 0.01} and r.config["max_epochs"] == 3
    assert r.config["_framework"] == "mmengine"
    assert r.config["_mmengine_save_dir"] == os.path.join(str(tmp_path / "work"), "vis_data")
    assert r.config["model_graph"]["num_parameters"] == 3 * 4 + 4 + 4 + 1
    assert r.config["model_graph"]["class"] == "Sequential"
    assert r.scalars("loss").steps == [1, 2] and r.scalars("loss").values == [0.9, 0.4]
    assert r.scalars("lr").values == pytest.approx([0.01])
    assert [m["step"] for m in r.media("sample")] == [2]


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def forward(self, x, y, mode="tensor"):
        out = self.net(x)
        if mode == "loss":
            return {"loss": torch.nn.functional.mse_loss(out, y)}
        if mode == "predict":
            return [(out, y)]
        return out


class MSEMetric(BaseMetric):
    def process(self, data_batch, data_samples):
        for out, y in data_samples:
            self.results.append(((out - y) ** 2).mean().item())

    def compute_metrics(self, results):
        return {"mse": sum(results) / len(results)}


def _collate(batch):
    xs, ys = zip(*batch)
    return {"x": torch.stack(xs), "y": torch.stack(ys)}


def test_runner_training_with_val_loop(logdir, tmp_path):
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(64, 4)
    data = TensorDataset(x, x.sum(dim=1, keepdim=True))
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path / "work"),
        train_dataloader=DataLoader(data, batch_size=8, shuffle=True, collate_fn=_collate),
        val_dataloader=DataLoader(data, batch_size=32, collate_fn=_collate),
        val_evaluator=[MSEMetric()],
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1), val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.05)),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=2), checkpoint=None),
        visualizer=dict(type="Visualizer",
                        vis_backends=[dict(type="SeeTrainVisBackend", init_kwargs=dict(project="mm-runner"))]),
        cfg=dict(lr=0.05, note="toy"), randomness=dict(seed=0),
    )
    runner.train()
    backend = runner.visualizer.get_backend("SeeTrainVisBackend")
    r = seetrain.read_run(backend.experiment.dir)

    assert r.status == "success"  # LoggerHook closes the visualizer after training
    assert r.project == "mm-runner" and r.name == runner.experiment_name
    assert r.config["lr"] == 0.05 and r.config["note"] == "toy"
    assert {"loss", "lr", "mse"} <= set(r.keys())
    # 64 samples / batch 8 = 8 iterations an epoch, 2 epochs, logged every 2 iterations
    loss = r.scalars("loss")
    assert loss.steps == [2, 4, 6, 8, 10, 12, 14, 16]
    assert all(v > 0 for v in loss.values)
    assert r.scalars("lr").values == pytest.approx([0.05] * 8)
    mse = r.scalars("mse")
    assert mse.steps == [1, 2]  # validation metrics are logged by epoch
    assert mse.values[1] < mse.values[0]


def test_custom_imports_in_config_file(tmp_path):
    """A config file's custom_imports registers the backend; nothing imports it beforehand."""
    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text(textwrap.dedent("""
        custom_imports = dict(imports=["seetrain.integration.visbackends.mmengine"], allow_failed_imports=False)
        visualizer = dict(type="Visualizer", name="from-config",
                          vis_backends=[dict(type="SeeTrainVisBackend",
                                             init_kwargs=dict(project="from-config", experiment_name="cfg"))])
    """))
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import VISUALIZERS
        assert "seetrain.integration.visbackends.mmengine" not in sys.modules
        cfg = Config.fromfile({str(cfg_file)!r})
        vis = VISUALIZERS.build(cfg.visualizer)
        vis.add_scalars({{"metric": 0.25}}, step=7)
        vis.close()
    """)
    logs = tmp_path / "logs"
    proc = run_python(["-c", script], env=dict(os.environ, SEETRAIN_LOGDIR=str(logs)),
                      capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(logs))
    assert (r.project, r.name, r.status) == ("from-config", "cfg", "success")
    assert r.scalars("metric").steps == [7] and r.scalars("metric").values == [0.25]


def test_unified_api(logdir):
    from seetrain import integration

    it = integration.init("mmengine", project="mm-unified", experiment_name="u1", description="via factory",
                          config={"dataset": "toy"})
    backend = it.get_backend()
    vis = _visualizer(backend)
    vis.add_scalars({"loss": 1.0}, step=1)
    it.log({"extra": 2.0}, step=1)
    run_dir = it.run.dir
    it.finish()
    r = seetrain.read_run(run_dir)
    assert (r.project, r.name, r.status, r.config["dataset"]) == ("mm-unified", "u1", "success", "toy")
    assert set(r.keys()) == {"loss", "extra"}


def test_bad_init_kwargs():
    with pytest.raises(TypeError, match="init_kwargs"):
        SeeTrainVisBackend(save_dir=None, init_kwargs=["project"])
