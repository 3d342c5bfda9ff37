"""`seetrain sweep`: Optuna from config, each trial one SeeTrain run in one group, the best config
printed and saved; two worker processes sharing one SQLite study."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("lightning")

import seetrain  # noqa: E402
from seetrain.train.commands import sweep_main  # noqa: E402

try:  # the session's PostgreSQL cluster on 127.0.0.1 (skips itself when PostgreSQL is not installed)
    from tests.server.conftest import pg_db, pg_url  # noqa: F401
except Exception as _exc:  # pragma: no cover - the server extra is missing
    _reason = f"PostgreSQL fixture unavailable: {_exc}"

    @pytest.fixture
    def pg_db():
        pytest.skip(_reason)

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
    env = {**os.environ, "SEETRAIN_LOGDIR": logdir}
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
