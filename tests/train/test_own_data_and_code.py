"""Issue 27 items 2-4: your own images (ImageFolder layout, streamed), your own table (CSV), your
own model (``--import`` / ``_target_``), and what uses a trained run (``evaluate``, ``predict``,
``export``). The CLI runs as a real child process from a folder that is not on any path, as a user
would run it; the references (logits, predictions) are computed here with plain PyTorch and Pillow."""

from __future__ import annotations

import csv
import json
import os
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests._child import run_python  # noqa: E402

USER_MODULE = textwrap.dedent("""
    import torch

    class TinyNet(torch.nn.Module):
        def __init__(self, num_classes, in_channels, image_size, hidden=8):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Flatten(),
                                            torch.nn.Linear(in_channels * image_size * image_size, hidden),
                                            torch.nn.ReLU(), torch.nn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.body(x)
""")
COLOURS = {"cat": (230, 30, 30), "dog": (30, 30, 230), "fox": (30, 200, 30)}


def write_images(root, per_class, seed=0, size=8):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for cls, col in COLOURS.items():
            folder = os.path.join(root, split, cls) if split else os.path.join(root, cls)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                px = (np.array(col)[None, None] * 0.7 + rng.integers(0, 70, (size, size, 3))).clip(0, 255)
                Image.fromarray(px.astype(np.uint8)).save(os.path.join(folder, f"{i}.png"))


