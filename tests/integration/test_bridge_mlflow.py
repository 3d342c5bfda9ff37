"""MLflow bridge with a real MLflow tracking store (SQLite and file store in a temp dir).

The original is what MLflow reads back from its store (MlflowClient); the mirrored run and the
imported run must both equal it, series by series and param by param.
"""

from __future__ import annotations

import math

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

import seetrain  # noqa: E402
from seetrain.cli import main as cli_main  # noqa: E402
from seetrain.integration.bridges import mlflow as ml_bridge  # noqa: E402


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh file store (quick to create; SQLite stores are covered by the import test)."""
    uri = f"file:{tmp_path}/mlruns"
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x refuses file stores without it
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("Default")
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _points(seq):
    return sorted((s, v if not math.isnan(v) else "nan") for s, v in seq)


def _assert_same_as_mlflow(r, client, run_id):
    """Every metric series, param and tag of the MLflow run is in the SeeTrain run, and the status."""
    original = client.get_run(run_id)
    assert r.id == f"mlflow-{run_id}" and r.name == original.info.run_name
    for key in original.data.metrics:
        history = client.get_metric_history(run_id, key)
        series = r.scalars(key)
        assert _points(zip(series.steps, series.values)) == _points((m.step, m.value) for m in history), key
    assert set(original.data.metrics) == {k for k in r.keys() if not k.startswith("sys/")}
    for key, value in original.data.params.items():
        assert r.config[key] == value
    for key, value in original.data.tags.items():
        assert r.config[f"mlflow/tags/{key}"] == value
    assert r.config["mlflow/status"] == original.info.status
    assert r.status == {"FINISHED": "success", "FAILED": "failed", "KILLED": "killed"}[original.info.status]


def _train(experiment="exp-a"):
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_param("lr", 1e-3)
        mlflow.log_params({"layers": 4, "opt": "adam"})
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / 3.0 + step, step=step)
        mlflow.log_metrics({"acc": 0.5, "f1": float("nan")}, step=4)
        mlflow.log_metric("no_step", 2.5)  # MLflow's default step 0
        mlflow.log_metric("loss", 9.0, step=2)  # a second point at an earlier step
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_metric("inner", 1.0, step=1)
        good = run.info.run_id
    with pytest.raises(RuntimeError):
        with mlflow.start_run(run_name="broken") as run:
            mlflow.log_metric("loss", 5.0, step=0)
            raise RuntimeError("diverged")
    client = MlflowClient()
    killed = client.create_run(client.get_experiment_by_name(experiment).experiment_id, run_name="by-client")
    client.log_metric(killed.info.run_id, "x", 3, step=7)
    client.set_terminated(killed.info.run_id, "KILLED")
    return good, run.info.run_id, killed.info.run_id


def test_disable_restores_mlflow_client(store, logdir):
    originals = {name: MlflowClient.__dict__[name] for name in ("create_run", "log_metric", "log_batch")}
    sync = seetrain.sync_mlflow(project="off")
    assert MlflowClient.__dict__["log_metric"] is not originals["log_metric"]
    sync.disable()
    assert all(MlflowClient.__dict__[n] is f for n, f in originals.items())
    with mlflow.start_run():
        mlflow.log_metric("x", 1.0)
    assert seetrain.list_runs(logdir, project="off") == []


def test_mlflow_errors_reach_the_user_unchanged(store, logdir):
    sync = seetrain.sync_mlflow(project="err")
    try:
        with mlflow.start_run():
            with pytest.raises(mlflow.exceptions.MlflowException):
                mlflow.log_param("p", 1)
                mlflow.log_param("p", 2)  # MLflow refuses to change a param
    finally:
        sync.finish()
    (r,) = seetrain.list_runs(logdir, project="err")
    assert r.config["p"] == "1"


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_mirror_and_import_equal_mlflow_value_for_value(kind, tmp_path, monkeypatch, logdir):
    uri = f"sqlite:///{tmp_path}/m.db" if kind == "sqlite" else f"file:{tmp_path}/mlruns"
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    if kind == "file":
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    try:
        sync = seetrain.sync_mlflow()
        try:
            good, broken, killed = _train("exp-b")
        finally:
            sync.finish()
    finally:
        mlflow.set_tracking_uri(None)
    target = str(tmp_path / "imported")
    assert cli_main(["import", "mlflow", "--tracking-uri", uri, "--logdir", target]) == 0
    client = MlflowClient(tracking_uri=uri)
    imported = {r.config["mlflow/run_id"]: r for r in seetrain.list_runs(target, project="exp-b")}
    mirrored = {r.config["mlflow/run_id"]: r for r in seetrain.list_runs(logdir, project="exp-b")}
    assert len(imported) == 4 and set(imported) == set(mirrored)  # baseline, child, broken, by-client
    for run_id, m in mirrored.items():
        _assert_same_as_mlflow(m, client, run_id)
    assert mirrored[good].config["lr"] == "0.001" and mirrored[good].config["layers"] == "4"
    assert mirrored[good].scalars("no_step").steps == [0]
    assert mirrored[broken].status == "failed" and mirrored[killed].status == "killed"
    for run_id, r in imported.items():
        _assert_same_as_mlflow(r, client, run_id)
        m = mirrored[run_id]
        for key in r.keys():
            assert _points(zip(*r.scalars(key)[:2])) == _points(zip(*m.scalars(key)[:2]))
        assert {k: v for k, v in r.config.items() if k != "imported"} == m.config
    # a second import skips what is there; a missing experiment is one clear message
    assert cli_main(["import", "mlflow", "--tracking-uri", uri, "--logdir", target]) == 0
    assert len(seetrain.list_runs(target, project="exp-b")) == 4
    with pytest.raises(SystemExit, match="no MLflow experiment named nope"):
        cli_main(["import", "mlflow", "--tracking-uri", uri, "--experiment", "nope", "--logdir", target])


def test_import_missing_store_is_one_clear_message(tmp_path):
    with pytest.raises(SystemExit, match="no SQLite database"):
        cli_main(["import", "mlflow", "--tracking-uri", f"sqlite:///{tmp_path}/none.db"])
    with pytest.raises(SystemExit, match="neither a tracking URI"):
        cli_main(["import", "mlflow", "--tracking-uri", str(tmp_path / "nothing")])
