"""Ingest and query hardening (issue 21, items 4, 5, 6 and 9): every limit is checked before anything
is stored, no client input answers 500, NUL characters never break a project, and JSON key paths
behave the same on SQLite and PostgreSQL. Real server processes, both databases."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid as _uuid

import orjson
import pytest

from seetrain.sender import Client, RunSync, ServerError

from .conftest import api, write_run

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def srv(request, make_server):
    if request.param == "postgresql":
        return make_server(db=request.getfixturevalue("pg_db"))
    return make_server()


def nested(levels: int, leaf=1):
    v = leaf
    for _ in range(levels):
        v = {"a": v}
    return v


def raw_nested(levels: int) -> bytes:
    """JSON text nested ``levels`` objects deep (deeper than orjson writes, as any client may send)."""
    return b'{"a":' * levels + b"1" + b"}" * levels


def put_run(url, uuid, **fields):
    return api(url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p", "id": uuid[:6], **fields}))


def post(url, uuid, records):
    return api(url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps({"records": records}))


def runs_of(url, query="project=p"):
    status, body = api(url, f"/api/v1/runs?{query}")
    assert status == 200, body
    return body


def metrics(seq, data, step=None):
    return {"seq": seq, "time": 1.0 + seq, "type": "metrics", "step": seq if step is None else step, "data": data}


# --- item 4: depth and key-count limits, checked before anything is stored ----------------------
def test_a_deep_config_is_refused_before_it_is_stored_and_the_list_still_answers(srv):
    u = _uuid.uuid4().hex
    body = b'{"project": "p", "config": ' + raw_nested(254) + b"}"
    status, body = api(srv.url, f"/api/v1/runs/{u}", "PUT", body)
    assert status == 422 and "config" in body["detail"] and "64 levels" in body["detail"], body
    assert api(srv.url, f"/api/v1/runs/{u}")[0] == 404  # nothing stored
    for field in ("summary", "tags"):
        status, body = put_run(srv.url, u, **{field: nested(65) if field == "summary" else [nested(65)]})
        assert status == 422 and field in body["detail"], body
    assert put_run(srv.url, u, config=nested(64))[0] == 200  # the limit itself is legal
    assert runs_of(srv.url)["total"] == 1
    status, body = api(srv.url, f"/api/v1/runs/{u}/finish", "POST",
                       orjson.dumps({"status": "success", "summary": nested(200)}))
    assert status == 422 and "summary" in body["detail"], body
    assert runs_of(srv.url)["runs"][0]["status"] == "running"


def test_a_deep_record_refuses_its_batch_whole_with_a_4xx_the_sender_does_not_retry(srv, tmp_path):
    u = _uuid.uuid4().hex
    assert put_run(srv.url, u)[0] == 200
    status, body = post(srv.url, u, [metrics(0, {"loss": 1.0}), metrics(1, {"deep": nested(200)})])
    assert status == 422 and "records[1]" in body["detail"] and "64 levels" in body["detail"], body
    for rec in ({"seq": 1, "type": "config", "config": nested(100)},
                {"seq": 1, "type": "event", "event": "e", "payload": nested(100)},
                {"seq": 1, "type": "custom", "x": [nested(100)]}):
        status, body = post(srv.url, u, [metrics(0, {"loss": 1.0}), rec])
        assert status == 422 and "records[1]" in body["detail"], (rec["type"], body)
    assert api(srv.url, f"/api/v1/runs/{u}")[1]["records"] == 0  # a bad batch stores nothing
    # the sender sees a refusal (not a transient error it would retry forever)
    meta = write_run(str(tmp_path / "p" / "deep"), 3, extra=[metrics(3, {"deep": nested(200)})])
    with pytest.raises(ServerError) as err:
        RunSync(str(tmp_path / "p" / "deep"), Client(srv.url, attempts=1)).drain()
    assert not err.value.transient and err.value.status == 422, err.value
    assert runs_of(srv.url)["total"] == 2 and meta["uuid"]


def test_too_many_keys_in_a_record_or_a_run_body_is_refused_with_413(srv):
    u = _uuid.uuid4().hex
    wide = {f"k{i}": i for i in range(10_001)}
    status, body = put_run(srv.url, u, config=wide)
    assert status == 413 and "10,000 keys" in body["detail"], body
    assert api(srv.url, f"/api/v1/runs/{u}")[0] == 404
    assert put_run(srv.url, u, config={f"k{i}": i for i in range(10_000)})[0] == 200
    status, body = post(srv.url, u, [metrics(0, {"loss": 1.0}), metrics(1, wide)])
    assert status == 413 and "records[1]" in body["detail"] and "10,000 keys" in body["detail"], body
    status, body = post(srv.url, u, [{"seq": 0, "type": "summary", "summary": {"x": dict(wide)}}])
    assert status == 413, body
    assert api(srv.url, f"/api/v1/runs/{u}")[1]["records"] == 0
    assert post(srv.url, u, [metrics(0, {f"k{i}": i for i in range(10_000)})])[0] == 200


# --- item 5: NUL inside JSON never breaks a project's filters ------------------------------------
def test_nul_inside_json_is_stored_readable_and_every_filter_and_sort_still_answers(srv):
    u = _uuid.uuid4().hex
    status, body = put_run(srv.url, u, tags=["t\x00ag"], config={"k\x00ey": "v\x00", "lr": {"x\x00": 1}},
                           summary={"s": "a\x00b"}, host="h\x00st")
    assert status == 200, body
    assert post(srv.url, u, [{"seq": 0, "type": "config", "config": {"c": "x\x00y"}},
                             {"seq": 1, "type": "summary", "summary": {"m\x00": 1}},
                             {"seq": 2, "type": "event", "event": "e", "detail": {"d\x00": "\x00"}},
                             metrics(3, {"img": {"_type": "image", "path": "media/a.png", "note": "n\x00"}})])[0] == 200
    assert api(srv.url, f"/api/v1/runs/{u}/finish", "POST",
               orjson.dumps({"status": "success", "summary": {"f": "\x00"}}))[0] == 200
    for query in ("project=p", "project=p&tag=t%EF%BF%BDag", "project=p&sort=config.k%EF%BF%BDey",
                  "project=p&config.c=x%EF%BF%BDy", "project=p&sort=summary.s", "project=p&tag=none",
                  "project=p&config.lr.x%EF%BF%BD=1"):
        body = runs_of(srv.url, query)
        assert body["total"] == (0 if query.endswith("none") else 1), (query, body)
    run = api(srv.url, f"/api/v1/runs/{u}")[1]
    assert run["tags"] == ["t\ufffdag"] and run["config"]["k\ufffdey"] == "v\ufffd" and run["config"]["c"] == "x\ufffdy"
    assert run["summary"]["m\ufffd"] == 1 and run["summary"]["f"] == "\ufffd"
    assert api(srv.url, f"/api/v1/runs/{u}/events")[0] == 200 and api(srv.url, f"/api/v1/runs/{u}/media")[0] == 200


# --- item 6: a big batch is written in short transactions; other writers get in between ----------
def test_a_batch_of_many_keys_commits_in_parts_so_other_writers_are_not_blocked(make_server):
    srv = make_server()
    big, small = _uuid.uuid4().hex, _uuid.uuid4().hex
    assert put_run(srv.url, big)[0] == 200 and put_run(srv.url, small)[0] == 200
    n = 16
    recs = [metrics(i, {f"r{i}_k{j}": float(j) for j in range(5000)}) for i in range(n)]
    done = {}
    sender = threading.Thread(target=lambda: done.update(first=post(srv.url, big, recs)))
    sender.start()
    end = time.monotonic() + 300
    while api(srv.url, f"/api/v1/runs/{big}")[1]["records"] == 0 and sender.is_alive() and time.monotonic() < end:
        time.sleep(0.05)
    stored_before = api(srv.url, f"/api/v1/runs/{big}")[1]["records"]
    assert 0 < stored_before < n, "the first part of the batch must be committed (and readable) on its own"
    assert post(srv.url, small, [metrics(0, {"loss": 1.0})])[0] == 200  # another writer gets in meanwhile
    assert api(srv.url, f"/api/v1/runs/{big}")[1]["records"] < n, "the small write waited for the whole batch"
    sender.join(300)
    assert done["first"][0] == 200 and done["first"][1]["stored"] == n, done
    # exactly once by (uuid, seq): the same batch again stores nothing, a bad batch stores nothing
    assert post(srv.url, big, recs)[1] == {"stored": 0, "duplicates": n, "last_seq": n - 1}
    bad = [metrics(n + i, {f"x{i}_{j}": 1.0 for j in range(5000)}) for i in range(4)] + [metrics(n + 4, {"d": nested(99)})]
    assert post(srv.url, big, bad)[0] == 422
    run = api(srv.url, f"/api/v1/runs/{big}")[1]
    assert run["records"] == n and run["last_seq"] == n - 1
    keys = api(srv.url, f"/api/v1/runs/{big}/keys")[1]
    assert len(keys) == n * 5000


# --- item 9: uuid, query parameters, JSON paths, string limits -----------------------------------
def test_a_uuid_with_a_trailing_newline_is_not_a_second_identity(srv):
    u = _uuid.uuid4().hex
    assert put_run(srv.url, u)[0] == 200
    for method, path in (("GET", f"/api/v1/runs/{u}%0A"), ("PUT", f"/api/v1/runs/{u}%0A"),
                         ("GET", f"/api/v1/runs/{u}%0A/keys"), ("POST", f"/api/v1/runs/{u}%0A/records")):
        body = orjson.dumps({"project": "p"} if method == "PUT" else {"records": []})
        status, answer = api(srv.url, path, method, body if method != "GET" else None)
        assert status == 400 and "32 hex digits" in answer["detail"], (method, path, status, answer)


def test_an_exit_code_beyond_32_bits_is_not_stored(srv):
    u = _uuid.uuid4().hex
    assert put_run(srv.url, u, exit_code=-11_665_340_349)[0] == 200
    status, body = api(srv.url, f"/api/v1/runs/{u}/finish", "POST", orjson.dumps({"status": "failed", "exit_code": 2**40}))
    assert status == 200 and body["exit_code"] is None, body


def test_a_run_id_of_any_text_still_exports(srv):
    u = _uuid.uuid4().hex
    assert put_run(srv.url, u, id="r\x13\U0005cc16 \"ü\";x")[0] == 200
    assert post(srv.url, u, [metrics(0, {"loss": 1.0})])[0] == 200
    for fmt in ("jsonl", "csv"):
        req = urllib.request.Request(f"{srv.url}/api/v1/runs/{u}/export?format={fmt}")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200 and r.headers["content-disposition"].startswith('attachment; filename="r_')
            assert b"1.0" in r.read()


BAD_QUERIES = [
    "/api/v1/runs?q=%00", "/api/v1/runs?sort=%00", "/api/v1/runs?status=%00", "/api/v1/runs?tag=%00",
    "/api/v1/runs?project=p%00", "/api/v1/runs?config.lr=%00", "/api/v1/runs?config.l%00r=1",
    f"/api/v1/runs?offset={2**70}", f"/api/v1/runs?offset={2**63}", "/api/v1/runs?sort=config.%00",
    "/api/v1/runs/{u}/events?after_seq=" + str(2**70), "/api/v1/runs/{u}/console?after_seq=-" + str(2**70),
    "/api/v1/runs/{u}/media?key=%00", "/api/v1/series?run={u}&key=%00", "/api/v1/runs/{u}/export?format=csv&key=%00",
    "/api/v1/projects?x=%00",
]


def test_nul_or_an_integer_beyond_int64_in_a_query_parameter_is_a_400_saying_which(srv):
    u = _uuid.uuid4().hex
    assert put_run(srv.url, u, config={"lr": 1})[0] == 200
    for path in BAD_QUERIES:
        status, body = api(srv.url, path.replace("{u}", u))
        assert status == 400, (path, status, body)
        assert isinstance(body, dict) and ("NUL" in body["detail"] or "64-bit" in body["detail"]), (path, body)
    assert runs_of(srv.url, "q=" + u[:6])["total"] == 1  # an ordinary search still works


def test_json_key_paths_behave_the_same_on_both_databases(srv):
    runs = {"comma": {"a,b": 1}, "nested": {"a": {"b": 1}}, "umlaut": {"ü": 2, "ß": {"é": "x"}},
            "emptyseg": {"a": {"": {"b": 3}}}, "backslash": {"a\\": 4}, "other": {"ü": 1},
            "array": {"layers": [64, 32], "k": {"0": 7}}}
    ids = {}
    for name, config in runs.items():
        ids[name] = u = _uuid.uuid4().hex
        assert put_run(srv.url, u, config=config, name=name)[0] == 200

    def names(query):
        return sorted(r["name"] for r in runs_of(srv.url, "project=p&" + query)["runs"])

    assert names("config.a%2Cb=1") == ["comma"]
    assert names("config.a.b=1") == ["nested"]
    assert names("config.%C3%BC=2") == ["umlaut"]
    assert names("config.%C3%9F.%C3%A9=x") == ["umlaut"]
    assert names("config.a..b=3") == ["emptyseg"]
    assert names("config.a%5C=4") == ["backslash"]
    assert names("config.layers.0=64") == [] and names("config.k.0=7") == ["array"]  # keys of objects, never indices
    status, body = api(srv.url, "/api/v1/runs?project=p&config.q%22k=5")
    assert status == 422 and "no '\"'" in body["detail"], body  # refused alike on both
    ordered = [r["name"] for r in runs_of(srv.url, "project=p&sort=config.%C3%BC")["runs"]]
    assert ordered[:2] == ["other", "umlaut"]
    ordered = [r["name"] for r in runs_of(srv.url, "project=p&sort=-config.%C3%BC")["runs"]]
    assert ordered[:2] == ["umlaut", "other"]
    for sort in ("config.a..b", "config.a%5C", "config.a%2Cb", "summary.%C3%BC"):
        assert runs_of(srv.url, f"project=p&sort={sort}")["total"] == len(runs)


def test_the_string_limit_applies_a_long_console_line_is_cut_and_a_long_value_refused(make_server):
    srv = make_server()
    u = _uuid.uuid4().hex
    assert put_run(srv.url, u)[0] == 200
    line = "x" * 3_000_000
    assert post(srv.url, u, [{"seq": 0, "type": "console", "stream": "stdout", "line": line}])[0] == 200
    stored = api(srv.url, f"/api/v1/runs/{u}/console")[1][0]["line"]
    assert len(stored) < 1_000_100 and stored.startswith("x" * 1000) and "2,000,000 characters cut" in stored
    status, body = post(srv.url, u, [{"seq": 1, "type": "config", "config": {"notes": "y" * 1_000_001}}])
    assert status == 413 and "records[0]" in body["detail"] and "1,000,000 characters" in body["detail"], body
    status, body = put_run(srv.url, u, summary={"s": "z" * 1_000_001})
    assert status == 413 and "summary" in body["detail"], body
    assert api(srv.url, f"/api/v1/runs/{u}")[1]["records"] == 1


# --- the in-process ingest of `seetrain ui` ------------------------------------------------------
def test_the_ui_watcher_stores_the_rest_and_reports_a_refused_record(tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.queries import get_run
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher

    store = create_app(Settings(db=str(tmp_path / "i.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    logdir = tmp_path / "logs"
    meta = write_run(str(logdir / "p" / "r"), 5, extra=[metrics(5, {"deep": nested(200)}),
                                                        metrics(6, {f"k{i}": 1.0 for i in range(12_000)}),
                                                        metrics(7, {"loss": 1.0}, step=7)])
    w = Watcher(str(logdir), store)
    w.poll_once()
    with store.read() as conn:
        row = get_run(conn, meta["uuid"])
    assert row is not None and row["n_records"] == 6 and row["last_seq"] == 7
    state = w.state()["runs"][meta["uuid"]]
    assert state["rejected"] == 2 and "64 levels" in state["rejected_reason"], state
