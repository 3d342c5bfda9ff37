"""A value set with ``run.summary[...]`` wins over values logged under the same key, before or after,
in one batch or many (docs/record-format.md): the server's summary is what ``read_run(...).summary()``
says. Before, the server let the latest logged value win, so ``seetrain ui`` and a synced server
showed another best accuracy than the run directory."""

from __future__ import annotations

import uuid as _uuid

import pytest

import seetrain
from tests._child import run_python

from .conftest import api

pytest.importorskip("fastapi", reason="the server extra is needed")


def _pinned_run(logdir: str) -> str:
    run = seetrain.init(project="p", id="pin", logdir=logdir, system_metrics=False, console="off")
    run.summary["acc"] = 0.9           # set first, logged after: the set value stays
    run.log({"acc": 0.5, "loss": 1.0})
    run.log({"acc": 0.6, "loss": 0.5})
    run.log({"best": 0.2})             # logged first, set after: the set value wins
    run.summary["best"] = 1.0
    run.log({"best": 0.3, "loss": 0.25})
    run.finish()
    return run.dir


def test_dashboard_and_synced_server_show_the_summary_of_the_run_directory(server, tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.queries import get_run
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher

    logdir = str(tmp_path / "logs")
    run_dir = _pinned_run(logdir)
    local = seetrain.read_run(run_dir).summary()
    assert {k: local[k] for k in ("acc", "best", "loss")} == {"acc": 0.9, "best": 1.0, "loss": 0.25}

    store = create_app(Settings(db=str(tmp_path / "ui.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    watcher = Watcher(logdir, store)
    watcher.poll_once()
    with store.read() as conn:
        shown = get_run(conn, seetrain.read_run(run_dir).uuid)
    assert {k: shown["summary"][k] for k in ("acc", "best", "loss")} == {"acc": 0.9, "best": 1.0, "loss": 0.25}

    res = run_python(["-m", "seetrain.cli", "sync", logdir, "--host", server.url], capture_output=True, text=True,
                     timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    status, body = api(server.url, f"/api/v1/runs/{seetrain.read_run(run_dir).uuid}")
    assert status == 200, body
    assert {k: body["summary"][k] for k in ("acc", "best", "loss")} == {"acc": 0.9, "best": 1.0, "loss": 0.25}
    assert "_summary_set" not in body["environment"]


def _metrics(seq, data):
    return {"seq": seq, "time": 1.0 + seq, "type": "metrics", "step": seq, "data": data}


def _summary(seq, data):
    return {"seq": seq, "time": 1.0 + seq, "type": "summary", "summary": data}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    db = str(tmp_path / "i.db") if request.param == "sqlite" else request.getfixturevalue("pg_db")
    return create_app(Settings(db=db, blobs=str(tmp_path / "b"), api_key="")).state.store


def test_a_key_set_in_one_batch_stays_set_in_later_batches_of_each_writer(store):
    from seetrain.server.ingest import add_records, store_records, upsert_run, upsert_writer
    from seetrain.server.queries import get_run
    from seetrain.server.writers import list_writers

    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r", "name": "r"})
        upsert_writer(conn, u, "rank1", {"status": "running"})
    batches = [
        [_metrics(0, {"acc": 0.1, "loss": 2.0})],                       # logged only: the latest wins
        [_summary(1, {"acc": 0.9}), _metrics(2, {"acc": 0.2})],         # set, then logged in the same batch
        [_metrics(3, {"acc": 0.3, "loss": 1.0})],                       # a later batch: acc stays 0.9
        [_metrics(4, {"best": 0.4}), _summary(5, {"best": 1.5})],       # logged, then set
        [_summary(6, {"acc": 0.95}), _metrics(7, {"acc": 0.35, "best": 0.5})],  # set again: the new value
    ]
    for writer in ("", "rank1"):
        for batch in batches:
            if writer == "":
                with store.write() as conn:
                    add_records(conn, u, batch)
            else:
                store_records(store, u, batch, writer)
    want = {"acc": 0.95, "best": 1.5, "loss": 1.0}
    with store.read() as conn:
        run = get_run(conn, u)
        writers = {w["writer"]: w for w in list_writers(conn, u, stale_s=60)}
    assert run["summary"] == want
    assert writers["rank1"]["meta"]["summary"] == want and "_summary_set" not in writers["rank1"]["meta"]
    assert run["meta"]["_summary_set"] == ["acc", "best"]


def test_run_json_sent_after_the_records_keeps_what_it_says(store):
    """run.json (PUT by sync and the dashboard's watcher) is the writer's own summary: it stands."""
    from seetrain.server.ingest import add_records, upsert_run
    from seetrain.server.queries import get_run

    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r", "name": "r"})
        add_records(conn, u, [_summary(0, {"acc": 0.9}), _metrics(1, {"acc": 0.5})])
        upsert_run(conn, u, {"summary": {"acc": 0.9, "lr": 0.1}})
        add_records(conn, u, [_metrics(2, {"acc": 0.7})])
    with store.read() as conn:
        assert get_run(conn, u)["summary"] == {"acc": 0.9, "lr": 0.1}
