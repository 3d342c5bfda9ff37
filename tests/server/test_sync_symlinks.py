"""`seetrain sync` never follows a symbolic link inside a run directory (issue 21 item 8): a media
file, a media folder, records.jsonl or run.json linking outside the run is named on stderr and not
read; everything else of the run is uploaded. Real `seetrain sync` against a real server process."""

from __future__ import annotations

import glob
import os
import subprocess

from tests._child import child_env
from tests.server.conftest import PY, api, scalar_points
from tests.symlinked_runs import GOOD, SECRET, files_holding, run_with_linked_file, run_with_media_links


def _sync(logdir, url):
    return subprocess.run([PY, "-m", "seetrain.cli", "sync", logdir, "--host", url],
                          capture_output=True, text=True, timeout=180, env=child_env())


def _server_files(tmp_path):
    """What the server stored: its database files and its blob store."""
    return glob.glob(str(tmp_path / "db*.sqlite*")) + [str(tmp_path / "blobs")]


def _leaks(tmp_path):
    hits = []
    for path in _server_files(tmp_path):
        hits += files_holding(path, SECRET) if os.path.isdir(path) else (
            [path] if SECRET in open(path, "rb").read() else [])
    return hits


def test_media_links_are_named_and_skipped_and_the_rest_is_uploaded(server, tmp_path):
    logdir = str(tmp_path / "logs")
    run = run_with_media_links(logdir)
    out = _sync(logdir, server.url)
    assert _leaks(tmp_path) == []  # the secret's bytes are nowhere in what the server stored
    assert out.returncode == 0, out.stderr
    for shown in run.links.values():  # each link named, with what to do
        assert f"{shown} is a symbolic link" in out.stderr and "not uploaded" in out.stderr, out.stderr
    assert scalar_points(server.url, run.uuid, "loss")["x"] == [0, 1, 2, 3, 4, 6]
    status, media = api(server.url, f"/api/v1/runs/{run.uuid}/media")
    assert status == 200
    by_key = {m["key"]: m for m in media}
    assert set(by_key) == {"good", "x", "leak"}  # the records went; only the linked files did not
    assert by_key["x"]["url"] is None and by_key["leak"]["url"] is None
    status, body = api(server.url, by_key["good"]["url"])
    assert status == 200 and body == GOOD
    again = _sync(logdir, server.url)  # nothing new: nothing read, nothing said again
    assert again.returncode == 0 and "symbolic link" not in again.stderr and _leaks(tmp_path) == []


def test_records_or_run_json_that_are_links_are_refused(server, tmp_path):
    logdir = str(tmp_path / "logs")
    linked = [run_with_linked_file(logdir, "records.jsonl"), run_with_linked_file(logdir, "run.json")]
    out = _sync(logdir, server.url)
    assert _leaks(tmp_path) == []
    assert out.returncode == 1, out.stderr
    for run in linked:
        shown = next(iter(run.links.values()))
        assert f"{shown} is a symbolic link" in out.stderr, out.stderr
    status, body = api(server.url, "/api/v1/runs?project=p")
    assert status == 200 and SECRET.decode() not in str(body)
    for run in linked:
        status, console = api(server.url, f"/api/v1/runs/{run.uuid}/console")
        assert status == 404 or SECRET.decode() not in str(console)
