"""A run written before format 2 has no uuid in its run.json: `seetrain sync` (to a real server) and
`seetrain ui` (the dashboard's watcher) derive the same one (seetrain/rundir/format.py), wherever
the run directory lies, so the run is one run in both and never two."""

from __future__ import annotations

import os
import shutil
import subprocess

import orjson
import pytest

from tests._child import child_env
from .conftest import PY, api

pytest.importorskip("fastapi", reason="the dashboard needs the server extra")


def old_format_run(logdir: str) -> str:
    """A format-1 run directory: no uuid, no format, records without a type."""
    d = os.path.join(logdir, "old", "r0")
    os.makedirs(d)
    meta = {"id": "r0", "name": "old-run", "project": "old", "status": "success", "start_time": 1_700_000_000.0}
    with open(os.path.join(d, "run.json"), "wb") as f:
        f.write(orjson.dumps(meta))
    with open(os.path.join(d, "records.jsonl"), "wb") as f:
        f.write(b'{"seq": 0, "step": 0, "time": 1700000001.0, "data": {"acc": 0.5}}\n'
                b'{"seq": 1, "time": 1700000002.0, "config": {"lr": 0.1}}\n')
    return d


def test_an_old_format_run_gets_one_uuid_from_sync_and_from_the_dashboard(server, tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher

    synced_logs = str(tmp_path / "here" / "logs")
    run_dir = old_format_run(synced_logs)
    sync = subprocess.run([PY, "-m", "seetrain.cli", "sync", synced_logs, "--host", server.url],
                          capture_output=True, text=True, timeout=180, env=child_env())
    assert sync.returncode == 0, sync.stderr
    status, body = api(server.url, "/api/v1/runs?project=old")
    assert status == 200, body
    (synced,) = body["runs"]

    # the same run, copied elsewhere (another machine's log folder), shown by `seetrain ui`
    shown_logs = str(tmp_path / "elsewhere" / "logs")
    shutil.copytree(os.path.dirname(os.path.dirname(run_dir)), shown_logs)
    home = tmp_path / "index"
    store = create_app(Settings(db=str(home / "index.db"), blobs=str(home / "blobs"), api_key="")).state.store
    watcher = Watcher(shown_logs, store)
    assert watcher.poll_once() == 2
    (shown,) = watcher.state()["runs"]

    assert shown == synced["uuid"], "seetrain ui and seetrain sync gave one old-format run two uuids"
    assert synced["name"] == "old-run"
