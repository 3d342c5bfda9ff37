"""SeeTrainOptunaCallback with real Optuna studies (TPE sampler, fixed seed, quadratic objective)."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

import seetrain  # noqa: E402
from seetrain.integration.trackers.optuna import SeeTrainOptunaCallback  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def quadratic(trial):
    x = trial.suggest_float("x", -10.0, 10.0)
    shift = trial.suggest_categorical("shift", ["none", "one"])
    return (x - 2.0) ** 2 + (1.0 if shift == "one" else 0.0)


def _study(**kwargs):
    return optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), **kwargs)


def test_one_run_for_the_study(logdir):
    callback = SeeTrainOptunaCallback(project="hpo", experiment_name="quadratic", metric_name="loss",
                                      config={"search": "tpe"})
    study = _study(study_name="quad-study")
    study.optimize(quadratic, n_trials=10, callbacks=[callback])
    run_dir = callback.experiment.dir
    callback.finish()

    r = seetrain.read_run(run_dir)
    assert (r.project, r.name, r.status) == ("hpo", "quadratic", "success")
    assert r.config["search"] == "tpe" and r.config["_framework"] == "optuna"
    assert r.config["study_name"] == "quad-study" and r.config["directions"] == ["minimize"]
    assert r.config["sampler"] == "TPESampler"
    assert r.config["best_trial"] == study.best_trial.number
    assert r.config["best_params"] == study.best_params
    assert (r.config["n_trials"], r.config["n_complete"], r.config["n_pruned"]) == (10, 10, 0)

    loss = r.scalars("loss")
    assert loss.steps == list(range(10))
    assert loss.values == pytest.approx([t.value for t in study.trials])
    best = r.scalars("best_loss").values
    assert best == pytest.approx([min(loss.values[: i + 1]) for i in range(10)])
    assert best[-1] == pytest.approx(study.best_value)
    assert r.scalars("params/x").values == pytest.approx([t.params["x"] for t in study.trials])
    assert r.scalars("trial/state").values == [1] * 10  # TrialState.COMPLETE
    assert len(r.media("params/shift")) == 10  # categorical parameters are logged as text


def test_one_run_per_trial_with_pruning_and_logging_inside(logdir):
    callback = SeeTrainOptunaCallback(project="hpo-trials", one_run_per_trial=True)

    @callback.track_in_seetrain()
    def objective(trial):
        x = trial.suggest_float("x", -10.0, 10.0)
        for step in range(3):
            seetrain.log({"inner/x_times_step": x * step}, step=step)  # goes to this trial's run
            trial.report((x - 2.0) ** 2 + 3 - step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return (x - 2.0) ** 2

    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    study = _study(pruner=pruner)
    study.optimize(objective, n_trials=8, callbacks=[callback])
    callback.finish()

    runs = {r.name: r for r in seetrain.list_runs(logdir, project="hpo-trials")}
    assert sorted(runs) == sorted(f"trial-{t.number}" for t in study.trials)
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.PRUNED in states and optuna.trial.TrialState.COMPLETE in states
    for trial in study.trials:
        r = runs[f"trial-{trial.number}"]
        assert r.config["x"] == trial.params["x"]
        assert r.config["trial_number"] == trial.number and r.config["trial_state"] == trial.state.name
        assert r.scalars("intermediate_value").values == pytest.approx(
            [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)])
        assert r.scalars("inner/x_times_step").values == pytest.approx(
            [trial.params["x"] * s for s in range(len(trial.intermediate_values))])
        assert r.status == ("success" if trial.state == optuna.trial.TrialState.COMPLETE else "killed")
        # Optuna gives a pruned trial the last reported value; SeeTrain records whatever the trial holds
        if trial.value is None:
            assert "value" not in r.keys()
        else:
            assert r.scalars("value").values == pytest.approx([trial.value])


def test_failed_trials(logdir):
    callback = SeeTrainOptunaCallback(project="fails", one_run_per_trial=True)

    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        if trial.number == 1:
            raise ValueError("diverged")
        return x * x

    study = _study()
    study.optimize(objective, n_trials=3, callbacks=[callback], catch=(ValueError,))
    runs = {r.name: r for r in seetrain.list_runs(logdir, project="fails")}
    assert [runs[f"trial-{i}"].status for i in range(3)] == ["success", "failed", "success"]

    # an exception Optuna does not catch: the decorated objective marks the run failed and re-raises
    @callback.track_in_seetrain()
    def crashing(trial):
        trial.suggest_float("x", -1.0, 1.0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _study(study_name="crash").optimize(crashing, n_trials=1, callbacks=[callback])
    r = {r.name: r for r in seetrain.list_runs(logdir, project="fails")}["crash-trial-0"]
    assert r.status == "failed" and r.config["trial_state"] == "FAIL" and "x" in r.config


def test_unified_api_and_multi_objective(logdir):
    from seetrain import integration

    it = integration.init("optuna", project="multi", experiment_name="pareto", config={"budget": 6},
                          metric_name=["error", "cost"])
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=optuna.samplers.TPESampler(seed=1))
    study.optimize(lambda t: ((t.suggest_float("x", 0, 1) - 0.3) ** 2, t.params["x"]), n_trials=6,
                   callbacks=[it.get_tracker()])
    run_dir = it.run.dir
    it.finish()
    r = seetrain.read_run(run_dir)
    assert (r.project, r.name, r.config["budget"]) == ("multi", "pareto", 6)
    assert r.scalars("error").steps == list(range(6))
    assert r.scalars("cost").values == pytest.approx([t.values[1] for t in study.trials])
    assert "best_error" not in r.keys()  # no single best value in a multi-objective study


def test_bad_metric_name():
    with pytest.raises(TypeError, match="metric_name"):
        SeeTrainOptunaCallback(metric_name=3)
    with pytest.raises(ValueError, match="one_run_per_trial=True"):
        SeeTrainOptunaCallback().track_in_seetrain()
