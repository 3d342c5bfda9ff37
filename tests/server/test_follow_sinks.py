"""The one follower of a run directory (seetrain/rundir/follow.py) through both of its sinks: the
sender's HTTP sink (a real ``seetrain server`` process) and the local ingest sink of ``seetrain ui``
(a real SQLite store). A torn last line, a corrupt line and a record the destination refuses are
handled the same way by both; the HTTP sink forwards the lines byte for byte; old cursor files of
``seetrain sync`` still count."""

from __future__ import annotations

import hashlib
import os

import orjson
import pytest

pytest.importorskip("fastapi", reason="the server extra")

from seetrain.rundir.follow import Cursor, Follower  # noqa: E402
from seetrain.sender import Client, RunSync, ServerError  # noqa: E402

from .conftest import api, scalar_points, write_run  # noqa: E402


def _line(seq: int, value: float) -> bytes:
    return orjson.dumps({"seq": seq, "time": 1_700_000_000.0 + seq, "type": "metrics", "step": seq,
                         "data": {"k0": value}}) + b"\n"


def _append(run_dir: str, data: bytes) -> None:
    with open(os.path.join(run_dir, "records.jsonl"), "ab") as f:
        f.write(data)


class _Http:
    """The HTTP sink against a real server: its follower, and what the server holds of a run."""

    def __init__(self, srv, run_dir):
        self.url, self.sync = srv.url, RunSync(run_dir, Client(srv.url, attempts=1))
        self.follower = self.sync.follower

    def drain(self):
        while self.sync.pump():
            pass

    def held(self, uuid):
        run = api(self.url, f"/api/v1/runs/{uuid}")[1]
        return run["records"], run["last_seq"]


class _Local:
    """The local ingest sink of ``seetrain ui`` into a real SQLite store."""

    def __init__(self, store, run_dir):
        from seetrain.server.local_sink import LocalSink

        self.store, cursor = store, Cursor()
        self.follower = Follower(run_dir, LocalSink(store, run_dir, cursor), cursor)

    def drain(self):
        while self.follower.step():
            pass

    def held(self, uuid):
        from seetrain.server.queries import get_run

        with self.store.read() as conn:
            row = get_run(conn, uuid)
        return row["n_records"], row["last_seq"]


@pytest.fixture(params=["http", "local"])
def sink_of(request, tmp_path):
    if request.param == "http":
        srv = request.getfixturevalue("make_server")()
        return lambda run_dir: _Http(srv, run_dir)
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "index.db"), blobs=str(tmp_path / "blobs"), api_key="")).state.store
    return lambda run_dir: _Local(store, run_dir)


def test_torn_corrupt_and_refused_lines_are_handled_alike_by_both_sinks(sink_of, tmp_path):
    run_dir = str(tmp_path / "logs" / "p" / "r")
    meta = write_run(run_dir, 10, keys=1, status="running")
    refused = orjson.dumps({"seq": 11, "time": 1.0, "type": "metrics", "step": 11,
                            "data": {"img": {"_type": "image", "path": "../../etc/passwd"}}}) + b"\n"
    partial = _line(13, 0.5)
    _append(run_dir, b'{"seq": 10, "time": 1, "type": "metr\n' + refused + _line(12, 0.25) + partial[:-7])
    sink = sink_of(run_dir)
    sink.drain()
    cur = sink.follower.cursor
    assert sink.held(meta["uuid"]) == (11, 12)  # seq 0..9 and 12: the rest of the run went on
    assert cur.corrupt == 1 and cur.rejected == 1, cur
    assert "seq 11" in cur.rejected_reason and "media/" in cur.rejected_reason, cur.rejected_reason
    assert cur.torn_bytes == len(partial) - 7  # the partial last line is "not yet": never consumed
    assert cur.offset == os.path.getsize(os.path.join(run_dir, "records.jsonl")) - cur.torn_bytes
    _append(run_dir, partial[-7:])  # the writer finishes the line: it is read whole
    sink.drain()
    assert sink.held(meta["uuid"]) == (12, 13) and cur.torn_bytes == 0
    assert (cur.corrupt, cur.rejected) == (1, 1)  # nothing counted twice


