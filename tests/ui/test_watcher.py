"""The `seetrain ui` watcher: follows run directories with the incremental reader into the
dashboard's own index (a real SQLite store of the server), reading only what is new."""

from __future__ import annotations

import os
import shutil

import orjson
import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the server extra")

from seetrain.cli.ui import index_dir  # noqa: E402
from seetrain.server.app import create_app  # noqa: E402
from seetrain.server.queries import get_run, keys  # noqa: E402
from seetrain.server.settings import Settings  # noqa: E402
from seetrain.rundir.format import run_uuid  # noqa: E402
from seetrain.server.watcher import Watcher  # noqa: E402

from .rundirs import write_run_json  # noqa: E402


@pytest.fixture
def store(tmp_path):
    home = tmp_path / "index"
    return create_app(Settings(db=str(home / "index.db"), blobs=str(home / "blobs"), api_key="")).state.store


def line(seq, step=None, value=None, **rec):
    if value is not None:
        rec = {"type": "metrics", "step": step, "data": {"loss": value}}
    return orjson.dumps({"seq": seq, "time": 1_700_000_000.0 + seq, **rec}) + b"\n"


def append(run_dir, data: bytes):
    with open(os.path.join(run_dir, "records.jsonl"), "ab") as f:
        f.write(data)


def stored(store, uuid):
    with store.read() as conn:
        return get_run(conn, uuid)


@pytest.fixture
def run_dir(tmp_path):
    d = str(tmp_path / "logs" / "proj" / "r1")
    meta = write_run_json(d, status="running")
    append(d, b"".join(line(i, i, 1.0 / (i + 1)) for i in range(10)))
    return d, meta["uuid"]


def test_new_run_is_indexed_and_live_appends_read_only_the_new_bytes(store, run_dir, tmp_path):
    d, uuid = run_dir
    w = Watcher(str(tmp_path / "logs"), store)
    assert w.poll_once() == 10
    assert stored(store, uuid)["last_seq"] == 9
    assert w.poll_once() == 0  # nothing new: one stat, no read
    size = os.path.getsize(os.path.join(d, "records.jsonl"))
    append(d, b"".join(line(i, i, 0.5) for i in range(10, 15)))
    assert w.runs[d].offset == size
    assert w.poll_once() == 5  # only the five new records were read and stored
    with store.read() as conn:
        assert next(k for k in keys(conn, uuid) if k["key"] == "loss")["count"] == 15


def test_a_torn_last_line_waits_then_is_read_whole(store, run_dir, tmp_path):
    d, uuid = run_dir
    partial = line(10, 10, 0.25)[:-9]
    append(d, partial)
    w = Watcher(str(tmp_path / "logs"), store)
    assert w.poll_once() == 10
    state = w.state()["runs"][uuid]
    assert state["torn_bytes"] == len(partial) and state["corrupt"] == 0
    append(d, line(10, 10, 0.25)[-9:])
    assert w.poll_once() == 1
    assert w.state()["runs"][uuid]["torn_bytes"] == 0 and stored(store, uuid)["last_seq"] == 10


def test_a_damaged_line_is_skipped_and_counted(store, run_dir, tmp_path):
    d, uuid = run_dir
    append(d, b'{"seq": 10, "time": 1, "type": "metr\n' + line(11, 11, 0.1))
    w = Watcher(str(tmp_path / "logs"), store)
    assert w.poll_once() == 11
    assert w.state()["runs"][uuid]["corrupt"] == 1


def test_a_vanished_run_directory_is_flagged_and_its_index_kept(store, run_dir, tmp_path):
    d, uuid = run_dir
    w = Watcher(str(tmp_path / "logs"), store, scan_every=0)
    w.poll_once()
    shutil.rmtree(d)
    w.poll_once()
    assert w.state()["runs"][uuid]["missing"] is True
    assert stored(store, uuid)["last_seq"] == 9


def test_run_json_changes_reach_the_index(store, run_dir, tmp_path):
    d, uuid = run_dir
    w = Watcher(str(tmp_path / "logs"), store)
    w.poll_once()
    meta = orjson.loads(open(os.path.join(d, "run.json"), "rb").read())
    os.utime(os.path.join(d, "run.json"), (1, 1))  # a different mtime even within one clock tick
    write_run_json(d, **{**meta, "status": "failed", "exit_code": 3})
    w.poll_once()
    row = stored(store, uuid)
    assert row["status"] == "failed" and row["exit_code"] == 3


