"""Analysis routes over a real server (SQLite and PostgreSQL): metric values per run (last, min, max),
parameter importance and group lines, against values computed here from what was logged; saved views
(a write key on a keyed server, the write guard)."""

from __future__ import annotations

import time
import urllib.parse
import uuid as _uuid

import numpy as np
import orjson
import pytest

from .conftest import api

OPTS = ["adam", "sgd", "adamw"]


def _curve(i: int, step: int) -> float:
    return (i % 3) * 0.1 + 0.02 * step + 0.001 * i + (0.5 if step == 3 and i == 4 else 0.0)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sweep(request, tmp_path_factory):
    """12 runs of project S: config lr (numeric), opt (3 categories), seed; val/acc at steps 0..9."""
    from .conftest import ServerProc

    tmp = tmp_path_factory.mktemp("analysis")
    if request.param == "postgres":
        import psycopg

        pg_url = request.getfixturevalue("pg_url")
        name = "t" + _uuid.uuid4().hex[:12]
        with psycopg.connect(pg_url + "/postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        db = f"{pg_url}/{name}"
    else:
        db = f"sqlite:///{tmp}/db.sqlite"
    srv = ServerProc(db, str(tmp / "blobs")).start()
    runs = []
    for i in range(12):
        u = _uuid.uuid4().hex
        cfg = {"lr": 10.0 ** -(1 + i % 4), "opt": OPTS[i % 3], "seed": i, "model": {"width": 32 * (1 + i % 2)}}
        body = dict(project="S", id=f"r{i}", name=f"r{i}", status="success", start_time=1000.0 + i, end_time=2000.0,
                    heartbeat=time.time(), tags=["even"] if i % 2 == 0 else [], config=cfg)
        assert api(srv.url, f"/api/v1/runs/{u}", "PUT", orjson.dumps(body))[0] == 200
        recs = [{"seq": s, "time": 1000.0 + s, "type": "metrics", "step": s, "data": {"val/acc": _curve(i, s)}}
                for s in range(10)]
        st, ans = api(srv.url, f"/api/v1/runs/{u}/records", "POST", orjson.dumps({"records": recs}))
        assert st == 200, ans
        runs.append(dict(uuid=u, name=f"r{i}", config=cfg, i=i))
    yield srv, runs
    srv.stop()


def get(srv, path, **params):
    st, body = api(srv.url, path + "?" + urllib.parse.urlencode(params, doseq=True))
    assert st == 200, body
    return body


def test_metric_values_last_min_max(sweep):
    srv, runs = sweep
    for agg, fn in [("last", lambda v: v[-1]), ("min", min), ("max", max)]:
        got = get(srv, "/api/v1/projects/S/analysis/values", metric="val/acc", agg=agg)
        by = {r["name"]: r for r in got["runs"]}
        assert got["total"] == 12
        for r in runs:
            want = fn([_curve(r["i"], s) for s in range(10)])
            assert by[r["name"]]["metrics"]["val/acc"] == pytest.approx(want), (agg, r["name"])
            assert by[r["name"]]["config"]["model.width"] == r["config"]["model"]["width"]
    got = get(srv, "/api/v1/projects/S/analysis/values", metric="val/acc", filter="opt=sgd and lr<0.05")
    assert sorted(r["name"] for r in got["runs"]) == sorted(r["name"] for r in runs if r["i"] % 3 == 1 and r["config"]["lr"] < 0.05)


def _eta2(groups, y):
    y = np.asarray(y, float)
    total = ((y - y.mean()) ** 2).sum()
    between = sum(len(idx) * (y[idx].mean() - y.mean()) ** 2
                  for idx in [[i for i, g in enumerate(groups) if g == v] for v in set(groups)])
    return between / total


def test_importance_against_values_computed_here(sweep):
    srv, runs = sweep
    got = get(srv, "/api/v1/projects/S/analysis/importance", metric="val/acc")
    assert got["runs_used"] == 12 and got["runs"] == 12
    keys = {k["key"]: k for k in got["keys"]}
    assert set(keys) == {"lr", "opt", "seed", "model.width"}
    y = [_curve(r["i"], 9) for r in runs]
    lr = [r["config"]["lr"] for r in runs]
    assert keys["lr"]["correlation"] == pytest.approx(np.corrcoef(lr, y)[0, 1])
    assert keys["lr"]["importance"] == pytest.approx(_eta2(lr, y))  # 4 values: each its own group
    assert keys["opt"]["correlation"] is None and keys["opt"]["kind"] == "categorical"
    assert keys["opt"]["importance"] == pytest.approx(_eta2([r["config"]["opt"] for r in runs], y))
    seeds = [r["i"] for r in runs]  # 12 distinct values: 8 quantile bins of the ranks
    assert keys["seed"]["importance"] == pytest.approx(_eta2([int(i * 8 / 12) for i in seeds], y))
    assert got["keys"][0]["key"] == "opt"  # opt decides most of val/acc here: listed first
    assert get(srv, "/api/v1/projects/S/analysis/importance", metric="val/acc", filter="opt=adam")["runs_used"] == 4


def test_group_lines_mean_and_band(sweep):
    srv, runs = sweep
    got = get(srv, "/api/v1/projects/S/analysis/groups", group="opt", metric="val/acc")
    assert [g["label"] for g in got["groups"]] == [["adam"], ["adamw"], ["sgd"]]
    for g in got["groups"]:
        members = [r for r in runs if r["config"]["opt"] == g["label"][0]]
        assert g["size"] == len(members) == 4 and sorted(g["runs"]) == sorted(r["uuid"] for r in members)
        line = g["metrics"]["val/acc"]
        assert line["x"] == list(range(10))
        for s in range(10):
            vals = [_curve(r["i"], s) for r in members]
            assert line["mean"][s] == pytest.approx(np.mean(vals))
            assert (line["min"][s], line["max"][s]) == pytest.approx((min(vals), max(vals)))
            assert line["count"][s] == 4
    two = get(srv, "/api/v1/projects/S/analysis/groups", group=["opt", "tag"], metric="val/acc", points=3)
    assert len(two["groups"]) == 6 and all(g["size"] == 2 for g in two["groups"])
    assert len(two["groups"][0]["metrics"]["val/acc"]["x"]) == 3  # 10 steps in 3 buckets


def test_bad_analysis_input_is_a_clear_422(sweep):
    srv, _ = sweep
    st, body = api(srv.url, "/api/v1/projects/S/analysis/values?metric=x&agg=median")
    assert st == 422 and "last, min, max" in body["detail"]
    st, body = api(srv.url, "/api/v1/projects/S/analysis/importance?metric=x&filter=" + urllib.parse.quote("lr>"))
    assert st == 422 and "position 4" in body["detail"]


def test_saved_views_round_trip(sweep):
    srv, _ = sweep
    view = {"state": {"filter": "lr>0.001", "group": ["opt"], "sort": "-summary.val/acc"}, "layout": {"hide": ["x"]}}
    st, body = api(srv.url, "/api/v1/projects/S/views/" + urllib.parse.quote("best runs", safe=""), "PUT", orjson.dumps(view))
    assert st == 200 and body["state"] == view["state"], body
    view["state"]["filter"] = "lr>0.01"
    assert api(srv.url, "/api/v1/projects/S/views/best%20runs", "PUT", orjson.dumps(view))[0] == 200
    listed = get(srv, "/api/v1/projects/S/views")
    assert [(v["name"], v["state"]["filter"], v["layout"]) for v in listed] == [("best runs", "lr>0.01", {"hide": ["x"]})]
    assert get(srv, "/api/v1/projects/T/views") == []
    st, body = api(srv.url, "/api/v1/projects/S/views/x", "PUT", orjson.dumps({"state": "no"}))
    assert st == 422 and "JSON objects" in body["detail"]
    st, body = api(srv.url, "/api/v1/projects/S/views/x", "PUT", orjson.dumps(view), headers={"Content-Type": "text/plain"})
    assert st == 415
    st, body = api(srv.url, "/api/v1/projects/S/views/x", "PUT", orjson.dumps(view), headers={"Origin": "http://evil.example"})
    assert st == 403
    assert api(srv.url, "/api/v1/projects/S/views/best%20runs", "DELETE")[0] == 200
    assert api(srv.url, "/api/v1/projects/S/views/best%20runs")[0] == 404


def test_saved_views_need_a_write_key_on_a_keyed_server(make_server, tmp_path):
    from .test_auth import _key

    db = str(tmp_path / "keyed.sqlite")
    admin = "admin-" + "x" * 20
    reader, writer = _key(db, "--project", "P"), _key(db, "--project", "P", "--write")
    srv = make_server(db=db, api_key=admin)
    view = orjson.dumps({"state": {"q": "a"}, "layout": {}})
    st, body = api(srv.url, "/api/v1/projects/P/views/v", "PUT", view)
    assert st == 401 and "API key" in body["detail"]
    st, body = api(srv.url, "/api/v1/projects/P/views/v", "PUT", view, key=reader)
    assert st == 403 and "may not write" in body["detail"]
    assert api(srv.url, "/api/v1/projects/P/views/v", "PUT", view, key=writer)[0] == 200
    st, body = api(srv.url, "/api/v1/projects/P/views", key=reader)
    assert st == 200 and [v["name"] for v in body] == ["v"]
    assert api(srv.url, "/api/v1/projects/P/views/v", "DELETE", key=reader)[0] == 403
    assert api(srv.url, "/api/v1/projects/Q/views", key=reader)[0] == 403  # another project's views
