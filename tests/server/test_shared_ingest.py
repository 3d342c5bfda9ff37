"""Shared runs on the server (issue 23): records stored by (run uuid, writer, seq), exactly once; a
re-sent batch of writer X never touches writer Y's ledger; run-level fields only from the primary;
the run's status combines its writers'; the migration upgrades an existing database."""

from __future__ import annotations

import uuid as _uuid

import orjson
import pytest

from .conftest import api


def _recs(seqs, base=100.0):
    return [{"seq": s, "time": 1.0 + s, "type": "metrics", "step": s, "data": {"loss": base + s}} for s in seqs]


@pytest.fixture
def store(tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    return create_app(Settings(db=str(tmp_path / "i.db"), blobs=str(tmp_path / "b"), api_key="")).state.store


def _points(store, uuid, key, writer=None):
    from seetrain.server import series

    with store.read() as conn:
        return series.load(conn, uuid, key, writer=writer)


def test_same_seqs_in_two_writers_are_both_stored_and_resends_touch_only_their_writer(store):
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer

    uuid = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, uuid, {"project": "p", "id": "r"})
        upsert_writer(conn, uuid, "rank1", {"rank": 1})
    # the same seqs 0..9 from the primary and from rank1: each writer's own
    assert tuple(store_records(store, uuid, _recs(range(10)))) == (10, 0, 9)
    assert tuple(store_records(store, uuid, _recs(range(10), 500.0), writer="rank1")) == (10, 0, 9)
    # rank1 re-sends 5..14 (an overlap of 5): the primary's ledger is not consulted or changed
    assert tuple(store_records(store, uuid, _recs(range(5, 15), 500.0), writer="rank1")) == (5, 5, 14)
    # the primary re-sends its last seq only, then one more
    assert tuple(store_records(store, uuid, _recs([9]))) == (0, 1, 9)
    assert tuple(store_records(store, uuid, _recs([10]))) == (1, 0, 10)
    xs, ys = _points(store, uuid, "loss", writer="")
    assert xs.tolist() == list(range(11)) and ys.tolist() == [100.0 + s for s in range(11)]
    xs, ys = _points(store, uuid, "loss", writer="rank1")
    assert xs.tolist() == list(range(15)) and ys.tolist() == [500.0 + s for s in range(15)]
    xs, _ = _points(store, uuid, "loss")  # every writer's value at a shared step is kept
    assert xs.size == 26
    from seetrain.server import queries
    from seetrain.server.writers import list_writers

    with store.read() as conn:
        run = queries.get_run(conn, uuid)
        writers = {w["writer"]: w for w in list_writers(conn, uuid, 1e9)}
    assert (run["n_records"], run["last_seq"]) == (26, 10)  # the run's last_seq stays the primary's
    assert {k: (w["last_seq"], w["records"]) for k, w in writers.items()} == {"": (10, 11), "rank1": (14, 15)}


def test_a_second_node_may_create_the_run_and_never_overwrites_the_primary(store):
    from seetrain.server import queries
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer

    uuid = _uuid.uuid4().hex
    with store.write() as conn:  # node 2 first: its writer creates the run
        upsert_writer(conn, uuid, "node2", {"status": "running", "run": {"project": "p", "id": "shared"}})
    store_records(store, uuid, _recs(range(3)) + [{"seq": 3, "time": 4.0, "type": "config", "config": {"lr": 9}}],
                  writer="node2")
    with store.write() as conn:
        upsert_run(conn, uuid, {"project": "p", "id": "shared", "name": "the run", "config": {"lr": 0.1},
                                "status": "running"})
        upsert_writer(conn, uuid, "node2", {"status": "running", "config": {"lr": 7},
                                            "run": {"project": "p", "id": "x", "name": "not the name"}})
    store_records(store, uuid, [{"seq": 0, "time": 1.0, "type": "summary", "summary": {"acc": 1.0}}], writer="node2")
    with store.read() as conn:
        run = queries.get_run(conn, uuid)
    assert run["name"] == "the run" and run["config"] == {"lr": 0.1} and run["summary"].get("acc") is None
    assert run["run_id"] == "shared"