class _Recording(Client):
    """A real client that keeps the bodies it posted to /records."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.posted = []

    def call(self, method, path, body=None, headers=None, **kw):
        if path.endswith("/records"):
            self.posted.append(body)
        return super().call(method, path, body, headers, **kw)


def test_the_http_sink_forwards_the_lines_as_stored_byte_for_byte(server, tmp_path):
    run_dir = str(tmp_path / "logs" / "p" / "exact")
    meta = write_run(run_dir, 0, status="success")
    # number texts a decode/re-encode would rewrite (1.50 -> 1.5, 1700000000.000 -> 1700000000.0,
    # 1E-7 -> 1e-7), a NaN tag and the writer's key order
    lines = [b'{"seq":0,"time":1700000000.000,"type":"metrics","step":0,"data":{"x":1.50,"y":"NaN"}}\n',
             b'{"seq":1,"time":1700000000.500,"type":"metrics","step":1,"data":{"x":1E-7,"y":2}}\n']
    _append(run_dir, b"".join(lines))
    client = _Recording(server.url)
    assert RunSync(run_dir, client).drain() == 2
    assert client.posted == [b'{"records":[' + lines[0][:-1] + b"," + lines[1][:-1] + b"]}"]
    x = scalar_points(server.url, meta["uuid"], "x")
    assert x["y"] == [1.5, 1e-7]
    assert api(server.url, f"/api/v1/runs/{meta['uuid']}")[1]["records"] == 2


def test_a_cursor_file_written_before_the_follower_is_honoured(server, tmp_path):
    run_dir = str(tmp_path / "logs" / "p" / "resume")
    meta = write_run(run_dir, 5, status="running")
    assert RunSync(run_dir, Client(server.url)).drain() == 5
    size = os.path.getsize(os.path.join(run_dir, "records.jsonl"))
    cursor_path = os.path.join(run_dir, ".sync", hashlib.sha256(server.url.encode()).hexdigest()[:16] + ".json")
    with open(cursor_path, "wb") as f:  # the cursor as seetrain sync wrote it before (host, offset, finished)
        f.write(orjson.dumps({"host": server.url, "offset": size, "finished": None}))
    write_run(run_dir, 3, start_seq=5, status="success")
    client = _Recording(server.url)
    assert RunSync(run_dir, client).drain() == 3  # only what lies after the saved offset is read and sent
    assert len(client.posted) == 1 and client.posted[0].count(b'"seq"') == 3
    run = api(server.url, f"/api/v1/runs/{meta['uuid']}")[1]
    assert run["records"] == 8 and run["last_seq"] == 7 and run["status"] == "success"
    saved = orjson.loads(open(cursor_path, "rb").read())
    assert saved["offset"] == os.path.getsize(os.path.join(run_dir, "records.jsonl"))
    assert saved["host"] == server.url and saved["finished"][0] == "success" and saved["uuid"] == meta["uuid"]


def test_seetrain_sync_reports_a_refused_record_after_sending_the_rest(server, tmp_path):
    run_dir = str(tmp_path / "logs" / "p" / "bad")
    meta = write_run(run_dir, 4, extra=[{"seq": 4, "type": "metrics", "step": 4, "data": {"k" * 300: 1.0}}])
    write_run(run_dir, 2, start_seq=5)
    with pytest.raises(ServerError) as err:
        RunSync(run_dir, Client(server.url, attempts=1)).drain()
    assert err.value.status == 422 and "1 record(s)" in str(err.value), err.value
    run = api(server.url, f"/api/v1/runs/{meta['uuid']}")[1]
    assert run["records"] == 6 and run["last_seq"] == 6 and run["status"] == "success"


def test_the_sync_command_does_not_advise_a_retry_that_cannot_help(server, tmp_path):
    from tests._child import run_python

    run_dir = str(tmp_path / "logs" / "p" / "bad")
    write_run(run_dir, 2, extra=[{"seq": 2, "type": "metrics", "step": 2, "data": {"k" * 300: 1.0}}])
    p = run_python(["-m", "seetrain.cli", "sync", run_dir, "--host", server.url], capture_output=True, text=True,
                   timeout=120)
    assert p.returncode != 0
    assert "refused and left out" in p.stderr and "the rest was sent" in p.stderr
    assert "run sync again" not in p.stderr  # the server would refuse the same record again
