"""Keras: SeeTrainModelCheckpoint (log_model), beside Keras' CSVLogger, crash then exit, entry points."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

import seetrain

keras = pytest.importorskip("keras")

from seetrain.integration.callbacks.keras import SeeTrainCallback, SeeTrainModelCheckpoint  # noqa: E402
from tests._child import run_python  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x.sum(axis=1, keepdims=True) * 0.5).astype("float32")


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


def _listing(run_dir):
    listing = seetrain.read_run(run_dir).config["model_artifacts"]
    with open(os.path.join(run_dir, listing["manifest"])) as f:
        assert json.load(f)["files"] == listing["files"]
    return listing


def test_model_checkpoint_copies_best_and_last_into_the_run(logdir, tmp_path):
    x, y = _data()
    cb = SeeTrainCallback(project="keras-model")
    ckpt = SeeTrainModelCheckpoint(str(tmp_path / "model.keras"), monitor="val_loss", callback=cb)
    hist = _model().fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb, ckpt])
    cb.finish()
    run_dir = cb.experiment.dir
    listing = _listing(run_dir)
    val = hist.history["val_loss"]
    best_epoch = int(np.argmin(val))
    best = next(e for e in listing["files"] if e["path"] == listing["best"])
    last = next(e for e in listing["files"] if e["path"] == listing["last"])
    assert best["epoch"] == best_epoch and best["value"] == pytest.approx(val[best_epoch])
    assert last["epoch"] == 2 and "last" in last["aliases"] and "best" in best["aliases"]
    assert len(listing["files"]) == len({best["path"], last["path"]})  # older copies were removed
    restored = keras.saving.load_model(os.path.join(run_dir, best["path"]))
    assert restored.count_params() == 8 * 4 + 8 + 8 + 1


def test_save_best_only_with_log_model_all_keeps_each_improvement(logdir, tmp_path):
    x, y = _data()
    seetrain.init(project="keras-all")  # no callback given: the current run receives the copies
    ckpt = SeeTrainModelCheckpoint(str(tmp_path / "m-{epoch:02d}.keras"), monitor="loss", save_best_only=True,
                                   log_model="all")
    _model().fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[ckpt])
    run = seetrain.get_run()
    seetrain.finish()
    listing = _listing(run.dir)
    saved = sorted(p for p in os.listdir(tmp_path) if p.endswith(".keras"))
    assert [os.path.basename(e["path"]) for e in listing["files"]] == saved  # each improvement
    assert listing["best"] == listing["last"] == listing["files"][-1]["path"]


def test_beside_csv_logger_the_epoch_values_match(logdir, tmp_path):
    x, y = _data()
    cb = SeeTrainCallback(project="keras-side")
    log = tmp_path / "log.csv"
    _model().fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(log)), cb])
    cb.finish()
    with open(log) as f:
        rows = list(csv.DictReader(f))
    r = seetrain.read_run(cb.experiment.dir)
    assert r.scalars("epoch/loss").values == pytest.approx([float(row["loss"]) for row in rows], rel=1e-6)
    assert r.scalars("epoch/loss").steps == [int(row["epoch"]) for row in rows]


_CRASH = r"""
import numpy as np, keras
from seetrain.integration.callbacks.keras import SeeTrainCallback

class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("boom")

x = np.ones((16, 4), "float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[SeeTrainCallback(project="keras-crash"), Boom()])
"""


def test_a_crash_in_fit_marks_the_run_crashed_at_exit(tmp_path):
    env = dict(os.environ, SEETRAIN_LOGDIR=str(tmp_path / "logs"), KERAS_BACKEND="torch", OMP_NUM_THREADS="1")
    proc = run_python(["-c", _CRASH], env=env, cwd=ROOT, capture_output=True, text=True,
                      timeout=120)
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr, proc.stderr[-3000:]
    (r,) = seetrain.list_runs(str(tmp_path / "logs"))
    assert r.status == "crashed" and r.scalars("epoch/loss").steps == [0, 1]


def test_unified_api_entry_point(logdir, finish_integrations):
    from seetrain import integration

    it = integration.init("keras", project="keras-api")
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[it.get_callback()])
    it.finish()
    r = seetrain.read_run(it.get_callback().experiment.dir)
    assert r.status == "success" and r.scalars("epoch/loss").steps == [0, 1]