def test_the_run_status_combines_its_writers(store):
    from seetrain.server import queries
    from seetrain.server.ingest import finish_run, upsert_run, upsert_writer
    from seetrain.server.writers import list_writers

    uuid = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, uuid, {"project": "p", "id": "r", "status": "running", "heartbeat": 5.0})
        for i in (1, 2):
            upsert_writer(conn, uuid, f"rank{i}", {"status": "running", "heartbeat": 5.0})
        finish_run(conn, uuid, {"status": "success", "end_time": 10.0})
        assert queries.get_run(conn, uuid)["status"] == "running"  # ranks 1 and 2 still alive
        upsert_writer(conn, uuid, "rank1", {"status": "success", "end_time": 11.0})
        assert queries.get_run(conn, uuid)["status"] == "running"
        upsert_writer(conn, uuid, "rank2", {"status": "crashed", "exit_code": -9, "end_time": 12.0})
        run = queries.get_run(conn, uuid)
        assert (run["status"], run["end_time"]) == ("crashed", 12.0)
        crashed = [w["writer"] for w in list_writers(conn, uuid, 1e9) if w["status"] == "crashed"]
    assert crashed == ["rank2"]


def test_a_bad_writer_label_is_refused_with_a_clear_message(server):
    uuid = _uuid.uuid4().hex
    assert api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p", "id": "r"}))[0] == 200
    status, body = api(server.url, f"/api/v1/runs/{uuid}/records", "POST",
                       orjson.dumps({"writer": "../etc", "records": _recs(range(2))}))
    assert status == 422 and "writer" in body["detail"] and "A-Z" in body["detail"]
    status, body = api(server.url, f"/api/v1/runs/{uuid}/writers/..bad", "PUT", orjson.dumps({}))
    assert status in (404, 422)
    status, body = api(server.url, f"/api/v1/runs/{uuid}/writers/r1", "PUT", orjson.dumps({"rank": "one"}))
    assert status == 422 and "rank" in body["detail"]


def test_over_http_writers_series_and_console_by_writer(server):
    uuid = _uuid.uuid4().hex
    assert api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p", "id": "r"}))[0] == 200
    for w in ("rank1", "rank2"):
        status, _ = api(server.url, f"/api/v1/runs/{uuid}/writers/{w}", "PUT",
                        orjson.dumps({"rank": int(w[-1]), "host": "h", "pid": 7, "status": "running"}))
        assert status == 200
    for w, base in (("", 0.0), ("rank1", 10.0), ("rank2", 20.0)):
        recs = _recs(range(4), base) + [{"seq": 4, "time": 9.0, "type": "console", "stream": "stdout",
                                         "line": f"hello from {w or 'primary'}"}]
        status, body = api(server.url, f"/api/v1/runs/{uuid}/records", "POST",
                           orjson.dumps({"writer": w, "records": recs} if w else {"records": recs}))
        assert status == 200 and (body["stored"], body["last_seq"]) == (5, 4), body
    status, writers = api(server.url, f"/api/v1/runs/{uuid}/writers")
    assert status == 200 and [w["writer"] for w in writers] == ["", "rank1", "rank2"]
    assert writers[1]["rank"] == 1 and writers[1]["host"] == "h" and writers[1]["records"] == 5
    status, body = api(server.url, f"/api/v1/series?run={uuid}&key=loss&writer=rank2")
    assert [s["y"] for s in body["series"]] == [[20.0, 21.0, 22.0, 23.0]]
    status, body = api(server.url, f"/api/v1/series?run={uuid}&key=loss&writers=each")
    assert [(s["writer"], s["y"]) for s in body["series"]] == [
        ("", [0.0, 1.0, 2.0, 3.0]), ("rank1", [10.0, 11.0, 12.0, 13.0]), ("rank2", [20.0, 21.0, 22.0, 23.0])]
    status, body = api(server.url, f"/api/v1/series?run={uuid}&key=loss&writers=mean")
    (s,) = body["series"]
    assert s["y"] == [10.0, 11.0, 12.0, 13.0] and s["ymin"] == [0.0, 1.0, 2.0, 3.0]
    assert s["ymax"] == [20.0, 21.0, 22.0, 23.0] and s["writers"] == 3
    status, lines = api(server.url, f"/api/v1/runs/{uuid}/console?writer=rank1")
    assert [ln["line"] for ln in lines] == ["hello from rank1"]
    status, lines = api(server.url, f"/api/v1/runs/{uuid}/console")
    assert sorted(ln["line"] for ln in lines) == ["hello from primary", "hello from rank1", "hello from rank2"]
    status, keys = api(server.url, f"/api/v1/runs/{uuid}/keys")
    assert [(k["key"], k["count"]) for k in keys] == [("loss", 12)]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    from seetrain.server.settings import normalize_db_url

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite'}"
    return normalize_db_url(request.getfixturevalue("pg_db"))