def cli(args, cwd, check=True):
    p = run_python(["-m", "seetrain.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                   env={"SEETRAIN_TESTING": "1"})
    if check:
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p


def run_dirs(logdir):
    out = []
    for project in sorted(os.listdir(logdir)):
        for run in sorted(os.listdir(os.path.join(logdir, project))):
            path = os.path.join(logdir, project, run)
            if os.path.isfile(os.path.join(path, "run.json")):
                out.append(path)
    return out


def meta(run_dir):
    with open(os.path.join(run_dir, "run.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A custom model over an ImageFolder dataset, trained from YAML with no launcher script."""
    base = tmp_path_factory.mktemp("own")
    project = base / "project"
    project.mkdir()
    (project / "mynets.py").write_text(USER_MODULE)
    write_images(str(base / "images"), {"train": 10, "val": 4})
    logdir = base / "logs"
    (project / "exp.yaml").write_text(textwrap.dedent(f"""
        model:
          _target_: mynets.TinyNet
          hidden: 8
        data:
          name: folder
          root: {base / 'images'}
          batch_size: 6
          num_workers: 2
        trainer:
          max_epochs: 2
          enable_progress_bar: false
        logger:
          logdir: {logdir}
    """))
    cli(["train", "--import", "mynets", "exp.yaml"], cwd=str(project))
    (run_dir,) = run_dirs(str(logdir))
    return {"base": base, "project": project, "logdir": logdir, "run": run_dir, "images": base / "images"}


def _reference_model(trained, checkpoint):
    sys.path.insert(0, str(trained["project"]))
    try:
        import mynets
    finally:
        sys.path.remove(str(trained["project"]))
    info = meta(trained["run"])["config"]["data_info"]
    net = mynets.TinyNet(len(info["classes"]), 3, info["image_size"], hidden=8)
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["model"])
    return net.eval(), info


def _by_hand(paths, info):
    from PIL import Image

    mean = np.array(info["mean"], np.float32)[:, None, None]
    std = np.array(info["std"], np.float32)[:, None, None]
    xs = [((np.asarray(Image.open(p).convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0) - mean) / std
          for p in paths]
    return torch.from_numpy(np.stack(xs).astype(np.float32))


def test_a_custom_model_trains_on_an_image_folder_from_yaml(trained):
    m = meta(trained["run"])
    assert m["status"] == "success"
    cfg = m["config"]
    assert cfg["imports"] == [{"module": "mynets", "path": str(trained["project"])}]
    assert cfg["model"]["_target_"] == "mynets.TinyNet" and cfg["model"]["name"] == "TinyNet"
    info = cfg["data_info"]
    assert info["classes"] == sorted(COLOURS) and info["streamed"] is True
    assert (info["train_samples"], info["val_samples"]) == (30, 12)
    assert m["summary"]["val/acc"] >= 0.0 and "train/loss" in m["summary"]


def test_from_run_and_sweep_find_the_users_module_again(trained, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # not the folder the module lives in
    elsewhere.mkdir()
    cli(["train", "--from-run", trained["run"], "trainer.max_epochs=1"], cwd=str(elsewhere))
    runs = run_dirs(str(trained["logdir"]))
    again = [r for r in runs if meta(r)["config"].get("model", {}).get("_target_") and r != trained["run"]
             and meta(r)["config"]["trainer"]["max_epochs"] == 1]
    assert again and meta(again[-1])["status"] == "success"
    search = tmp_path / "search.yaml"
    search.write_text(textwrap.dedent("""
        study_name: own
        metric: null
        direction: maximize
        n_trials: 2
        sampler: {name: random, seed: 0}
        pruner: {name: none}
        space:
          optim.lr: {type: float, low: 0.001, high: 0.01, log: true}
        overrides:
          trainer.max_epochs: 1
    """))
    p = cli(["sweep", "--import", "mynets", str(trained["project"] / "exp.yaml"), f"hparams_search={search}"],
            cwd=str(trained["project"]))
    assert "best" in (p.stdout + p.stderr).lower()
    trials = [r for r in run_dirs(str(trained["logdir"])) if r not in runs]
    assert len(trials) == 2
    assert all(meta(r)["config"]["imports"][0]["module"] == "mynets" for r in trials)


def test_evaluate_reproduces_the_runs_own_validation_figures(trained, tmp_path):
    p = cli(["evaluate", trained["run"], "--checkpoint", "last"], cwd=str(tmp_path))
    got = {line.split(": ")[0]: line.split(": ")[1] for line in p.stdout.splitlines() if ": " in line}
    summary = meta(trained["run"])["summary"]
    assert float(got["val/acc"]) == pytest.approx(summary["val/acc"], abs=1e-4)
    assert float(got["val/loss"]) == pytest.approx(summary["val/loss"], abs=1e-4)
    assert int(got["samples"]) == 12
    tracked = meta(got["recorded in"])
    assert tracked["config"]["source_run"] == meta(trained["run"])["id"] and "evaluate" in tracked["tags"]
    assert tracked["summary"]["eval/acc"] == pytest.approx(float(got["val/acc"]), abs=1e-4)


def test_predict_matches_the_model_run_by_hand(trained, tmp_path):
    out = tmp_path / "preds.csv"
    cli(["predict", trained["run"], str(trained["images"] / "val"), "--out", str(out), "--checkpoint", "last"],
        cwd=str(tmp_path))
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    net, info = _reference_model(trained, os.path.join(trained["run"], "checkpoints", "last.ckpt"))
    with torch.no_grad():
        probs = torch.softmax(net(_by_hand([r["input"] for r in rows], info)), 1)
    for r, pr in zip(rows, probs):
        assert r["prediction"] == info["classes"][int(pr.argmax())]
        assert float(r["score"]) == pytest.approx(float(pr.max()), abs=1e-4)


def test_export_torchscript_and_safetensors_give_the_trained_model(trained, tmp_path):
    net, info = _reference_model(trained, os.path.join(trained["run"], "checkpoints", "last.ckpt"))
    x = _by_hand(sorted(str(p) for p in (trained["images"] / "val").rglob("*.png"))[:5], info)
    ts = tmp_path / "model.pt"
    cli(["export", trained["run"], "--format", "torchscript", "--checkpoint", "last", "-o", str(ts)], cwd=str(tmp_path))
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(ts))(x), net(x), atol=1e-5)
    st = tmp_path / "model.safetensors"
    cli(["export", trained["run"], "--format", "safetensors", "--checkpoint", "last", "-o", str(st)], cwd=str(tmp_path))
    from safetensors import safe_open

    with safe_open(str(st), "pt") as f:
        assert json.loads(f.metadata()["seetrain"])["classes"] == info["classes"]
        for k, v in net.state_dict().items():
            assert torch.equal(f.get_tensor(k), v)


def test_export_onnx_runs_like_the_trained_model(trained, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    out = tmp_path / "model.onnx"
    cli(["export", trained["run"], "--format", "onnx", "--checkpoint", "last", "-o", str(out)], cwd=str(tmp_path))
    onnx.checker.check_model(str(out))
    net, info = _reference_model(trained, os.path.join(trained["run"], "checkpoints", "last.ckpt"))
    x = _by_hand(sorted(str(p) for p in (trained["images"] / "val").rglob("*.png"))[:3], info)
    (got,) = ReferenceEvaluator(str(out)).run(None, {"input": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), atol=1e-4)


def test_export_onnx_without_the_exporter_says_what_to_install(trained, monkeypatch):
    from seetrain.train.errors import TrainConfigError
    from seetrain.train.export import export

    monkeypatch.setitem(sys.modules, "onnx", None)  # the package is not installed
    with pytest.raises(TrainConfigError, match="pip install onnx"):
        export(trained["run"], "onnx", track=False)


def test_a_users_model_name_without_import_says_how_to_bring_it(tmp_path):
    p = cli(["train", "model=my_mlp", "trainer.max_epochs=1"], cwd=str(tmp_path), check=False)
    assert p.returncode == 2
    assert "unknown model config 'my_mlp'" in p.stderr and "--import MODULE" in p.stderr and "_target_" in p.stderr


def test_a_model_registered_by_an_imported_module_is_picked_by_name(tmp_path):
    (tmp_path / "regnets.py").write_text(USER_MODULE + textwrap.dedent('''
        from seetrain.train.registry import MODELS

        @MODELS.register("my_mlp", backend="torch")
        def my_mlp(num_classes, in_channels=1, image_size=8, hidden=8):
            return TinyNet(num_classes, in_channels, image_size, hidden)
    '''))
    cli(["train", "--import", "regnets", "model=my_mlp", "model.hidden=4", "trainer.max_epochs=1", "data.subset=200",
         f"logger.logdir={tmp_path / 'logs'}", "trainer.enable_progress_bar=false"], cwd=str(tmp_path))
    (run,) = run_dirs(str(tmp_path / "logs"))
    m = meta(run)
    assert m["status"] == "success" and m["config"]["model"]["name"] == "my_mlp"
    assert m["config"]["imports"] == [{"module": "regnets", "path": str(tmp_path)}]


@pytest.mark.parametrize("layout, problem", [
    ("missing", "is not a folder"),
    ("empty", "no class folders"),
    ("no_images", "hold no image files"),
    ("val_extra", "has class folders that"),
])
def test_folder_mistakes_are_named(tmp_path, layout, problem):
    from seetrain.train.data import build_data
    from seetrain.train.errors import TrainConfigError

    root = tmp_path / "imgs"
    if layout != "missing":
        root.mkdir()
    if layout == "no_images":
        (root / "cat").mkdir()
        (root / "cat" / "notes.txt").write_text("x")
    if layout == "val_extra":
        write_images(str(root), {"train": 2})
        (root / "val" / "wolf").mkdir(parents=True)
    with pytest.raises(TrainConfigError, match=problem):
        build_data({"name": "folder", "root": str(root), "batch_size": 2, "num_workers": 0})


def test_folder_without_val_folder_splits_and_streams_the_same_batches_with_workers(tmp_path):
    from seetrain.train.backends.torch_data import loader
    from seetrain.train.data import build_data

    write_images(str(tmp_path), {None: 6})
    data = build_data({"name": "folder", "root": str(tmp_path), "batch_size": 4, "num_workers": 0,
                       "val_split": 0.25, "channels": 1, "image_size": 6})
    assert (len(data.train), len(data.val)) == (14, 4) and data.train.shape == (1, 6, 6)
    assert data.train.images is None  # nothing decoded ahead: files are read batch by batch
    one = [b for b in loader(data.val, 2, train=False, num_workers=0)]
    two = [b for b in loader(data.val, 2, train=False, num_workers=2)]
    for (x1, y1), (x2, y2) in zip(one, two):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert sum(len(y) for _, y in one) == 4


def _write_table(path, rows=240, seed=0):
    rng = np.random.default_rng(seed)
    truth = []
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "area", "city", "label", "price"])
        for i in range(rows):
            area, city = rng.uniform(1, 3), ["paris", "lyon"][i % 2]
            price = 2.0 * area + (1.0 if city == "paris" else 0.0)
            w.writerow([i, f"{area:.4f}", city, "big" if price > 4.5 else "small", f"{price:.4f}"])
            truth.append(price)
    return truth


def test_csv_regression_and_classification_train_with_an_mlp(tmp_path):
    from seetrain.train.config import load_config
    from seetrain.train.runner import run

    table = tmp_path / "t.csv"
    _write_table(str(table))
    common = [f"data.path={table}", "data.ignore=[id]", "model=mlp", "data=csv", "trainer.enable_progress_bar=false",
              "logger=none", "trainer.checkpoint.enabled=false", "optim.lr=0.01"]
    reg = run(load_config(common + ["data.target=price", "data.ignore=[id,label]", "task=regression",
                                    "trainer.max_epochs=25"]))
    assert reg.metric == "val/rmse" and reg.best < 0.25   # prices span 2..7; the mean alone gives ~0.6
    cls = run(load_config(common + ["data.target=label", "data.ignore=[id,price]", "trainer.max_epochs=15"]))
    assert cls.metric == "val/acc" and cls.best >= 0.9


def test_csv_mistakes_are_named(tmp_path):
    from seetrain.train.config import load_config
    from seetrain.train.errors import TrainConfigError
    from seetrain.train.runner import plan

    table = tmp_path / "t.csv"
    _write_table(str(table), rows=20)
    with pytest.raises(TrainConfigError, match="did you mean 'price'"):
        plan(load_config(["data=csv", f"data.path={table}", "data.target=prise", "model=mlp"]))
    with pytest.raises(TrainConfigError, match="needs a numeric target.*'label'"):
        plan(load_config(["data=csv", f"data.path={table}", "data.target=label", "model=mlp", "task=regression"]))
    with pytest.raises(TrainConfigError, match="use model=mlp"):
        plan(load_config(["data=csv", f"data.path={table}", "data.target=label", "data.batch_size=4"]))
