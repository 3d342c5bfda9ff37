"""The REST API against a real server process (SQLite): ingest, idempotency, series, media, export."""

from __future__ import annotations

import glob
import http.client
import os
import time

import orjson

from seetrain.sender import Client, RunSync

from .conftest import api, scalar_points, write_run


def _put_run(url, meta):
    return api(url, f"/api/v1/runs/{meta['uuid']}", "PUT", orjson.dumps(meta))


def test_batches_sent_twice_or_overlapping_store_each_record_once(server, tmp_path):
    meta = write_run(str(tmp_path / "p" / "r1"), 300, keys=3, project="p")
    assert _put_run(server.url, meta)[0] == 200
    assert _put_run(server.url, meta)[0] == 200  # a retried create is the same run
    recs = [orjson.loads(line) for line in open(tmp_path / "p" / "r1" / "records.jsonl", "rb")]
    post = lambda rs: api(server.url, f"/api/v1/runs/{meta['uuid']}/records", "POST", orjson.dumps({"records": rs}))
    assert post(recs[:200]) == (200, {"stored": 200, "duplicates": 0, "last_seq": 199})
    assert post(recs[:200]) == (200, {"stored": 0, "duplicates": 200, "last_seq": 199})
    assert post(recs[150:] + recs[290:]) == (200, {"stored": 100, "duplicates": 60, "last_seq": 299})
    s = scalar_points(server.url, meta["uuid"], "k0")
    assert s["x"] == list(range(300)) and s["y"] == list(range(300)) and s["total"] == 300
    status, runs = api(server.url, "/api/v1/runs?project=p")
    assert runs["total"] == 1 and runs["runs"][0]["records"] == 300
    assert runs["runs"][0]["summary"]["k0"] == 299
    status, keys = api(server.url, f"/api/v1/runs/{meta['uuid']}/keys")
    assert [(k["key"], k["kind"], k["count"]) for k in keys] == [("k0", "scalar", 300), ("k1", "scalar", 300),
                                                                 ("k2", "scalar", 300)]


def test_downsampling_keeps_spikes_first_last_and_zooms(shared_server, tmp_path):
    server = shared_server
    d = tmp_path / "p" / "spiky"
    meta = write_run(str(d), 0, status="running")
    with open(d / "records.jsonl", "ab") as f:
        for i in range(20_000):
            v = 1000.0 if i == 12_345 else (-5.0 if i == 777 else (i % 7) * 0.1)
            f.write(orjson.dumps({"seq": i, "time": 1e9 + i, "type": "metrics", "step": i,
                                  "data": {"loss": "NaN" if i == 3 else v}}) + b"\n")
    RunSync(str(d), Client(server.url)).drain()
    status, body = api(server.url, f"/api/v1/series?run={meta['uuid']}&key=loss&points=200")
    s = body["series"][0]
    assert s["downsampled"] and len(s["x"]) <= 200 and s["total"] == 20_000
    assert s["x"][0] == 0 and s["x"][-1] == 19_999
    assert 1000.0 in s["y"] and -5.0 in s["y"]  # the spike and the dip survive
    assert max(s["ymax"]) == 1000.0 and min(s["ymin"]) == -5.0
    # zoom: only the range, at full detail when it fits
    status, body = api(server.url, f"/api/v1/series?run={meta['uuid']}&key=loss&start=12340&end=12349&points=200")
    z = body["series"][0]
    assert z["x"] == list(range(12340, 12350)) and z["y"][5] == 1000.0 and not z["downsampled"]
    # by time, live updates after x, NaN as null
    status, body = api(server.url, f"/api/v1/series?run={meta['uuid']}&key=loss&x=time&after={1e9 + 19_990}&points=0")
    assert body["series"][0]["x"] == [1e9 + i for i in range(19_991, 20_000)]
    status, body = api(server.url, f"/api/v1/series?run={meta['uuid']}&key=loss&end=4&points=0")
    assert body["series"][0]["y"][3] is None


def test_several_runs_in_one_series_request_and_run_filters(server, tmp_path):
    metas = []
    sent_from = time.time()
    for i, (tag, lr) in enumerate([("a", 0.1), ("b", 0.2)]):
        d = tmp_path / "p" / f"r{i}"
        m = write_run(str(d), 10 * (i + 1), status="success" if i else "failed")
        m.update(tags=[tag], config={"lr": lr, "opt": {"name": "adam"}})
        (d / "run.json").write_bytes(orjson.dumps(m))
        RunSync(str(d), Client(server.url)).drain()
        metas.append(m)
    sent_until = time.time()
    q = "&".join(f"run={m['uuid']}" for m in metas)
    status, body = api(server.url, f"/api/v1/series?{q}&key=k0&points=0")
    assert [(s["run"], s["total"]) for s in body["series"]] == [(metas[0]["uuid"], 10), (metas[1]["uuid"], 20)]
    assert api(server.url, "/api/v1/runs?tag=b")[1]["runs"][0]["uuid"] == metas[1]["uuid"]
    assert api(server.url, "/api/v1/runs?status=failed")[1]["runs"][0]["uuid"] == metas[0]["uuid"]
    assert api(server.url, "/api/v1/runs?config.lr=0.2")[1]["total"] == 1
    assert api(server.url, "/api/v1/runs?config.opt.name=adam")[1]["total"] == 2
    page = api(server.url, "/api/v1/runs?sort=name&limit=1&offset=1")[1]
    assert page["total"] == 2 and [r["name"] for r in page["runs"]] == ["r1"]
    (project,) = api(server.url, "/api/v1/projects")[1]
    assert (project["name"], project["runs"]) == ("p", 2)
    assert sent_from <= project["last_activity"] <= sent_until  # the server's clock: the same machine's
    assert api(server.url, "/api/v1/runs?sort=bogus")[0] == 422


