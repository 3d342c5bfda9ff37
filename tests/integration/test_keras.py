"""SeeTrainCallback with a real Keras 3 model.fit (KERAS_BACKEND=torch, set in conftest)."""

from __future__ import annotations

import numpy as np
import pytest

import seetrain

keras = pytest.importorskip("keras")

from seetrain.integration.callbacks.keras import SeeTrainCallback  # noqa: E402


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) * 0.5).astype("float32")
    return x, y


def _model(lr=0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)],
                             name="tiny_mlp")
    schedule = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=4, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse", metrics=["mae"])
    return model


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


def test_fit_logs_epoch_and_batch_metrics_lr_and_model_summary(logdir):
    x, y = _data()
    model = _model()
    cb = SeeTrainCallback(project="keras", experiment_name="mlp", config={"batch_size": 8}, log_batch_frequency=2)
    model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb])
    model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[cb])
    cb.finish()

    (r,) = seetrain.list_runs(logdir)
    assert r.path == cb.experiment.dir and r.status == "success" and r.name == "mlp"
    for key in ("epoch/loss", "epoch/mae", "epoch/val_loss", "epoch/val_mae", "epoch/learning_rate"):
        assert r.scalars(key).steps == [0, 1, 2], key
    # 36 training samples / batch 8 = 5 batches an epoch, 15 in all; every 2nd logged
    assert r.scalars("batch/loss").steps == list(range(0, 15, 2))
    assert r.scalars("batch/learning_rate").steps == list(range(0, 15, 2))
    lrs = r.scalars("epoch/learning_rate").values
    assert lrs[0] < 0.01 and lrs[0] > lrs[1] > lrs[2]  # the schedule decays
    assert lrs[-1] == pytest.approx(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), rel=1e-5)
    assert r.scalars("epoch/val_loss").values[-1] < r.scalars("epoch/val_loss").values[0]
    evaluated = r.scalars("evaluate/loss")
    assert evaluated.steps == [2] and evaluated.values[0] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-4)
    assert not any(k.startswith("evaluate/") and r.scalars(k).steps != [2] for k in r.keys())

    cfg = r.config
    assert cfg["batch_size"] == 8 and cfg["_framework"] == "keras"
    assert cfg["keras"]["backend"] == "torch"
    assert cfg["fit"]["epochs"] == 3 and cfg["fit"]["steps"] == 5
    assert cfg["model"]["num_parameters"] == model.count_params() == 4 * 8 + 8 + 8 + 1
    assert cfg["model"]["name"] == "tiny_mlp" and "Param #" in cfg["model"]["summary"]
    assert cfg["optimizer"]["name"] == "adam"


def test_epochs_only_by_default_and_second_fit_continues_the_run(logdir):
    x, y = _data(n=32)
    model = _model()
    cb = SeeTrainCallback(project="keras2", log_learning_rate=False)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    model.fit(x, y, initial_epoch=2, epochs=3, batch_size=16, verbose=0, callbacks=[cb])
    cb.finish()
    (r,) = seetrain.list_runs(logdir)
    assert r.keys() == ["epoch/loss", "epoch/mae"]
    assert r.scalars("epoch/loss").steps == [0, 1, 2]


def test_finish_on_train_end(logdir):
    x, y = _data(n=16)
    cb = SeeTrainCallback(project="keras3", finish_on_train_end=True)
    _model().fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[cb])
    assert cb.experiment.finished
    assert seetrain.read_run(cb.experiment.dir).status == "success"


def test_bad_batch_frequency_is_a_clear_error():
    with pytest.raises(ValueError, match="log_batch_frequency"):
        SeeTrainCallback(log_batch_frequency=0)