def test_the_migration_upgrades_a_database_of_one_writer_runs(db_url):
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from seetrain.server.db import make_engine, upgrade
    from seetrain.server.db.engine import MIGRATIONS

    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.commit()
    u = "a" * 32
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO runs (uuid, project, run_id, name, status, tags, config, summary, meta, "
                             "last_seq, n_records, created, updated) VALUES (:u, 'p', 'r', 'r', 'success', '[]', "
                             "'{}', '{}', '{}', 1, 2, 0, 0)"), {"u": u})
        conn.execute(sa.text("INSERT INTO events (run_uuid, seq, event, body) VALUES (:u, 1, 'x', '{}')"), {"u": u})
        conn.execute(sa.text("INSERT INTO console (run_uuid, seq, stream, line) VALUES (:u, 0, 'stdout', 'hi')"),
                     {"u": u})
        conn.execute(sa.text("INSERT INTO metric_keys (run_uuid, key, kind, count) VALUES (:u, 'loss', 'scalar', 2)"),
                     {"u": u})
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT writer, seq FROM events")).all() == [("", 1)]
        assert conn.execute(sa.text("SELECT writer, line FROM console")).all() == [("", "hi")]
        assert conn.execute(sa.text("SELECT writer, key, count FROM metric_keys")).all() == [("", "loss", 2)]
        assert conn.execute(sa.text("SELECT writer, last_seq, n_records, status FROM run_writers")).all() == [
            ("", 1, 2, "success")]
        assert sa.inspect(conn).get_pk_constraint("events")["constrained_columns"] == ["run_uuid", "writer", "seq"]
    engine.dispose()