def test_events_console_media_and_export(shared_server, tmp_path):
    server = shared_server
    d = tmp_path / "p" / "m"
    (d / "media" / "img").mkdir(parents=True)
    (d / "media" / "img" / "a.png").write_bytes(b"\x89PNG same bytes")
    (d / "media" / "img" / "b.png").write_bytes(b"\x89PNG same bytes")
    extra = [{"seq": 5, "time": 1.0, "type": "event", "event": "start", "uuid": "x"},
             {"seq": 6, "time": 1.0, "type": "console", "stream": "stderr", "line": "warming up"},
             {"seq": 7, "time": 1.0, "type": "metrics", "step": 5, "data": {
                 "img": {"_type": "image", "path": "media/img/a.png", "caption": "first"}}},
             {"seq": 8, "time": 1.0, "type": "metrics", "step": 6, "data": {
                 "img": [{"_type": "image", "path": "media/img/b.png"}]}},
             {"seq": 9, "time": 1.0, "type": "config", "config": {"batch": 32}},
             {"seq": 10, "time": 1.0, "type": "event", "event": "finish", "status": "success", "exit_code": 0}]
    meta = write_run(str(d), 5, extra=extra)
    blobs_before = len(glob.glob(os.path.join(server.blobs, "*", "*")))
    RunSync(str(d), Client(server.url)).drain()
    u = meta["uuid"]
    assert [e["event"] for e in api(server.url, f"/api/v1/runs/{u}/events")[1]] == ["start", "finish"]
    assert api(server.url, f"/api/v1/runs/{u}/console")[1][0]["line"] == "warming up"
    run = api(server.url, f"/api/v1/runs/{u}")[1]
    assert run["status"] == "success" and run["config"] == {"lr": 0.1, "batch": 32}
    media = api(server.url, f"/api/v1/runs/{u}/media?key=img")[1]
    assert [(m["step"], m["caption"]) for m in media] == [(5, "first"), (6, None)]
    assert media[0]["url"] == media[1]["url"]  # same bytes: one content-addressed blob
    status, blob = api(server.url, media[0]["url"])
    assert status == 200 and blob == b"\x89PNG same bytes"
    assert len(glob.glob(os.path.join(server.blobs, "*", "*"))) == blobs_before + 1
    status, body = api(server.url, f"/api/v1/runs/{u}/export?format=jsonl")
    lines = [orjson.loads(x) for x in body.splitlines()]
    assert [r["seq"] for r in lines] == list(range(11))
    status, body = api(server.url, f"/api/v1/runs/{u}/export?format=csv&key=k1")
    rows = body.decode().splitlines()
    assert rows[0] == "key,step,time,value" and len(rows) == 6 and rows[1].startswith("k1,0,")


