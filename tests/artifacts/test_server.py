"""Artifacts on a real server process: the online round trip, lineage over HTTP, a SIGKILL during
an artifact upload then ``seetrain sync``, aliases and removal through the REST API and the CLI."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import orjson

import seetrain
from tests._child import popen_python, run_python
from tests.artifacts.helpers import write_file
from tests.server.conftest import pg_db, pg_url  # noqa: F401 - fixtures
from tests.server.conftest import api, scalar_points

MB = 1 << 20


def _init(logdir, server=None, **kw):
    if server is not None:
        kw.update(mode="online", host=server.url)
    return seetrain.init(project="p", logdir=str(logdir), system_metrics=False, console="off", **kw)


def _wait(check, timeout=30.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_online_round_trip_and_use_from_the_server(tmp_path, server):
    """An online run's artifact reaches the server whole (files, aliases, producer); another log
    folder with an empty store then uses it from the server, byte for byte."""
    files = {"w.bin": os.urandom(2 * MB), "cfg/params.json": b'{"lr": 0.1}'}
    for p, data in files.items():
        write_file(str(tmp_path / "model" / p), data)
    run = _init(tmp_path / "logs", server, experiment_name="trainer")
    v = run.log_artifact(str(tmp_path / "model"), name="net", type="model", aliases=["best"], metadata={"acc": 0.9})
    run.finish()
    status, listing = api(server.url, "/api/v1/projects/p/artifacts")
    assert status == 200, listing
    assert [(a["name"], a["type"], a["versions"], a["latest"]) for a in listing["artifacts"]] == [("net", "model", 1, "v0")]
    status, got = api(server.url, "/api/v1/projects/p/artifacts/net/best")
    assert status == 200, got
    assert got["version"] == 0 and got["aliases"] == ["latest", "best"] and got["metadata"] == {"acc": 0.9}
    assert got["digest"] == v.digest and got["producer"]["uuid"] == run.uuid
    assert {f["path"]: f["size"] for f in got["files"]} == {p: len(d) for p, d in files.items()}
    for f in got["files"]:
        status, body = api(server.url, f"/api/v1/projects/p/artifacts/net/v0/blobs/{f['sha256']}")
        assert status == 200 and body == files[f["path"]]
    user = _init(tmp_path / "other-logs", server, experiment_name="user")  # another folder: its store is empty
    used = user.use_artifact("net:best")
    user.finish()
    for p, data in files.items():
        with open(os.path.join(used.path, *p.split("/")), "rb") as f:
            assert f.read() == data
    status, got = api(server.url, "/api/v1/projects/p/artifacts/net/v0")
    assert [u["uuid"] for u in got["used_by"]] == [user.uuid]
    status, runs_arts = api(server.url, f"/api/v1/runs/{user.uuid}/artifacts")
    assert runs_arts["artifacts"] == [{"name": "net", "version": 0, "direction": "input", "project": "p"}]


def test_lineage_graph_of_a_three_run_chain_over_http(tmp_path, server):
    logdir = tmp_path / "logs"
    write_file(str(tmp_path / "data" / "train.csv"), b"x,y\n1,2\n")
    prep = _init(logdir, server, experiment_name="prepare")
    prep.log_artifact(str(tmp_path / "data"), name="dataset", type="dataset")
    prep.finish()
    train = _init(logdir, server, experiment_name="train")
    train.use_artifact("dataset")
    write_file(str(tmp_path / "model" / "w.bin"), b"weights")
    train.log_artifact(str(tmp_path / "model"), name="model", type="model", aliases=["best"])
    train.finish()
    ev = _init(logdir, server, experiment_name="evaluate")
    ev.use_artifact("model:best")
    ev.finish()
    status, g = api(server.url, f"/api/v1/projects/p/lineage?node=run:{ev.uuid}")
    assert status == 200, g
    assert g["edges"] == sorted([
        {"from": "artifact:dataset:v0", "to": f"run:{train.uuid}", "direction": "input"},
        {"from": "artifact:model:v0", "to": f"run:{ev.uuid}", "direction": "input"},
        {"from": f"run:{prep.uuid}", "to": "artifact:dataset:v0", "direction": "output"},
        {"from": f"run:{train.uuid}", "to": "artifact:model:v0", "direction": "output"},
    ], key=lambda e: (e["from"], e["to"]))
    assert {n["id"]: n["label"] for n in g["nodes"]} == {
        f"run:{prep.uuid}": "prepare", f"run:{train.uuid}": "train", f"run:{ev.uuid}": "evaluate",
        "artifact:dataset:v0": "dataset:v0", "artifact:model:v0": "model:v0"}


_PAUSED_SYNC = textwrap.dedent("""
    import sys, time
    import seetrain.artifacts.remote as remote
    from seetrain.sender import Client, RunSync

    run_dir, url, marker = sys.argv[1:4]
    plain = remote._FileBody.__iter__
    uploads = []

    def paused(self):  # the second file: half of it, then the process is killed
        uploads.append(self.path)
        if len(uploads) == 2:
            with open(self.path, "rb") as f:
                yield f.read(512 * 1024)
            open(marker, "w").write("paused")
            time.sleep(3600)
        yield from plain(self)

    remote._FileBody.__iter__ = paused
    RunSync(run_dir, Client(url)).drain()
    """)


def test_sigkill_during_an_artifact_upload_then_sync_gives_one_complete_version(tmp_path, server):
    logdir = tmp_path / "logs"
    files = {"a.bin": os.urandom(MB), "b.bin": os.urandom(3 * MB), "c.txt": b"c"}
    for p, data in files.items():
        write_file(str(tmp_path / "art" / p), data)
    run = _init(logdir)  # local: shipped afterwards
    run.log({"loss": 1.0})
    run.log_artifact(str(tmp_path / "art"), name="bundle", aliases=["best"])
    run.log({"loss": 0.5})
    run.finish()
    marker = tmp_path / "paused"
    child = popen_python(["-c", _PAUSED_SYNC, run.dir, server.url, str(marker)], start_new_session=True)
    try:
        _wait(lambda: marker.exists() or child.poll() is not None, 60, "the upload to pause")
        assert child.poll() is None, "the sync ended before the pause"
        status, listing = api(server.url, "/api/v1/projects/p/artifacts")
        assert status == 200 and listing["artifacts"] == []  # one blob stored, one half sent: no version
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    status, _ = api(server.url, "/api/v1/projects/p/artifacts/bundle")
    assert status == 404
    for _ in range(2):  # sync, then sync again: still one version
        out = run_python(["-m", "seetrain.cli", "sync", run.dir, "--host", server.url], capture_output=True, text=True,
                         timeout=120)
        assert out.returncode == 0, out.stderr
        status, versions = api(server.url, "/api/v1/projects/p/artifacts/bundle")
        assert status == 200, versions
        assert [(v["version"], v["aliases"], v["n_files"]) for v in versions["versions"]] == [(0, ["latest", "best"], 3)]
    status, v0 = api(server.url, "/api/v1/projects/p/artifacts/bundle/v0")
    for f in v0["files"]:
        status, body = api(server.url, f"/api/v1/projects/p/artifacts/bundle/v0/blobs/{f['sha256']}")
        assert status == 200 and body == files[f["path"]]
    assert scalar_points(server.url, run.uuid, "loss")["y"] == [1.0, 0.5]  # the records around it, once each


def test_a_version_whose_files_were_not_uploaded_is_refused_whole(tmp_path, server):
    uuid = "ab" * 16
    status, _ = api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p", "id": "r"}))
    assert status == 200
    art = {"project": "p", "name": "x", "version": 0, "files": [{"path": "w.bin", "sha256": "cd" * 32, "size": 3}]}
    rec = {"seq": 0, "time": time.time(), "type": "event", "event": "artifact", "direction": "output", "artifact": art}
    status, body = api(server.url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps({"records": [rec]}))
    assert status == 422 and "not uploaded" in body["detail"] and "blobs" in body["detail"]
    status, listing = api(server.url, "/api/v1/projects/p/artifacts")
    assert listing["artifacts"] == []
    bad = dict(rec, artifact=dict(art, name="../etc"))
    status, body = api(server.url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps({"records": [bad]}))
    assert status == 422 and "not a valid artifact event" in body["detail"]


def test_aliases_and_removal_over_rest_and_cli(tmp_path, server):
    logdir = tmp_path / "logs"
    run = _init(logdir, server)
    for i in range(2):
        write_file(str(tmp_path / f"s{i}" / "w.bin"), bytes([i]) * 100)
        run.log_artifact(str(tmp_path / f"s{i}"), name="m")
    run.finish()
    cli = ["-m", "seetrain.cli", "artifact"]
    where = ["--project", "p", "--host", server.url]
    out = run_python([*cli, "alias", "m:v0", "production", *where], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "m:production -> v0" in out.stdout, out.stderr
    out = run_python([*cli, "alias", "m:v1", "production", *where], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status, versions = api(server.url, "/api/v1/projects/p/artifacts/m")
    assert [(v["version"], v["aliases"]) for v in versions["versions"]] == [(1, ["latest", "production"]), (0, [])]
    status, body = api(server.url, "/api/v1/projects/p/artifacts/m/aliases/latest", "PUT", b'{"version": "v0"}')
    assert status == 422 and "newest version" in body["detail"]
    out = run_python([*cli, "rm", "m:v1", *where], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status, versions = api(server.url, "/api/v1/projects/p/artifacts/m")
    assert [(v["version"], v["aliases"], bool(v["deleted"])) for v in versions["versions"]] == [
        (1, [], True), (0, ["latest"], False)]
    out = run_python([*cli, "ls", "m", *where, "--json"], capture_output=True, text=True, timeout=60)
    doc = orjson.loads(out.stdout)
    assert doc["schema"] == "seetrain.artifact.ls/1" and [v["version"] for v in doc["versions"]] == [1, 0]
    status, body = api(server.url, "/api/v1/projects/p/artifacts/m/v1")
    assert status == 200 and body["deleted"] and body["files"] == []
    status, body = api(server.url, "/api/v1/projects/p/artifacts/nope/v0")
    assert status == 404 and "no artifact named 'nope'" in body["detail"]


def test_a_removed_versions_blobs_go_at_gc_and_shared_ones_stay(tmp_path, server):
    """``seetrain artifact rm`` then ``seetrain server gc --yes``: the removed version's own file is
    deleted from the blob store; a file another version holds survives; the disk usage after gc is
    what the remaining references hold."""
    shared, own = os.urandom(MB), os.urandom(MB // 2)
    write_file(str(tmp_path / "a" / "shared.bin"), shared)
    write_file(str(tmp_path / "a" / "own.bin"), own)
    write_file(str(tmp_path / "b" / "shared.bin"), shared)
    run = _init(tmp_path / "logs", server)
    va = run.log_artifact(str(tmp_path / "a"), name="m")
    vb = run.log_artifact(str(tmp_path / "b"), name="m")
    run.finish()
    sha = {f.path: f.sha256 for f in va.manifest.files}
    blob = lambda s: os.path.join(server.blobs, s[:2], s)  # noqa: E731 - the server's local blob store
    assert os.path.isfile(blob(sha["own.bin"])) and os.path.isfile(blob(sha["shared.bin"]))
    out = run_python(["-m", "seetrain.cli", "artifact", "rm", f"m:v{va.version}", "--project", "p", "--host", server.url],
                     capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    out = run_python(["-m", "seetrain.cli", "server", "gc", "--db", server.db, "--blobs", server.blobs, "--yes"],
                     capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(blob(sha["own.bin"]))
    with open(blob(sha["shared.bin"]), "rb") as f:
        assert f.read() == shared
    status, body = api(server.url, f"/api/v1/projects/p/artifacts/m/v{vb.version}/blobs/{sha['shared.bin']}")
    assert status == 200 and body == shared


def test_round_trip_on_postgresql(tmp_path, make_server, pg_db):
    server = make_server(db=pg_db)
    run = _init(tmp_path / "logs", server)
    for i in range(2):
        write_file(str(tmp_path / f"s{i}" / "w.bin"), bytes([i]) * 1000)
        run.log_artifact(str(tmp_path / f"s{i}"), name="m", aliases=["best"])
    run.finish()
    status, versions = api(server.url, "/api/v1/projects/p/artifacts/m")
    assert status == 200, versions
    assert [(v["version"], v["aliases"]) for v in versions["versions"]] == [(1, ["latest", "best"]), (0, [])]
    status, g = api(server.url, f"/api/v1/projects/p/lineage?node=run:{run.uuid}")
    assert sorted(n["id"] for n in g["nodes"]) == sorted([f"run:{run.uuid}", "artifact:m:v0", "artifact:m:v1"])


def test_a_server_alias_moves_atomically_under_concurrent_reads(tmp_path, server):
    """While a client moves ``best`` between v0 and v1 200 times, every read of ``m:best`` answers
    200 with one of the two versions, and the versions listing never shows it on two."""
    import threading

    run = _init(tmp_path / "logs", server)
    for i in range(2):
        write_file(str(tmp_path / f"s{i}" / "w.bin"), bytes([i]) * 10)
        run.log_artifact(str(tmp_path / f"s{i}"), name="m", aliases=["best"])
    run.finish()
    done = threading.Event()

    def mover():
        try:
            for i in range(200):
                status, body = api(server.url, "/api/v1/projects/p/artifacts/m/aliases/best", "PUT",
                                   orjson.dumps({"version": f"v{i % 2}"}))
                assert status == 200, body
        finally:
            done.set()

    t = threading.Thread(target=mover)
    t.start()
    seen, reads = set(), 0
    while not done.is_set() or reads < 20:
        status, v = api(server.url, "/api/v1/projects/p/artifacts/m/best")
        assert status == 200, v
        seen.add(v["version"])
        status, listing = api(server.url, "/api/v1/projects/p/artifacts/m")
        assert sum("best" in x["aliases"] for x in listing["versions"]) == 1
        reads += 1
    t.join()
    assert seen <= {0, 1}
