"""Ultralytics adapter: real YOLO training (tiny synthetic data set, CPU, offline), read back.

Ultralytics needs torch>=2.14 / torchvision 0.29, so this runs in .venv-ultralytics
(``bash .ci/ultralytics.sh``) and skips in the main venv. ``SEETRAIN_REQUIRE_ULTRALYTICS=1``
turns the skip into a failure.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import shutil
from pathlib import Path

import pytest

REQUIRE = os.environ.get("SEETRAIN_REQUIRE_ULTRALYTICS") == "1"
SKIP_REASON = ("ultralytics is not installed in this environment (it needs torch 2.14.1 + torchvision 0.29.1); "
               "bash .ci/ultralytics.sh runs this test in .venv-ultralytics")
if importlib.util.find_spec("ultralytics") is None and not REQUIRE:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import seetrain  # noqa: E402

EPOCHS = 2
IMGSZ = 64
LOSSES = ("train/box_loss", "train/cls_loss", "train/dfl_loss")
METRICS = ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
           "val/box_loss", "val/cls_loss", "val/dfl_loss")


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    """The ``YOLO`` class, imported offline with its settings (and a font) in a temporary dir."""
    config_dir = tmp_path_factory.mktemp("yolo_config")
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir()
    import matplotlib

    # Ultralytics looks for Arial.ttf in its config dir and tries to download it when missing.
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    shutil.copy(dejavu, font_dir / "Arial.ttf")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_OFFLINE", "1")
        mp.setenv("YOLO_CONFIG_DIR", str(config_dir))
        mp.setenv("YOLO_VERBOSE", "False")
        if REQUIRE:
            import ultralytics
        else:
            ultralytics = pytest.importorskip("ultralytics", reason=SKIP_REASON)
        yield ultralytics.YOLO


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """A YOLO-format data set: 64x64 images with red and blue rectangles, labels and data.yaml."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    colours = {0: (220, 40, 40), 1: (40, 40, 220)}
    for split, count in (("train", 8), ("val", 4)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(count):
            img = np.full((IMGSZ, IMGSZ, 3), 30, np.uint8)
            lines = []
            for _ in range(2):
                cls = int(rng.integers(0, 2))
                w, h = (int(v) for v in rng.integers(12, 28, 2))
                x, y = int(rng.integers(0, IMGSZ - w)), int(rng.integers(0, IMGSZ - h))
                img[y:y + h, x:x + w] = colours[cls]
                lines.append(f"{cls} {(x + w / 2) / IMGSZ:.5f} {(y + h / 2) / IMGSZ:.5f} {w / IMGSZ:.5f} {h / IMGSZ:.5f}")
            Image.fromarray(img).save(root / "images" / split / f"{i}.png")
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\n"
                                    "names:\n  0: red\n  1: blue\n")
    return root


def _train(model, shapes: Path, project: Path, **overrides):
    args = dict(data=str(shapes / "data.yaml"), epochs=EPOCHS, imgsz=IMGSZ, batch=4, device="cpu", workers=0,
                project=str(project), name="shapes", exist_ok=True, seed=0, deterministic=True, amp=False,
                verbose=False, plots=True)
    args.update(overrides)
    return model.train(**args)


def _only_run(logdir: str, project: str) -> "seetrain.rundir.reader.RunReader":
    runs = sorted((Path(logdir) / project).iterdir())
    assert len(runs) == 1, f"expected one run under {project}, found {[r.name for r in runs]}"
    return seetrain.read_run(str(runs[0]))