def test_bad_requests_get_json_4xx_and_store_nothing(shared_server, tmp_path):
    server = shared_server
    meta = write_run(str(tmp_path / "p" / "bad"), 0, status="running")
    blobs_before = glob.glob(os.path.join(server.blobs, "*", "*"))
    u = meta["uuid"]
    assert _put_run(server.url, meta)[0] == 200
    good = {"seq": 0, "time": 1.0, "type": "metrics", "step": 0, "data": {"x": 1.0}}
    cases = [
        (b"{not json", 400, "not valid JSON"),
        (orjson.dumps({"recs": []}), 422, "records"),
        (orjson.dumps({"records": [good, {"seq": -1, "type": "metrics"}]}), 422, "records[1].seq"),
        (orjson.dumps({"records": [good, {"seq": 1, "type": "metrics", "step": 1, "data": {"k" * 300: 1}}]}), 422,
         "longer than 256"),
        (orjson.dumps({"records": [good, {"seq": 1, "type": "metrics", "step": "one", "data": {}}]}), 422, "step"),
        (orjson.dumps({"records": [good, {"seq": 2, "type": "metrics", "step": 2, "data": {
            "img": {"_type": "image", "path": "media/../../etc/passwd"}}}]}), 422, "media/ without '..'"),
        (orjson.dumps({"records": [dict(good, seq=i) for i in range(20_001)]}), 413, "over the limit"),
    ]
    for body, status, words in cases:
        got, answer = api(server.url, f"/api/v1/runs/{u}/records", "POST", body)
        assert got == status and words in answer["detail"], (got, answer)
    assert scalar_points(server.url, u, "x")["total"] == 0  # nothing of a rejected batch was stored
    assert api(server.url, "/api/v1/runs/not-a-uuid/records", "POST", b'{"records": []}')[0] == 400
    other = "0" * 32
    assert api(server.url, f"/api/v1/runs/{other}/records", "POST", b'{"records": []}')[0] == 404
    assert _put_run(server.url, dict(meta, project="elsewhere"))[0] == 409
    assert _put_run(server.url, dict(meta, status="weird"))[0] == 422
    # media names cannot escape the blob store (sent raw: no client-side normalisation)
    for path in ("media/../../../x", "media/%2e%2e/%2e%2e/x", "../x", "media//x"):
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        c.request("PUT", f"/api/v1/runs/{u}/media/{path}", body=b"data",
                  headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        assert r.status in (404, 422) and "detail" in orjson.loads(r.read()), path
    status, answer = api(server.url, f"/api/v1/runs/{u}/media/media/a.bin", "PUT", b"data",
                         headers={"X-Content-SHA256": "0" * 64})
    assert status == 400 and "does not match" in answer["detail"]
    assert glob.glob(os.path.join(server.blobs, "*", "*")) == blobs_before


def test_openapi_document_describes_the_contract(shared_server):
    status, doc = api(shared_server.url, "/api/v1/openapi.json")
    assert status == 200
    paths = doc["paths"]
    for path, method in [("/api/v1/runs/{uuid}", "put"), ("/api/v1/runs/{uuid}/records", "post"),
                         ("/api/v1/runs/{uuid}/media/{path}", "put"), ("/api/v1/runs/{uuid}/finish", "post"),
                         ("/api/v1/projects", "get"), ("/api/v1/runs", "get"), ("/api/v1/runs/{uuid}/keys", "get"),
                         ("/api/v1/runs/{uuid}/events", "get"), ("/api/v1/runs/{uuid}/console", "get"),
                         ("/api/v1/runs/{uuid}/media", "get"), ("/api/v1/media/{sha}", "get"),
                         ("/api/v1/series", "get"), ("/api/v1/runs/{uuid}/export", "get")]:
        assert method in paths[path], path
    assert "records" in str(paths["/api/v1/runs/{uuid}/records"]["post"]["requestBody"])


def test_a_running_run_with_a_stale_heartbeat_reads_as_vanished(shared_server, tmp_path):
    import time

    meta = write_run(str(tmp_path / "hb" / "r"), 1, status="running", project="hb")
    assert _put_run(shared_server.url, dict(meta, heartbeat=time.time()))[1]["status"] == "running"
    stale = _put_run(shared_server.url, dict(meta, heartbeat=time.time() - 31))[1]
    assert stale["status"] == "crashed" and stale["vanished"] is True
    assert api(shared_server.url, "/api/v1/runs?project=hb&status=crashed")[1]["total"] == 1


def test_series_with_uneven_out_of_order_steps_and_system_metrics(shared_server, tmp_path):
    d = tmp_path / "uneven" / "r"
    meta = write_run(str(d), 0, status="running", project="uneven")
    u = meta["uuid"]
    assert _put_run(shared_server.url, meta)[0] == 200
    post = lambda rs: api(shared_server.url, f"/api/v1/runs/{u}/records", "POST", orjson.dumps({"records": rs}))
    m = lambda seq, step, v: {"seq": seq, "time": 100.0 + seq, "type": "metrics", "step": step, "data": {"v": v}}
    assert post([m(0, 10, 1.0), m(1, 20, 2.0), m(2, 40, 3.0)])[0] == 200          # uneven
    assert post([m(3, 5, 0.5), m(4, 6, 0.6), m(5, 7, 0.7)])[0] == 200             # evenly spaced, but earlier
    assert post([{"seq": 6, "time": 200.0, "type": "system", "data": {"v": 9.0, "sys/cpu": 50.0}}])[0] == 200
    s = api(shared_server.url, f"/api/v1/series?run={u}&key=v&points=0")[1]["series"][0]
    assert s["x"] == [5, 6, 7, 10, 20, 40] and s["y"] == [0.5, 0.6, 0.7, 1.0, 2.0, 3.0]  # sorted; no step: left out
    s = api(shared_server.url, f"/api/v1/series?run={u}&key=v&x=time&points=0")[1]["series"][0]
    assert s["x"] == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 200.0] and s["y"][-1] == 9.0
    s = api(shared_server.url, f"/api/v1/series?run={u}&key=sys/cpu&x=time&points=0")[1]["series"][0]
    assert s["y"] == [50.0]
    assert api(shared_server.url, f"/api/v1/series?run={u}&key=sys/cpu&points=0")[1]["series"][0]["total"] == 0
    rows = api(shared_server.url, f"/api/v1/runs/{u}/export?format=csv&key=v")[1].decode().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["10", "20", "40", "5", "6", "7", ""]
