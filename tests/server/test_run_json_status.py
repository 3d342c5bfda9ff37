"""A run directory whose run.json holds a status the server does not know (written by a SeeTrain from
before ``finish()`` checked its arguments, ``finish(status="done")``, or edited by hand): the
dashboard and every sync take the run whole, ended by its exit code as ``finish()`` ends it today,
and the run directory read locally says the same. Before, the server refused run.json and with it
every record: the run was missing from ``seetrain ui`` and from the synced server."""

from __future__ import annotations

import json
import os
import warnings

import pytest

import seetrain
from tests._child import run_python

from .conftest import api

pytest.importorskip("fastapi", reason="the server extra is needed")


def _run_written_as(logdir: str, name: str, status, exit_code) -> str:
    run = seetrain.init(project="p", id=name, logdir=logdir, system_metrics=False, console="off")
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    path = os.path.join(run.dir, "run.json")
    with open(path) as f:
        meta = json.load(f)
    meta.update(status=status, exit_code=exit_code)
    with open(path, "w") as f:
        json.dump(meta, f)
    return run.dir


CASES = [("done", None, "success"), ("error", 3, "failed"), ("finished", 0, "success"), (7, None, "success")]


@pytest.fixture
def run_dirs(tmp_path):
    logdir = str(tmp_path / "logs")
    return logdir, {_run_written_as(logdir, f"r{i}", status, code): want
                    for i, (status, code, want) in enumerate(CASES)}


def test_the_dashboard_takes_each_run_whole_ended_by_its_exit_code(run_dirs, tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.queries import get_run
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher

    logdir, dirs = run_dirs
    store = create_app(Settings(db=str(tmp_path / "ui.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    watcher = Watcher(logdir, store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        watcher.poll_once()
    for run_dir, want in dirs.items():
        local = seetrain.read_run(run_dir)
        assert local.status == want
        state = watcher.state()["runs"][local.uuid]
        assert not state["error"], state["error"]
        with store.read() as conn:
            row = get_run(conn, local.uuid)
        assert row is not None and (row["status"], row["n_records"]) == (want, local.meta["last_seq"] + 1), row
    said = [str(w.message) for w in caught]
    assert any("'done'" in m and "taken as 'success'" in m for m in said), said


def test_sync_sends_each_run_whole_ended_by_its_exit_code(run_dirs, server):
    logdir, dirs = run_dirs
    res = run_python(["-m", "seetrain.cli", "sync", logdir, "--host", server.url], capture_output=True, text=True,
                     timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    for run_dir, want in dirs.items():
        local = seetrain.read_run(run_dir)
        status, body = api(server.url, f"/api/v1/runs/{local.uuid}")
        assert status == 200, body
        assert (body["status"], body["records"]) == (want, local.meta["last_seq"] + 1), body