def _results_csv(save_dir: Path):
    with open(save_dir / "results.csv", newline="") as f:
        return [{k.strip(): float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_yolo_training_is_recorded_one_point_per_epoch(yolo, shapes, logdir, tmp_path):
    from seetrain.integration.callbacks.ultralytics import SeeTrainUltralytics, add_seetrain_callback

    model = yolo("yolov8n.yaml")
    cb = add_seetrain_callback(model, project="yolo", experiment_name="shapes-v8n",
                               description="synthetic rectangles", config={"dataset": "shapes-v1"},
                               system_metrics=False)
    assert isinstance(cb, SeeTrainUltralytics)
    assert set(cb.callbacks) >= {"on_pretrain_routine_start", "on_train_epoch_end", "on_fit_epoch_end",
                                 "on_train_end"}
    _train(model, shapes, tmp_path / "runs")

    assert cb.experiment.finished  # finished at on_train_end
    r = _only_run(logdir, "yolo")
    assert r.status == "success"
    assert r.meta["name"] == "shapes-v8n" and r.meta["description"] == "synthetic rectangles"

    keys = set(r.keys())
    lr_keys = sorted(k for k in keys if k.startswith("lr/pg"))
    assert len(lr_keys) == 3, keys  # YOLO's three parameter groups
    for key in (*LOSSES, *METRICS, *lr_keys):
        series = r.scalars(key)
        assert series.steps == [1, 2], f"{key}: steps {series.steps}, expected one point per epoch"
        assert all(math.isfinite(v) for v in series.values), (key, series.values)
    assert all(v > 0 for k in LOSSES for v in r.scalars(k).values)

    # The values are Ultralytics' own: the same as its results.csv, epoch by epoch.
    rows = _results_csv(tmp_path / "runs" / "shapes")
    assert [row["epoch"] for row in rows] == [1.0, 2.0]
    for key in (*LOSSES, *METRICS, *lr_keys):
        logged = r.scalars(key).values
        expected = [row[key] for row in rows]
        assert logged == pytest.approx(expected, rel=1e-4, abs=1e-6), key

    # The final validation of best.pt is not a third epoch: it is under best/ at the last step.
    assert max(rec["step"] for rec in r.iter_data()) == EPOCHS
    for key in METRICS[:4]:
        assert r.scalars(f"best/{key}").steps == [EPOCHS]

    # Plots written by Ultralytics come back as images.
    results_png = r.media("plots/results")
    assert len(results_png) == 1 and results_png[0]["step"] == EPOCHS
    assert results_png[0]["type"] == "image" and os.path.getsize(results_png[0]["path"]) > 1000
    assert r.media("plots/confusion_matrix")
    assert r.media("plots/train_batch0")

    cfg = r.config
    assert cfg["_framework"] == "ultralytics"
    assert cfg["dataset"] == "shapes-v1"  # the user's config survives
    assert cfg["epochs"] == EPOCHS and cfg["imgsz"] == IMGSZ and cfg["batch"] == 4
    assert cfg["model"] == "yolov8n.yaml" and cfg["data"].endswith("data.yaml") and "lr0" in cfg
    assert isinstance(cfg["model/parameters"], int) and cfg["model/parameters"] > 1_000_000
    assert cfg["model/GFLOPs"] > 0


def test_unified_api_val_off_logs_no_stale_metrics(yolo, shapes, logdir, tmp_path):
    from seetrain import integration

    it = integration.init("ultralytics", project="yolo-unified", system_metrics=False)
    model = yolo("yolov8n.yaml")
    cb = it.get_callback().attach(model).attach(model)  # attaching twice must not log twice
    _train(model, shapes, tmp_path / "runs", val=False, plots=False, epochs=3)
    it.finish()  # already finished at train end: a no-op

    r = _only_run(logdir, "yolo-unified")
    assert r.status == "success" and r.config["_framework"] == "ultralytics"
    assert r.meta["name"] == "shapes"  # the trainer's run name when none was given
    assert r.scalars("train/box_loss").steps == [1, 2, 3]
    # val=False: Ultralytics validates only the last epoch; earlier epochs have no metrics.
    assert r.scalars("metrics/mAP50(B)").steps == [3]
    assert r.scalars("val/box_loss").steps == [3]
    assert not [k for k in r.keys() if k.startswith("plots/")]
    assert cb.experiment.finished


def test_crash_inside_training_marks_the_run_crashed(yolo, shapes, logdir, tmp_path):
    from seetrain.integration.callbacks.ultralytics import add_seetrain_callback

    model = yolo("yolov8n.yaml")
    add_seetrain_callback(model, project="yolo-crash", system_metrics=False)

    def boom(trainer):
        if trainer.epoch == 1:
            raise RuntimeError("user callback failed in epoch 2")

    model.add_callback("on_train_epoch_end", boom)
    with pytest.raises(RuntimeError, match="epoch 2"):  # the user's exception reaches the user unchanged
        _train(model, shapes, tmp_path / "runs", plots=False)

    r = _only_run(logdir, "yolo-crash")
    assert r.status == "crashed"
    assert r.scalars("metrics/mAP50(B)").steps == [1]
    assert r.scalars("train/box_loss").steps == [1, 2]  # epoch 2's losses were logged before the crash

    # Training again with the same callback starts a second run; the crashed one is left as it was.
    _train(model, shapes, tmp_path / "runs", plots=False, epochs=1)
    runs = [seetrain.read_run(str(p)) for p in sorted((Path(logdir) / "yolo-crash").iterdir())]
    assert sorted(run.status for run in runs) == ["crashed", "success"]
    again = next(run for run in runs if run.status == "success")
    assert again.scalars("train/box_loss").steps == [1] and again.config["epochs"] == 1
    assert seetrain.read_run(r.path).scalars("train/box_loss").steps == [1, 2]


def test_a_broken_seetrain_setting_warns_and_training_goes_on(yolo, shapes, logdir, tmp_path):
    from seetrain.integration.callbacks.ultralytics import add_seetrain_callback

    model = yolo("yolov8n.yaml")
    cb = add_seetrain_callback(model, project="yolo-bad", mode="no-such-mode")
    with pytest.warns(seetrain.SeeTrainWarning, match="could not start the run"):
        _train(model, shapes, tmp_path / "runs", epochs=1, plots=False)
    assert (tmp_path / "runs" / "shapes" / "weights" / "last.pt").is_file()  # training finished
    assert cb.experiment.mode == "disabled"
    assert not (Path(logdir) / "yolo-bad").exists()


def test_other_ranks_record_nothing_and_attach_checks_its_argument(yolo, logdir, monkeypatch):
    from seetrain.integration.callbacks.ultralytics import SeeTrainUltralytics

    cb = SeeTrainUltralytics(project="yolo-rank")
    with pytest.raises(TypeError, match="add_callback"):
        cb.attach(object())
    monkeypatch.setenv("RANK", "1")
    assert cb.experiment.mode == "disabled"
    assert not (Path(logdir) / "yolo-rank").exists()
