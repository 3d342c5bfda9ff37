"""`seetrain sweep`: Optuna from config, each trial one SeeTrain run in one group, the best config
printed and saved; two worker processes sharing one SQLite study."""

from __future__ import annotations

import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import sweep_main  # noqa: E402
from tests._child import child_env  # noqa: E402
from tests._services import require_or_skip  # noqa: E402

try:  # the session's PostgreSQL cluster on 127.0.0.1 (skips itself when PostgreSQL is not installed, fails in CI)
    from tests.server.conftest import pg_db, pg_url  # noqa: F401
except Exception as _exc:  # pragma: no cover - the server extra is missing
    _reason = f"PostgreSQL fixture unavailable: {_exc}"

    @pytest.fixture
    def pg_db():
        require_or_skip(_reason)

SMALL = ["hparams_search=digits_small_cnn", "trainer.enable_progress_bar=false", "trainer.num_threads=1",
         "data.subset=400", "+hparams_search.overrides.trainer.max_epochs=1",
         "+hparams_search.overrides.trainer.limit_train_batches=4", "+hparams_search.overrides.trainer.limit_val_batches=2"]


def _out(tmp_path):
    return [f"+hparams_search.output_dir={tmp_path / 'sweep'}"]


def test_three_trial_sweep_records_runs_and_saves_the_best_config(logdir, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert sweep_main(SMALL + _out(tmp_path) + ["--n-trials", "3", "--storage", f"sqlite:///{db}"]) == 0
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="digits_small_cnn", storage=f"sqlite:///{db}")
    assert len(study.trials) == 3
    runs = seetrain.list_runs(logdir, project="train")
    assert sorted(r.name for r in runs) == [f"digits_small_cnn-trial{i}" for i in range(3)]
    assert all("group:digits_small_cnn" in r.meta["tags"] and r.config["logger"]["group"] == "digits_small_cnn"
               for r in runs)
    for t in study.trials:  # each trial's run holds the sampled values
        run = next(r for r in runs if r.name.endswith(f"trial{t.number}"))
        assert run.config["optim"]["lr"] == t.params["optim.lr"] and run.config["model"]["width"] == t.params["model.width"]
        assert run.config["trainer"]["max_epochs"] == 1 and run.config["trainer"]["limit_train_batches"] == 4
        if t.state.name == "COMPLETE":
            assert max(run.scalars("val/acc").values) == pytest.approx(t.value)
    best = study.best_trial
    assert f"best trial {best.number}: value {best.value:.4f}" in out
    path = tmp_path / "sweep" / "best_config.yaml"
    assert str(path) in out
    # the saved best config trains again as it was
    from seetrain.train.config import load_config

    cfg = load_config([str(path)])
    assert cfg["optim"]["lr"] == best.params["optim.lr"] and cfg["model"]["width"] == best.params["model.width"]
    assert cfg["optim"]["weight_decay"] == best.params["optim.weight_decay"] and cfg["trainer"]["max_epochs"] == 1


def test_sweep_config_errors(capsys):
    assert sweep_main(["trainer.max_epochs=1"]) == 2
    assert "needs hparams_search=NAME" in capsys.readouterr().err
    assert sweep_main(["hparams_search=digits_small_cnn", "+hparams_search.space.optim.lrr={type: float, low: 0.1, high: 1}"]) == 2
    assert "the config has no key 'optim.lrr'; did you mean 'optim.lr'" in capsys.readouterr().err
    assert sweep_main(["hparams_search=digits_small_cnn", "hparams_search.direction=up"]) == 2
    assert "direction must be maximize or minimize" in capsys.readouterr().err


def test_two_workers_share_one_sqlite_study(logdir, tmp_path):
    db = tmp_path / "shared.db"
    cmd = [sys.executable, "-m", "seetrain.cli", "sweep"] + SMALL + _out(tmp_path) + [
        "--n-trials", "2", "--storage", f"sqlite:///{db}"]
    env = child_env(SEETRAIN_LOGDIR=logdir)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    study = optuna.load_study(study_name="digits_small_cnn", storage=f"sqlite:///{db}")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    names = sorted(r.name for r in seetrain.list_runs(logdir, project="train"))
    assert names == [f"digits_small_cnn-trial{i}" for i in range(4)]
    assert all("study digits_small_cnn: " in o for o in outs)