def test_four_writers_resending_in_parallel_to_two_postgres_workers_store_each_point_once(make_server, pg_db):
    """Overlapping batches of 4 writers with the same seqs, each sent twice, from 8 threads into two
    server workers on PostgreSQL: every writer's series exactly once and gap-free."""
    import threading

    from seetrain.sender import Client

    srv = make_server(db=pg_db, workers=2)
    uuid = _uuid.uuid4().hex
    assert api(srv.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p", "id": "par"}))[0] == 200
    labels = ["", "rank1", "rank2", "rank3"]
    n = 2000
    jobs = [(w, _recs(range(i, min(n, i + 500)), 1000.0 * k)) for k, w in enumerate(labels)
            for i in range(0, n, 250)] * 2
    errors = []

    def send(part):
        c = Client(srv.url)
        try:
            for w, recs in part:
                c.call("POST", f"/api/v1/runs/{uuid}/records", orjson.dumps({"writer": w, "records": recs}))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=send, args=(jobs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    status, body = api(srv.url, f"/api/v1/series?run={uuid}&key=loss&writers=each&full=1")
    assert [(s["writer"], s["x"], s["y"]) for s in body["series"]] == [
        (w, list(range(n)), [1000.0 * k + s for s in range(n)]) for k, w in enumerate(labels)]
    status, writers = api(srv.url, f"/api/v1/runs/{uuid}/writers")
    assert [(w["writer"], w["records"], w["last_seq"]) for w in writers] == [(w, n, n - 1) for w in labels]


def test_a_vanished_writer_is_named_while_the_others_run_and_the_run_reads_crashed_once_they_end(server):
    import time

    uuid, now = _uuid.uuid4().hex, time.time()
    body = {"project": "p", "id": "v", "status": "running", "heartbeat": now}
    assert api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps(body))[0] == 200
    for label, beat in (("rank1", now - 600), ("rank2", now)):  # rank1 stopped beating 10 minutes ago
        status, _ = api(server.url, f"/api/v1/runs/{uuid}/writers/{label}", "PUT",
                        orjson.dumps({"status": "running", "heartbeat": beat}))
        assert status == 200
    status, run = api(server.url, f"/api/v1/runs/{uuid}")  # running while a writer lives, the vanished one named
    assert (run["status"], run["writers"]) == ("running", {"count": 3, "crashed": ["rank1"]})
    status, ws = api(server.url, f"/api/v1/runs/{uuid}/writers")
    assert [(w["writer"], w["status"], w["vanished"]) for w in ws] == [
        ("", "running", False), ("rank1", "crashed", True), ("rank2", "running", False)]
    for path in (f"/api/v1/runs/{uuid}/writers/rank2", f"/api/v1/runs/{uuid}"):  # the others end well
        assert api(server.url, path, "PUT", orjson.dumps({"status": "success", "end_time": now}))[0] == 200
    status, run = api(server.url, f"/api/v1/runs/{uuid}")
    assert (run["status"], run["vanished"], run["writers"]["crashed"]) == ("crashed", True, ["rank1"])
    status, listed = api(server.url, "/api/v1/runs?project=p&status=crashed")
    assert [r["uuid"] for r in listed["runs"]] == [uuid]


def test_the_mean_across_writers_sampled_at_their_own_times_follows_each_writers_line(store):
    """System metrics: each writer samples at its own times; the mean at a time one writer sampled
    takes the other's line there (never that one writer's value alone), and none past a writer's end."""
    from seetrain.server import series
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer

    uuid = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, uuid, {"project": "p", "id": "sys"})
        upsert_writer(conn, uuid, "rank1", {})
    sample = lambda seq, t, v: {"seq": seq, "time": t, "type": "system", "data": {"sys/cpu": v}}  # noqa: E731
    store_records(store, uuid, [sample(0, 100.0, 0.0), sample(1, 102.0, 20.0), sample(2, 104.0, 40.0)])
    store_records(store, uuid, [sample(0, 101.0, 50.0), sample(1, 103.0, 70.0)], writer="rank1")
    with store.read() as conn:
        (s,) = series.query_keys(conn, [uuid], ["sys/cpu"], x="time", view="mean")
    assert s["x"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert s["y"].tolist() == [0.0, 30.0, 40.0, 50.0, 40.0]  # 101: (10 + 50) / 2; 104: rank1 ended at 103
    assert s["ymin"].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0] and s["ymax"].tolist() == [0.0, 50.0, 60.0, 70.0, 40.0]


def test_the_export_of_a_shared_run_keeps_every_writers_records_named(server):
    uuid = _uuid.uuid4().hex
    assert api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p", "id": "x"}))[0] == 200
    for w in ("", "rank1"):
        assert api(server.url, f"/api/v1/runs/{uuid}/records", "POST",
                   orjson.dumps({"writer": w, "records": _recs(range(3))}))[0] == 200
    status, body = api(server.url, f"/api/v1/runs/{uuid}/export?format=jsonl")
    lines = [orjson.loads(x) for x in body.splitlines()]
    assert [(r.get("writer"), r["seq"]) for r in lines] == [(None, 0), (None, 1), (None, 2),
                                                             ("rank1", 0), ("rank1", 1), ("rank1", 2)]
