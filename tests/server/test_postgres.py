"""PostgreSQL: migrations, and two server workers receiving one run's batches in parallel."""

from __future__ import annotations

import threading

import orjson

from seetrain.sender import Client

from .conftest import api, scalar_points, write_run


def test_migrations_build_the_model_schema(pg_db, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from seetrain.server.db import make_engine, upgrade
    from seetrain.server.db.models import metadata
    from seetrain.server.settings import normalize_db_url

    for url in (normalize_db_url(pg_db), normalize_db_url(str(tmp_path / "m.sqlite"))):
        engine = make_engine(url)
        upgrade(engine)
        upgrade(engine)  # a second start is a no-op
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        engine.dispose()


def test_two_workers_on_postgres_store_parallel_overlapping_batches_once(make_server, pg_db, tmp_path):
    srv = make_server(db=pg_db, workers=2)
    d = tmp_path / "p" / "par"
    n = 6000
    meta = write_run(str(d), n, keys=2)
    recs = [orjson.loads(x) for x in open(d / "records.jsonl", "rb")]
    # 12 overlapping batches (each 1000 records, starting every 500), each sent twice, from 6 threads
    batches = [recs[i:i + 1000] for i in range(0, n, 500)] * 2
    errors = []

    def send(part):
        c = Client(srv.url)
        try:
            c.call("PUT", f"/api/v1/runs/{meta['uuid']}", orjson.dumps(meta))
            for b in part:
                c.call("POST", f"/api/v1/runs/{meta['uuid']}/records", orjson.dumps({"records": b}))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=send, args=(batches[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    s = scalar_points(srv.url, meta["uuid"], "k0")
    assert s["total"] == n and s["x"] == list(range(n))
    run = api(srv.url, f"/api/v1/runs/{meta['uuid']}")[1]
    assert run["records"] == n and run["last_seq"] == n - 1
    assert api(srv.url, "/api/v1/runs?project=p")[1]["total"] == 1


def test_text_postgres_cannot_hold_is_stored_readable(pg_db, tmp_path):
    """NUL characters (PostgreSQL text refuses them) in a console line, a key, a caption, a name."""
    from seetrain.server import ingest, queries, series
    from seetrain.server.app import Store
    from seetrain.server.settings import Settings

    store = Store(Settings(db=pg_db, blobs=str(tmp_path / "b")))
    u = "c" * 32
    recs = [{"seq": 0, "time": 1.0, "type": "console", "stream": "stdout", "line": "bin\x00ary"},
            {"seq": 1, "time": 1.0, "type": "metrics", "step": 0, "data": {"lo\x00ss": 1.5}},
            {"seq": 2, "time": 1.0, "type": "metrics", "step": 1, "data": {
                "img": {"_type": "image", "path": "media/a.png", "caption": "c\x00ap"}}},
            {"seq": 3, "time": 1.0, "type": "event", "event": "warn\x00ing", "message": "m\x00"}]
    res = ingest.ingest_run(store, {"uuid": u, "project": "p", "name": "na\x00me"}, recs)
    assert res.stored == 4
    with store.read() as conn:
        assert queries.list_console(conn, u, -1, 10)[0]["line"] == "bin\ufffdary"
        assert series.load(conn, u, "lo\ufffdss")[1].tolist() == [1.5]
        assert queries.list_media(conn, u, "img")[0]["caption"] == "c\ufffdap"
        assert queries.get_run(conn, u)["name"] == "na\ufffdme"
    store.engine.dispose()
