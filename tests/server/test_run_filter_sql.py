"""GET /api/v1/runs?filter=...: the runs filter language compiled to SQL on SQLite and PostgreSQL
gives exactly the runs the Python evaluator (seetrain.run_filter, used offline) gives, and a filter
it cannot read is a 422 naming the position and what was expected."""

from __future__ import annotations

import time
import urllib.parse
import uuid as _uuid

import orjson
import pytest

from seetrain.run_filter import filter_runs

from .conftest import api

RUNS = [
    dict(name="a", status="success", tags=["best", "x"],
         config={"lr": 0.01, "optimizer": "adam", "model": {"depth": 4, "act": "relu"}, "flag": True},
         summary={"val/acc": 0.95, "loss": 0.2}),
    dict(name="b", status="success", tags=[],
         config={"lr": 0.0001, "optimizer": "sgd", "model": {"depth": 8}, "flag": False},
         summary={"val/acc": 0.5, "loss": "NaN"}),
    dict(name="c", status="failed", tags=["x"],
         config={"lr": "0.001", "optimizer": "adamw", "model.depth": 2, "note": None},
         summary={"val/acc": 0.9}),
    dict(name="d", status="running", tags=["best"], config={"lr": 1, "optimizer": "Adam", "ü": "ö"},
         summary={"val/acc": 1}),
    dict(name="e", status="running", tags=[], config={"lr": 0.003, "optimizer": "adam", "layers": [1, 2]},
         summary={}, stale=True),  # heartbeat 100 s old: reads as crashed
    dict(name="f", status="killed", tags=["y"], config={}, summary={"val/acc": -1.5e-3}),
]

FILTERS = [
    "lr>0.001", "lr=1e-2", "lr=0.001", "config.lr<=0.003", "lr>=1", "lr!=0.01",
    "optimizer in (adam, adamw)", "optimizer not in (adam, adamw)", "optimizer=Adam", "optimizer>adam",
    "optimizer<=adamw", "optimizer<1",
    "summary.val/acc>=0.9", "summary.val/acc<0", "summary.loss=NaN", "summary.loss>0",
    "status!=crashed", "status=crashed", "status in (running, failed)", "status>k",
    "tag=x", "tag!=best", "tag in (y, best)", "tag not in (x)",
    "model.depth>=4", "model.depth=2", "config.model.act=relu", "flag=true", "flag!=FALSE", "note=None",
    "ü=ö", "name<c", "id in (a, f)", "lr='1'", "lr=1", "lr in ('0.001', 1)",
    "lr>0.001 and optimizer in (adam, adamw) and summary.val/acc>=0.9 and status!=crashed",
    "lr>0.0001, tag!=best",
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def filter_server(request, tmp_path_factory):
    """A server (SQLite or PostgreSQL) with the RUNS in project F."""
    from .conftest import ServerProc

    tmp = tmp_path_factory.mktemp("filter")
    if request.param == "postgres":
        pg_url = request.getfixturevalue("pg_url")
        import psycopg

        name = "t" + _uuid.uuid4().hex[:12]
        with psycopg.connect(pg_url + "/postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        db = f"{pg_url}/{name}"
    else:
        db = f"sqlite:///{tmp}/db.sqlite"
    srv = ServerProc(db, str(tmp / "blobs")).start()
    now = time.time()
    for i, r in enumerate(RUNS):
        body = {k: v for k, v in r.items() if k != "stale"}
        body.update(project="F", id=r["name"], start_time=1000.0 + i,
                    heartbeat=now - 100 if r.get("stale") else now)
        if r["status"] != "running":
            body["end_time"] = 1100.0 + i
        status, ans = api(srv.url, f"/api/v1/runs/{_uuid.uuid4().hex}", "PUT", orjson.dumps(body))
        assert status == 200, ans
    yield srv
    srv.stop()


def listed(srv, flt: str):
    status, body = api(srv.url, "/api/v1/runs?" + urllib.parse.urlencode({"project": "F", "limit": 1000, "filter": flt}))
    assert status == 200, body
    assert body["total"] == len(body["runs"])
    return body["runs"]


def test_sql_gives_what_the_python_evaluator_gives(filter_server):
    every = listed(filter_server, "")
    assert len(every) == 6 and next(r for r in every if r["name"] == "e")["status"] == "crashed"
    for flt in FILTERS:
        sql = sorted(r["name"] for r in listed(filter_server, flt))
        py = sorted(r["name"] for r in filter_runs(flt, every))
        assert sql == py, f"{flt!r}: SQL {sql} != Python {py}"


@pytest.mark.parametrize("flt, expected", [
    ("lr>0.001", ["a", "d", "e"]),
    ("optimizer in (adam, adamw)", ["a", "c", "e"]),
    ("summary.val/acc>=0.9", ["a", "c", "d"]),
    ("status!=crashed", ["a", "b", "c", "d", "f"]),
    ("tag=x", ["a", "c"]),
    ("lr>0.001 and optimizer in (adam, adamw) and summary.val/acc>=0.9 and status!=crashed", ["a"]),
])
def test_each_form_on_the_database(filter_server, flt, expected):
    assert sorted(r["name"] for r in listed(filter_server, flt)) == expected


def test_the_former_config_filter_still_works_beside_it(filter_server):
    status, body = api(filter_server.url, "/api/v1/runs?project=F&config.optimizer=sgd")
    assert status == 200 and [r["name"] for r in body["runs"]] == ["b"]
    status, body = api(filter_server.url, "/api/v1/runs?project=F&config.optimizer=adam&filter=lr%3E0.005")
    assert status == 200 and [r["name"] for r in body["runs"]] == ["a"]


def test_a_filter_it_cannot_read_is_a_422_naming_where_and_what(filter_server):
    status, body = api(filter_server.url, "/api/v1/runs?project=F&filter=" + urllib.parse.quote("lr>>0.001"))
    assert status == 422
    assert body["detail"] == "filter 'lr>>0.001': at position 4: expected a value (a word, a number or a quoted string), found '>'"
    status, body = api(filter_server.url, "/api/v1/runs?project=F&filter=" + urllib.parse.quote('summary.a"b>1'))
    assert status == 422 and "position" in body["detail"]