def test_sweep_on_a_postgresql_study(pg_db, logdir, tmp_path):
    from seetrain.train.sweep import run_sweep, storage_for

    out = run_sweep(SMALL + _out(tmp_path), storage=pg_db, study_name="pg_study", n_trials=2)
    study = optuna.load_study(study_name="pg_study", storage=storage_for(pg_db))
    assert len(study.trials) == 2 and out["best_value"] == study.best_value
    assert len(seetrain.list_runs(logdir, project="train")) == 2



def _search(tmp_path, name, lr, pruner):
    """A search config of one's own (a YAML path): one lr range, one pruner, 3 short epochs per trial."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""study_name: prune_study
direction: maximize
sampler: {{name: random, seed: 0}}
pruner: {pruner}
space:
  optim.lr: {{type: float, low: {lr[0]}, high: {lr[1]}}}
overrides:
  trainer.max_epochs: 3
  trainer.limit_train_batches: 4
  trainer.limit_val_batches: 2
  trainer.checkpoint.enabled: false
output_dir: {tmp_path / 'sweep'}
""")
    return [f"hparams_search={path}", "trainer.enable_progress_bar=false", "trainer.num_threads=1", "data.subset=400"]


def _trial_run(logdir, number):
    return next(r for r in seetrain.list_runs(logdir, project="train") if r.name == f"prune_study-trial{number}")


def test_threshold_pruner_stops_a_bad_trial_at_its_first_validation(logdir, tmp_path):
    """lr ~ 0 cannot learn: val/acc stays near chance, under the pruner's lower bound at epoch 0."""
    from seetrain.train.sweep import run_sweep

    out = run_sweep(_search(tmp_path, "t", (1e-9, 2e-9), "{name: threshold, lower: 0.5, n_warmup_steps: 0}"), n_trials=1)
    assert out["pruned"] == 1 and out["complete"] == 0
    run = _trial_run(logdir, 0)
    assert run.status == "killed" and run.summary()["stop_reason"] == "pruned"
    assert len(run.scalars("val/acc").values) == 1 < 3      # stopped at the first of three validations
    assert run.scalars("val/acc").values[0] < 0.5


def test_median_pruner_prunes_a_trial_worse_than_the_earlier_ones(logdir, tmp_path):
    """Trial 0 learns (completes); trial 1, on the same shared study, is below its median at epoch 0."""
    db = f"sqlite:///{tmp_path / 'prune.db'}"
    median = "{name: median, n_startup_trials: 1, n_warmup_steps: 0}"
    assert sweep_main(_search(tmp_path, "good", (0.01, 0.011), median) + ["--n-trials", "1", "--storage", db]) == 0
    assert sweep_main(_search(tmp_path, "bad", (1e-9, 2e-9), median) + ["--n-trials", "1", "--storage", db]) == 0
    study = optuna.load_study(study_name="prune_study", storage=db)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED"]
    good_run, bad_run = _trial_run(logdir, 0), _trial_run(logdir, 1)
    assert good_run.status == "success" and len(good_run.scalars("val/acc").values) == 3
    assert "stop_reason" not in good_run.summary()
    assert bad_run.status == "killed" and bad_run.summary()["stop_reason"] == "pruned"
    assert len(bad_run.scalars("val/acc").values) == 1
    assert trials[1].intermediate_values[0] < trials[0].intermediate_values[0]


def test_threshold_pruner_needs_a_bound(capsys):
    assert sweep_main(["hparams_search=digits_small_cnn", "hparams_search.pruner={name: threshold}"]) == 2
    assert "threshold needs lower and/or upper" in capsys.readouterr().err
