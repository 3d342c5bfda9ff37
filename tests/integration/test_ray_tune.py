"""SeeTrainLoggerCallback with a real local Ray Tune (2 CPUs, tiny function trainables).

Ray starts once per session (it is slow to start); each test runs one small experiment and compares
every SeeTrain run with what Tune itself recorded for the trial (``Result.metrics_dataframe``).
"""

from __future__ import annotations

import math
import os
import pickle

import pytest

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

import seetrain  # noqa: E402
from seetrain import integration  # noqa: E402
from seetrain.integration.trackers.ray_tune import SeeTrainLoggerCallback  # noqa: E402

MAX_T = 6


@pytest.fixture(scope="session")
def ray_cluster():
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def trainable(config):
    if config["lr"] < 0:
        tune.report({"loss": 1.0})
        raise ValueError("negative learning rate")
    for i in range(MAX_T):
        loss = config["lr"] * (MAX_T - i)
        tune.report({"loss": loss, "eval": {"acc": 1.0 / (1.0 + loss)}, "flag": True, "note": "text",
                     "maybe_nan": float("nan") if i == 1 else float(i)})


def _fit(tmp_path, callback, param_space, **tune_config):
    tuner = tune.Tuner(trainable, param_space=param_space,
                       tune_config=tune.TuneConfig(**tune_config),
                       run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path / "ray_results"),
                                                 callbacks=[callback], verbose=0))
    return tuner.fit()


def _runs_by_trial(logdir, project):
    return {r.config["ray/trial_id"]: r for r in seetrain.list_runs(logdir, project=project)}


def _same_series(reader, df, key, column):
    series = reader.scalars(key)
    assert series.steps == df["training_iteration"].tolist()
    expected = df[column].tolist()
    assert len(series.values) == len(expected)
    for got, want in zip(series.values, expected):
        assert (math.isnan(got) and math.isnan(want)) or got == want


def test_one_run_per_trial_with_config_results_and_status(ray_cluster, logdir, tmp_path):
    cb = SeeTrainLoggerCallback(project="ray-hpo", config={"team": "vision"}, tags=["tune"])
    results = _fit(tmp_path, cb, {"lr": tune.grid_search([0.1, 0.2, -1.0]), "layers": {"n": 2}},
                   max_concurrent_trials=2)
    runs = _runs_by_trial(logdir, "ray-hpo")
    assert len(runs) == 3 == len(results)
    for result in results:
        trial_id = result.metrics["trial_id"] if result.metrics else None
        if result.error is not None:
            failed = [r for r in runs.values() if r.config["lr"] == -1.0]
            assert len(failed) == 1
            r = failed[0]
            assert r.status == "crashed"
            assert r.config["ray/status"] == "ERROR"
            assert "negative learning rate" in r.config["ray/error"]
            assert r.scalars("loss").values == [1.0] and r.scalars("loss").steps == [1]
            continue
        r = runs[trial_id]
        df = result.metrics_dataframe
        assert r.status == "success"
        assert r.project == "ray-hpo" and r.name.startswith("trainable_")
        assert r.config["lr"] == result.config["lr"] and r.config["layers"] == {"n": 2}
        assert r.config["team"] == "vision" and r.config["_framework"] == "ray_tune"
        assert r.config["group"] == "exp" and r.meta["tags"] == ["tune", "exp"]
        assert r.config["ray/status"] == "TERMINATED" and r.config["ray/stopped_early"] is False
        assert r.config["ray/pid"] == int(df["pid"].iloc[0])
        assert len(df) == MAX_T
        _same_series(r, df, "loss", "loss")
        _same_series(r, df, "eval/acc", "eval/acc")
        _same_series(r, df, "maybe_nan", "maybe_nan")
        _same_series(r, df, "time_this_iter_s", "time_this_iter_s")
        assert r.scalars("flag").values == [1] * MAX_T
        assert "note" not in r.keys() and "done" not in r.keys() and "config/lr" not in r.keys()
    assert pickle.loads(pickle.dumps(cb))._runs == {}  # Tune pickles its run config


def test_early_stopping_scheduler_runs_are_cut_where_tune_stopped(ray_cluster, logdir, tmp_path):
    from ray.tune.schedulers import ASHAScheduler

    it = integration.init("ray_tune", project="ray-asha")
    # one trial at a time, best first: ASHA keeps the first and stops the worse ones at the first rung;
    # max_t is beyond the trainable's own end, so the first trial returns on its own
    results = _fit(tmp_path, it.get_tracker(), {"lr": tune.grid_search([0.1, 0.5, 0.9])},
                   scheduler=ASHAScheduler(metric="loss", mode="min", max_t=4 * MAX_T, grace_period=1,
                                           reduction_factor=2),
                   max_concurrent_trials=1)
    it.finish()
    runs = _runs_by_trial(logdir, "ray-asha")
    assert len(runs) == 3
    lengths = {}
    for result in results:
        r = runs[result.metrics["trial_id"]]
        df = result.metrics_dataframe
        _same_series(r, df, "loss", "loss")
        assert r.status == "success"
        assert r.config["ray/stopped_early"] is (len(df) < MAX_T)
        lengths[result.config["lr"]] = len(df)
    assert lengths[0.1] == MAX_T and lengths[0.9] < MAX_T  # ASHA really stopped a trial early
