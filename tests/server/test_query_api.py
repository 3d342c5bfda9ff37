"""The public API and `seetrain query` against a real server: the same numbers as offline and as
read_run (Arrow and JSON histories, the server's downsampling, every SQL table), and the key's
project scope (a key of one project sees no row, run or history of another)."""

from __future__ import annotations

import math
import subprocess

import pytest

import seetrain
from tests._child import child_env, run_python
from tests.query.sweep import LRS, write_sweep

from .conftest import PY, ServerProc, api

pytest.importorskip("duckdb", reason="seetrain query needs the query extra: pip install -e '.[query]'")
pytest.importorskip("pyarrow", reason="the Arrow history needs pyarrow (server extra)")

from seetrain.query import QueryError, run_query  # noqa: E402


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or a == b
    return a == b


def same_rows(a, b):
    return len(a) == len(b) and all(len(x) == len(y) and all(map(same, x, y)) for x, y in zip(a, b))


@pytest.fixture(autouse=True)
def query_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEETRAIN_QUERY_CACHE", str(tmp_path / "query-cache"))


def create_key(db: str, project: str) -> str:
    out = subprocess.run([PY, "-m", "seetrain.cli", "server", "keys", "create", "--db", db, "--project", project],
                         capture_output=True, text=True, timeout=120, check=True, env=child_env())
    return out.stdout.strip()


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """(server, logdir, admin key, key of project sweep): the SDK sweep synced to a keyed server
    (one for the module: every test here only reads)."""
    tmp = tmp_path_factory.mktemp("query-server")
    logdir = write_sweep(str(tmp / "logs"))
    db = str(tmp / "q.sqlite")
    admin = "admin-" + "q" * 24
    server = ServerProc(db, str(tmp / "blobs"), api_key=admin).start()
    try:
        res = run_python(["-m", "seetrain.cli", "sync", logdir, "--host", server.url, "--api-key", admin],
                         capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        yield server, logdir, admin, create_key(db, "sweep")
    finally:
        server.stop()


def test_api_online_equals_offline_and_read_run(synced):
    server, logdir, admin, _ = synced
    off, on = seetrain.Api(logdir=logdir), seetrain.Api(host=server.url, api_key=admin)
    json_only = seetrain.Api(host=server.url, api_key=admin)
    json_only._source.use_arrow = False  # the client without pyarrow: JSON from /series?full=true
    readers = {r.uuid: r for r in seetrain.list_runs(logdir)}
    online = {r.uuid: r for r in on.runs()}
    assert set(online) == set(readers) == {r.uuid for r in off.runs()}
    for uuid, r in online.items():
        o, rr = off.run(uuid), readers[uuid]
        assert (r.id, r.name, r.project, r.status, r.exit_code, r.tags) == (o.id, o.name, o.project, o.status,
                                                                           o.exit_code, o.tags)
        assert r.config == o.config == rr.config
        assert all(same(v, o.summary[k]) for k, v in r.summary.items()) and r.summary.keys() == o.summary.keys()
        for key in rr.scalar_keys():
            want = [float(v) for v in rr.scalars(key).values]
            for api_ in (on, json_only):
                h = api_.run(uuid).history(key)[key]
                assert same_rows([h.y], [want]) and h.x == o.history(key)[key].x, (key, api_)
            assert same_rows([on.run(uuid).history(key, x="time")[key].x], [list(rr.scalars(key).times)])
            down_on, down_off = r.history(key, points=8)[key], o.history(key, points=8)[key]
            assert same_rows([down_on.x, down_on.y, down_on.ymin, down_on.ymax],
                             [down_off.x, down_off.y, down_off.ymin, down_off.ymax])
        assert [(m["key"], m["step"], m["type"]) for m in sorted(r.media(), key=lambda m: m["key"])] == \
            [(m["key"], m["step"], m["type"]) for m in sorted(o.media(), key=lambda m: m["key"])]
        assert [m["line"] for m in r.console()] == [m["line"] for m in o.console()]
        assert [e["event"] for e in r.events()] == [e["event"] for e in o.events()]
    assert [r.name for r in on.runs(filter="lr>0.0005 and opt.name=adam", sort="config.lr")] == ["lr1", "lr0"]
    assert [r.name for r in on.runs(sort="-summary.val/acc", limit=2)] == [r.name for r in off.runs(sort="-summary.val/acc", limit=2)]


TABLE_QUERIES = [
    "SELECT run, project, id, name, status, exit_code, tags, start_time, end_time FROM runs ORDER BY run",
    "SELECT * FROM config ORDER BY run, key",
    "SELECT * FROM summary ORDER BY run, key",
    "SELECT * FROM metrics ORDER BY run, key, step",
    "SELECT run, seq, time, event, message FROM events ORDER BY run, seq",
    "SELECT * FROM console ORDER BY run, seq",
    "SELECT run, key, step, idx, type, path, caption FROM media ORDER BY run, key, step, idx",
    "SELECT run, max(value) FROM metrics WHERE key='val/acc' GROUP BY run ORDER BY run",
]


@pytest.mark.parametrize("sql", TABLE_QUERIES, ids=[s.split(" FROM ")[1].split()[0] for s in TABLE_QUERIES])
def test_sql_on_the_server_equals_offline(synced, sql):
    server, logdir, admin, _ = synced
    online = run_query(sql, host=server.url, api_key=admin)
    offline = run_query(sql, logdir=logdir)
    assert online.columns == offline.columns and online.rows and same_rows(online.rows, offline.rows)


def test_non_finite_values_survive_the_wire(synced):
    server, _, admin, _ = synced
    res = run_query("SELECT value FROM metrics WHERE key = 'odd' ORDER BY run, step LIMIT 3", host=server.url,
                    api_key=admin)
    assert math.isnan(res.rows[0][0]) and res.rows[1][0] == math.inf and res.rows[2][0] == -math.inf


def test_a_scoped_key_sees_only_its_project(synced):
    server, logdir, admin, key = synced
    assert run_query("SELECT DISTINCT project FROM runs", host=server.url, api_key=key).rows == [("sweep",)]
    every = run_query("SELECT count(DISTINCT run) FROM metrics", host=server.url, api_key=admin).rows[0][0]
    mine = run_query("SELECT count(DISTINCT run) FROM metrics", host=server.url, api_key=key).rows[0][0]
    assert (every, mine) == (len(LRS) + 1, len(LRS))
    for table in ("config", "summary", "events", "console", "media"):
        rows = run_query(f"SELECT DISTINCT run FROM {table}", host=server.url, api_key=key).rows
        assert rows and {r for (r,) in rows} <= {r.uuid for r in seetrain.list_runs(logdir, project="sweep")}
    with pytest.raises(QueryError) as err:
        run_query("SELECT 1", host=server.url, api_key=key, project="other")
    assert "403" in str(err.value) and "may not read project 'other'" in str(err.value)
    scoped = seetrain.Api(host=server.url, api_key=key)
    assert {r.project for r in scoped.runs()} == {"sweep"}
    other = seetrain.list_runs(logdir, project="other")[0]
    status, body = api(server.url, f"/api/v1/runs/{other.uuid}/history?key=val/acc", key=key)
    assert status == 404  # another project's run reads as no run at all
    with pytest.raises(LookupError):
        scoped.run(other.uuid)


def test_refusals_and_limits_on_the_server(synced):
    server, _, admin, _ = synced
    for sql, kind in [("DELETE FROM metrics", "refused"), ("SELECT * FROM read_csv('/etc/passwd')", "refused"),
                      ("SELECT nope FROM runs", "sql"),
                      ("SELECT count(*) FROM range(1000000000000) a, metrics b WHERE a.range % 7 = b.step", "timeout")]:
        with pytest.raises(QueryError) as err:
            run_query(sql, host=server.url, api_key=admin, timeout_s=0.5)
        assert err.value.kind == kind, (sql, err.value)
    cut = run_query("SELECT * FROM metrics", host=server.url, api_key=admin, max_rows=5)
    assert cut.truncated and len(cut.rows) == 5
    status, body = api(server.url, "/api/v1/query", "POST", b'{"sql": "SELECT 1", "max_rows": 0}', key=admin)
    assert status == 422


def test_history_route_answers_arrow_and_json(synced):
    import pyarrow as pa

    server, logdir, admin, _ = synced
    r = [x for x in seetrain.list_runs(logdir) if x.name == "lr1"][0]
    status, body = api(server.url, f"/api/v1/runs/{r.uuid}/history?key=odd", key=admin)
    table = pa.ipc.open_stream(body).read_all()
    assert status == 200 and table.column_names == ["step", "time", "value"]
    vals = table.column("value").to_pylist()
    assert math.isnan(vals[0]) and vals[1:] == [math.inf, -math.inf]
    assert table.column("time").to_pylist() == list(r.scalars("odd").times)
    status, doc = api(server.url, f"/api/v1/runs/{r.uuid}/history?key=val/acc&format=json", key=admin)
    assert status == 200 and doc["value"] == list(r.scalars("val/acc").values) and doc["total"] == 50
    status, doc = api(server.url, f"/api/v1/runs/{r.uuid}/history?key=val/acc&x=epoch", key=admin)
    assert status == 422