def test_a_restart_resumes_from_the_saved_offsets(store, run_dir, tmp_path):
    d, uuid = run_dir
    state_file = str(tmp_path / "watcher.json")
    w = Watcher(str(tmp_path / "logs"), store, state_file=state_file)
    w.poll_once()
    w.stop()
    again = Watcher(str(tmp_path / "logs"), store, state_file=state_file)
    assert again.runs[d].offset == os.path.getsize(os.path.join(d, "records.jsonl"))
    append(d, line(10, 10, 0.1))
    assert again.poll_once() == 1
    # a fresh index with the old offsets file: the offsets do not match what it holds, so it reads all
    other = create_app(Settings(db=str(tmp_path / "other.db"), blobs=str(tmp_path / "b2"), api_key="")).state.store
    fresh = Watcher(str(tmp_path / "logs"), other, state_file=state_file)
    assert fresh.poll_once() == 11


def test_format_1_run_without_uuid_gets_a_stable_one(store, tmp_path):
    d = str(tmp_path / "logs" / "old" / "r0")
    os.makedirs(d)
    meta = {"id": "r0", "name": "old-run", "project": "old", "status": "success", "start_time": 1.0}
    with open(os.path.join(d, "run.json"), "wb") as f:
        f.write(orjson.dumps(meta))
    append(d, b'{"seq": 0, "step": 0, "time": 1.5, "data": {"acc": 0.5}}\n{"seq": 1, "time": 1.6, "config": {"lr": 0.1}}\n')
    w = Watcher(str(tmp_path / "logs"), store)
    assert w.poll_once() == 2
    uuid = run_uuid(meta)
    row = stored(store, uuid)
    assert row["name"] == "old-run" and row["config"] == {"lr": 0.1}


def test_missing_media_files_are_counted_not_fatal(store, run_dir, tmp_path):
    d, uuid = run_dir
    append(d, orjson.dumps({"seq": 10, "time": 2.0, "type": "metrics", "step": 10,
                            "data": {"img": {"_type": "image", "path": "media/img/10_10.png"}}}) + b"\n")
    w = Watcher(str(tmp_path / "logs"), store)
    assert w.poll_once() == 11
    assert w.state()["runs"][uuid]["missing_media"] == 1


def test_the_index_lives_outside_the_run_directories(tmp_path, monkeypatch, run_dir):
    d, _uuid = run_dir
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    home = index_dir(str(tmp_path / "logs"))
    assert home.startswith(str(tmp_path / "cache")) and not home.startswith(str(tmp_path / "logs"))
    before = sorted(os.listdir(d))
    store = create_app(Settings(db=os.path.join(home, "index.db"), blobs=os.path.join(home, "blobs"), api_key="")).state.store
    Watcher(str(tmp_path / "logs"), store, state_file=os.path.join(home, "watcher.json")).poll_once()
    assert sorted(os.listdir(d)) == before  # the watcher wrote nothing into the run directory


def test_a_record_the_index_refuses_is_counted_and_the_rest_stored(store, run_dir, tmp_path):
    d, uuid = run_dir
    append(d, orjson.dumps({"seq": 10, "time": 2.0, "type": "metrics", "step": 10,
                            "data": {"img": {"_type": "image", "path": "../../etc/passwd"}}}) + b"\n" + line(11, 11, 0.1))
    w = Watcher(str(tmp_path / "logs"), store)
    assert w.poll_once() == 11  # the ten before it and the one after it
    state = w.state()["runs"][uuid]
    assert state["rejected"] == 1 and "seq 10" in state["rejected_reason"] and "media/" in state["rejected_reason"]
    assert stored(store, uuid)["last_seq"] == 11


def test_a_run_json_without_records_yet_is_indexed(store, tmp_path):
    d = str(tmp_path / "logs" / "proj" / "fresh")
    meta = write_run_json(d, status="running")
    w = Watcher(str(tmp_path / "logs"), store)
    w.poll_once()
    assert stored(store, meta["uuid"])["status"] == "running"
