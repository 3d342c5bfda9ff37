"""Exactly-once ingest at its boundaries: a re-sent batch that starts exactly at the last stored seq
(an overlap of one record), a single record equal to the last seq, and a batch right after it."""

from __future__ import annotations

import uuid as _uuid

import orjson

from .conftest import api, scalar_points


def _recs(seqs):
    return [{"seq": s, "time": 1.0 + s, "type": "metrics", "step": s, "data": {"loss": 100.0 + s}} for s in seqs]


def test_batches_overlapping_by_one_store_each_step_once_in_process(tmp_path):
    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.ingest import ingest_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "i.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    meta = {"uuid": _uuid.uuid4().hex, "project": "p", "id": "r", "name": "r"}
    results = [ingest_run(store, meta, _recs(seqs)) for seqs in (
        range(0, 10),    # 0..9 stored, last seq 9
        range(9, 13),    # starts exactly at the last stored seq: 9 is a duplicate
        [12],            # only the last stored seq again
        range(13, 15),   # right after the last seq: nothing is a duplicate
        range(14, 16),   # overlaps by one again
    )]
    assert [(r.stored, r.duplicates, r.last_seq) for r in results] == [
        (10, 0, 9), (3, 1, 12), (0, 1, 12), (2, 0, 14), (1, 1, 15)]
    with store.read() as conn:
        xs, ys = series.load(conn, meta["uuid"], "loss")
    assert xs.tolist() == list(range(16))
    assert ys.tolist() == [100.0 + s for s in range(16)]


def test_resent_batch_starting_at_the_last_seq_over_http(server):
    """What the sender does after a lost answer: the next POST begins with the last seq stored."""
    uuid = _uuid.uuid4().hex
    meta = {"format": 2, "uuid": uuid, "project": "p", "id": "r1", "name": "r1", "status": "running"}
    assert api(server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps(meta))[0] == 200
    answers = []
    for seqs in (range(0, 10), range(9, 13), range(12, 13), range(12, 14)):
        status, body = api(server.url, f"/api/v1/runs/{uuid}/records", "POST",
                           orjson.dumps({"records": _recs(seqs)}))
        assert status == 200, body
        answers.append((body["stored"], body["duplicates"]))
    assert answers == [(10, 0), (3, 1), (0, 1), (1, 1)]
    points = scalar_points(server.url, uuid, "loss")
    assert points["x"] == list(range(14)) and points["y"] == [100.0 + s for s in range(14)]
    status, run = api(server.url, f"/api/v1/runs/{uuid}")
    assert status == 200 and (run["records"], run["last_seq"]) == (14, 13)
