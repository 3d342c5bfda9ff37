"""History edits on the server (issue 26): a rewind sent online hides the superseded points in
/series, /history, the CSV export and seetrain.Api, lists them with ``superseded=true``, and
applies to its own writer only; a fork's lineage link is in both runs' details and the Api."""

from __future__ import annotations

import json

import orjson
import pytest

pytest.importorskip("fastapi")

import seetrain  # noqa: E402

from .conftest import api  # noqa: E402

QUIET = dict(system_metrics=False, console="off")


def _steps(url, uuid, key="loss", superseded=False, writer=None):
    q = f"/api/v1/series?run={uuid}&key={key}&full=1" + ("&superseded=true" if superseded else "")
    if writer is not None:
        q += f"&writer={writer}"
    status, body = api(url, q)
    assert status == 200, body
    return [int(x) for x in body["series"][0]["x"]], body["series"][0]["y"]


def test_an_online_rewind_hides_the_superseded_points_everywhere_and_lists_them_on_request(server, tmp_path):
    logdir = str(tmp_path / "logs")
    online = dict(mode="online", host=server.url, logdir=logdir, project="p", id="r", **QUIET)
    run = seetrain.init(**online)
    for s in range(161):
        run.log({"loss": float(s)}, step=s)
    run.finish()
    run = seetrain.init(resume_from=137, **online)
    for s in range(138, 200):
        run.log({"loss": 1000.0 + s}, step=s)
    run.finish()
    steps, ys = _steps(server.url, run.uuid)
    assert steps == list(range(200)) and ys[150] == 1150.0 and ys[137] == 137.0
    sup, sup_ys = _steps(server.url, run.uuid, superseded=True)
    assert sup == list(range(138, 161)) and sup_ys[0] == 138.0
    status, hist = api(server.url, f"/api/v1/runs/{run.uuid}/history?key=loss&format=json")
    assert status == 200 and [int(s) for s in hist["step"]] == list(range(200))
    status, hist = api(server.url, f"/api/v1/runs/{run.uuid}/history?key=loss&format=json&superseded=true")
    assert [int(s) for s in hist["step"]] == list(range(138, 161))
    status, csv = api(server.url, f"/api/v1/runs/{run.uuid}/export?format=csv&key=loss")
    rows = [line.split(",") for line in csv.decode().strip().splitlines()[1:]]
    assert [int(r[1]) for r in rows] == list(range(200))
    status, jsonl = api(server.url, f"/api/v1/runs/{run.uuid}/export?format=jsonl")
    recs = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert [r["step"] for r in recs if r["type"] == "rewind"] == [137]  # the log itself: nothing deleted
    remote = seetrain.Api(host=server.url).run(run.uuid)
    assert list(remote.history("loss")["loss"].x) == list(range(200))
    assert list(remote.history("loss", superseded=True)["loss"].x) == list(range(138, 161))
    assert list(remote.history("loss", points=40)["loss"].x)[-1] == 199


def _post(url, uuid, records, writer=None):
    body = {"records": records} if writer is None else {"records": records, "writer": writer}
    return api(url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps(body))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_server(request, make_server):
    """A server on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        return make_server()
    return make_server(db=request.getfixturevalue("pg_db"))


def test_a_rewind_inside_one_batch_supersedes_only_what_came_before_it_and_only_its_writer(any_db_server):
    server = any_db_server
    uuid = "ab" * 16
    status, body = api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "w", "id": "shared"}))
    assert status in (200, 201), body
    m = lambda seq, step, v: {"seq": seq, "time": 1.0 + seq, "type": "metrics", "step": step, "data": {"loss": v}}  # noqa: E731
    primary = [m(i, i, float(i)) for i in range(10)]
    other = [m(i, i, 100.0 + i) for i in range(10)]
    status, body = api(server.url, f"/api/v1/runs/{uuid}/writers/w1", "PUT", orjson.dumps({"rank": 1}))
    assert status in (200, 201), body
    assert _post(server.url, uuid, other, "w1")[0] == 200
    # one batch: steps 0..9, a rewind to 4, then steps 5..7 again
    batch = primary + [{"seq": 10, "time": 20.0, "type": "rewind", "step": 4}] + [m(11 + i, 5 + i, -1.0) for i in range(3)]
    assert _post(server.url, uuid, batch)[0] == 200
    assert _post(server.url, uuid, batch)[0] == 200  # sent again: stored once, the rewind too
    steps, ys = _steps(server.url, uuid, writer="")
    assert steps == list(range(8)) and ys[5:] == [-1.0, -1.0, -1.0]
    assert _steps(server.url, uuid, writer="", superseded=True)[0] == list(range(5, 10))
    assert _steps(server.url, uuid, writer="w1")[0] == list(range(10))  # the other writer's history stands


def test_a_rewind_with_a_bad_step_is_refused_with_a_clear_message(server):
    uuid = "cd" * 16
    api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "w", "id": "bad"}))
    status, body = _post(server.url, uuid, [{"seq": 0, "time": 1.0, "type": "rewind", "step": "x"}])
    assert status == 422 and "rewind" in body["detail"] and "non-negative integer" in body["detail"]


def test_a_fork_is_linked_on_both_runs_in_the_server_and_the_api(server, tmp_path):
    logdir = str(tmp_path / "logs")
    online = dict(mode="online", host=server.url, logdir=logdir, project="f", **QUIET)
    parent = seetrain.init(id="parent", **online)
    for s in range(50):
        parent.log({"loss": float(s)}, step=s)
    parent.finish()
    child = seetrain.init(id="child", fork_from=("parent", 20), **online)
    for s in range(21, 30):
        child.log({"loss": -float(s)}, step=s)
    child.finish()
    steps, ys = _steps(server.url, child.uuid)
    assert steps == list(range(30)) and ys[:21] == [float(s) for s in range(21)] and ys[21] == -21.0
    status, kid = api(server.url, f"/api/v1/runs/{child.uuid}")
    assert kid["fork_from"] == {"uuid": parent.uuid, "id": "parent", "project": "f", "name": parent.name, "step": 20}
    status, dad = api(server.url, f"/api/v1/runs/{parent.uuid}")
    assert dad["fork_from"] is None
    assert [(f["uuid"], f["id"], f["step"]) for f in dad["forks"]] == [(child.uuid, "child", 20)]
    remote = seetrain.Api(host=server.url)
    assert remote.run(child.uuid).fork_from["uuid"] == parent.uuid
    assert [f["id"] for f in remote.run(parent.uuid).forks()] == ["child"]
