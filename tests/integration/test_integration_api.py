"""The unified integration API (seetrain.integration) over real Lightning, Keras and Transformers adapters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import seetrain
from seetrain import integration
from seetrain.integration import main as integration_main


@pytest.fixture(autouse=True)
def _clean(logdir):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    integration.finish()


def test_init_returns_an_integration_with_callback_config_stats_and_finish(logdir):
    it = integration.init("pytorch_lightning", project="api", experiment_name="pl", config={"lr": 0.1})
    from seetrain.integration.callbacks.lightning import SeeTrainLogger

    assert isinstance(it.get_callback(), SeeTrainLogger)
    assert it.framework == "pytorch_lightning" and it.mode == "callback"
    with pytest.raises(TypeError, match="get_callback"):
        it.get_tracker()
    assert it.get_config() == {"lr": 0.1, "_framework": "pytorch_lightning"}
    it.log({"loss": 0.5}, step=0)
    it.update_config({"batch_size": 4})
    stats = it.get_stats()
    assert stats["framework"] == "pytorch_lightning" and stats["records"] >= 2 and stats["errors"] == 0
    assert integration.active_integrations() == [it]
    it.finish()
    it.finish()  # twice is harmless
    assert integration.active_integrations() == []
    r = seetrain.read_run(it.run.dir)
    assert r.status == "success" and r.config["batch_size"] == 4 and r.scalars("loss").values == [0.5]


def test_aliases_and_shortcuts(logdir):
    assert integration.init("lightning").framework == "pytorch_lightning"
    assert integration.init("PL").framework == "pytorch_lightning"
    assert integration.init("huggingface").framework == "transformers"
    keras_it = integration.init_keras(project="api", config={"units": 8})
    from seetrain.integration.callbacks.keras import SeeTrainCallback

    assert isinstance(keras_it.get_callback(), SeeTrainCallback)
    assert keras_it.get_config()["units"] == 8 and keras_it.get_config()["_framework"] == "keras"
    assert integration.init_pytorch_lightning().framework == "pytorch_lightning"
    assert integration.init_transformers().framework == "transformers"
    assert len(integration.active_integrations()) == 6


def test_module_level_helpers_reach_every_active_integration_and_real_training_stays_apart(logdir):
    import keras
    import lightning.pytorch as pl

    from ._lightning_models import TinyMLP, loaders

    pl_it = integration.init("pytorch_lightning", project="multi", experiment_name="pl")
    keras_it = integration.init("keras", project="multi", experiment_name="keras")

    integration.log_scalar("shared/score", 1.5, step=0)
    integration.log({"shared/nested": {"a": 1}}, step=1)
    integration.log_image("shared/img", np.zeros((4, 4), dtype=np.uint8), caption="blank", step=2)
    integration.log_text("shared/note", "both runs", step=3)
    integration.update_config({"team": "core"})

    train, val = loaders(n=32, batch_size=8)
    pl.Trainer(logger=pl_it.get_callback(), accelerator="cpu", max_epochs=1, log_every_n_steps=1,
               enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False).fit(
        TinyMLP(), train, val)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, batch_size=8, verbose=0, callbacks=[keras_it.get_callback()])

    integration.finish()
    assert integration.active_integrations() == []
    runs = {r.name: r for r in seetrain.list_runs(logdir)}
    assert set(runs) == {"pl", "keras"}
    for r in runs.values():
        assert r.status == "success" and r.config["team"] == "core"
        assert r.scalars("shared/score").values == [1.5] and r.scalars("shared/nested/a").steps == [1]
        assert r.media("shared/img")[0]["caption"] == "blank"
        assert r.media("shared/note")[0]["step"] == 3
    assert "train_loss" in runs["pl"].keys() and "epoch/loss" not in runs["pl"].keys()
    assert "epoch/loss" in runs["keras"].keys() and "train_loss" not in runs["keras"].keys()
    assert runs["pl"].config["_framework"] == "pytorch_lightning" and runs["keras"].config["_framework"] == "keras"


def test_module_level_log_without_integrations_warns():
    with pytest.warns(seetrain.SeeTrainWarning, match="no active integration"):
        integration.log({"x": 1})


def test_with_integration_finishes_on_exit_and_crashes_on_exception(logdir):
    with integration.with_integration("keras", project="ctx", experiment_name="ok") as it:
        it.log({"x": 1}, step=0)
    assert seetrain.read_run(it.run.dir).status == "success"

    with pytest.raises(RuntimeError, match="diverged"):
        with integration.with_integration("pytorch_lightning", project="ctx", experiment_name="bad") as bad:
            bad.log({"x": 1}, step=0)
            raise RuntimeError("diverged")
    assert seetrain.read_run(bad.run.dir).status == "crashed"
    assert integration.active_integrations() == []


def test_unknown_framework_names_the_supported_ones():
    with pytest.raises(ValueError, match="unknown framework 'tensorflow-lite'.*keras.*pytorch_lightning"):
        integration.init("tensorflow-lite")


def test_framework_not_installed_names_the_extra_and_versions(monkeypatch):
    spec = integration_main.FrameworkSpec("callback", "seetrain_nowhere:Adapter", ("seetrain-absent-framework",),
                                          "absentfw", ">=1.2,<2")
    monkeypatch.setitem(integration_main.REGISTRY, "absentfw", spec)
    with pytest.raises(ImportError) as err:
        integration.init("absentfw", project="x")
    msg = str(err.value)
    assert "seetrain-absent-framework >=1.2,<2" in msg and 'pip install "seetrain[absentfw]"' in msg
    assert integration.active_integrations() == []


def test_framework_version_outside_the_range_is_refused(monkeypatch):
    import keras

    spec = dataclasses.replace(integration_main.REGISTRY["keras"], versions=">=4,<5")
    monkeypatch.setitem(integration_main.REGISTRY, "keras", spec)
    with pytest.raises(ImportError) as err:
        integration.init_keras(project="x")
    msg = str(err.value)
    assert ">=4,<5" in msg and keras.__version__ in msg and 'pip install "seetrain[keras]"' in msg
    assert integration.check_framework("pytorch_lightning")  # the others still pass
