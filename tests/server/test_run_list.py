"""GET /api/v1/runs: filters, sorts (incl. config.KEY / summary.KEY) and pages done by the database,
on SQLite and PostgreSQL, against a real server process."""

from __future__ import annotations

import time
import urllib.parse
import uuid as _uuid

import orjson
import pytest

from .conftest import api


@pytest.fixture(params=["sqlite", "postgres"])
def list_server(request, make_server):
    """A server with four runs in project L: a (finished), b (running, live), c (running, heartbeat
    100 s old: crashed), d (failed)."""
    db = request.getfixturevalue("pg_db") if request.param == "postgres" else None
    srv = make_server(db=db)
    now = time.time()
    runs = [
        dict(name="a", status="success", start_time=1000.0, end_time=1010.0, tags=["x", "y_z"],
             config={"lr": 0.001, "opt": {"name": "adam"}, "flag": True}, summary={"loss": 0.5}),
        dict(name="b", status="running", start_time=2000.0, heartbeat=now, tags=["x"],
             config={"lr": 0.1, "opt": {"name": "sgd"}}, summary={"loss": 2.0}),
        dict(name="c", status="running", start_time=3000.0, heartbeat=now - 100, tags=[],
             config={"lr": 0.01}, summary={"loss": "NaN"}),
        dict(name="d%1", status="failed", start_time=4000.0, end_time=4001.0, tags=["w"], config={"lr": 1},
             summary={}),
    ]
    for r in runs:
        u = _uuid.uuid4().hex
        status, body = api(srv.url, f"/api/v1/runs/{u}", "PUT", orjson.dumps(dict(r, project="L", id=r["name"])))
        assert status == 200, body
    return srv


def names(srv, **params):
    status, body = api(srv.url, "/api/v1/runs?" + urllib.parse.urlencode(dict(project="L", **params)))
    assert status == 200, body
    return body["total"], [r["name"] for r in body["runs"]]


def test_sort_by_summary_and_config_values(list_server):
    # numbers by value, then text ("NaN"), then runs without the key, in either direction
    assert names(list_server, sort="summary.loss") == (4, ["a", "b", "c", "d%1"])
    assert names(list_server, sort="-summary.loss") == (4, ["b", "a", "c", "d%1"])
    assert names(list_server, sort="config.lr") == (4, ["a", "c", "b", "d%1"])
    assert names(list_server, sort="-config.opt.name") == (4, ["b", "a", "d%1", "c"])  # ties: newest first
    assert names(list_server, sort="config.lr", limit=2, offset=2) == (4, ["b", "d%1"])
    assert names(list_server, sort="status") == (4, ["c", "d%1", "b", "a"])  # c reads as crashed
    assert names(list_server) == (4, ["d%1", "c", "b", "a"])  # default: newest start first
    status, body = api(list_server.url, "/api/v1/runs?sort=" + urllib.parse.quote('summary.a"b'))
    assert status == 422 and "summary" in body["detail"]


def test_filters_by_effective_status_tag_config_and_text(list_server):
    crashed = api(list_server.url, "/api/v1/runs?project=L&status=crashed")[1]
    assert [r["name"] for r in crashed["runs"]] == ["c"] and crashed["runs"][0]["vanished"] is True
    assert names(list_server, status="running") == (1, ["b"])
    assert names(list_server, tag="x") == (2, ["b", "a"])
    assert names(list_server, tag="y_z") == (1, ["a"])
    assert names(list_server, **{"config.lr": "1e-3"}) == (1, ["a"])  # the same number written otherwise
    assert names(list_server, **{"config.lr": "0.1"}) == (1, ["b"])
    assert names(list_server, **{"config.opt.name": "sgd"}) == (1, ["b"])
    assert names(list_server, **{"config.flag": "true"}) == (1, ["a"])
    assert names(list_server, **{"config.lr": "0.01", "status": "crashed"}) == (1, ["c"])
    assert names(list_server, q="%") == (1, ["d%1"])  # q is text, not a LIKE pattern
    assert names(list_server, tag="x", sort="-summary.loss", limit=1) == (2, ["b"])
