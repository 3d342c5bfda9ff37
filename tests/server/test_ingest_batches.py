"""Batch validation and storing, in process: the column-wise fast path accepts exactly what the
record-by-record check accepts, names the same bad record, and stores each seq once."""

from __future__ import annotations

import copy
import uuid as _uuid

import pytest

from seetrain.server.validate import IngestError, validate_records


def batch(n=1000):
    return [{"seq": i, "time": 1.0 + i, "type": "metrics", "step": i, "data": {"loss": 1.0 / (i + 1)}}
            for i in range(n)]


BAD = [  # (change to record 537, what the error must say)
    (lambda r: r.update(seq=True), "records[537].seq must be a non-negative integer"),
    (lambda r: r.update(seq=-1), "records[537].seq must be a non-negative integer"),
    (lambda r: r.update(seq=2**62), "records[537].seq must be a non-negative integer"),
    (lambda r: r.update(step="5"), "records[537].step must be an integer"),
    (lambda r: r.update(step=2**63), "records[537].step must be an integer"),
    (lambda r: r.update(step=1.5), "records[537].step must be an integer"),
    (lambda r: r.update(time="soon"), "records[537].time must be a number"),
    (lambda r: r.update(data=[1]), "records[537].data must be a JSON object"),
    (lambda r: r.update(data={"k" * 300: 1}), "is longer than 256 characters"),
    (lambda r: r.update(type="console", line=3), "records[537].line must be a string"),
    (lambda r: r.update(type="event", event=None), "records[537].event must be a string"),
    (lambda r: r.update(type="config", config=[]), "records[537].config must be a JSON object"),
    (lambda r: r.update(type=7), "records[537].type must be a short string"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_a_bad_record_deep_in_a_common_batch_is_named(change, message):
    recs = batch()
    change(recs[537])
    with pytest.raises(IngestError) as e:
        validate_records(recs, 20_000, 256)
    assert e.value.status == 422 and message in e.value.detail


def test_valid_unusual_records_are_accepted_and_normalised():
    recs = batch()
    recs[1].update(time=True)                           # bool time: a number
    recs[2].update(time="NaN")                          # NaN tag
    recs[3] = {"seq": 3, "data": {"loss": 0.5}}         # format 1: type filled in
    recs[4].update(data={"a\x00b": 1.0})                # NUL in a key: kept readable
    recs[5].update(type="system", step="not checked")  # system records carry no step
    recs[6] = {"seq": 6, "type": "custom", "x": 1}      # unknown types are kept
    recs[7] = {"seq": 7, "type": "console", "line": "hi", "time": 8.0}
    out = validate_records(copy.deepcopy(recs), 20_000, 256)
    assert out[3]["type"] == "metrics" and out[4]["data"] == {"a\ufffdb": 1.0} and len(out) == 1000
    assert [r["seq"] for r in out] == list(range(1000))


def test_out_of_order_and_repeated_seqs_store_each_once_and_values_match(tmp_path):
    from seetrain.server import series
    from seetrain.server.app import create_app
    from seetrain.server.ingest import ingest_run
    from seetrain.server.settings import Settings

    store = create_app(Settings(db=str(tmp_path / "i.db"), blobs=str(tmp_path / "b"), api_key="")).state.store
    meta = {"uuid": _uuid.uuid4().hex, "project": "p", "id": "r", "name": "r"}
    recs = batch(100)
    recs[10]["data"] = {"loss": 1.0, "acc": 0.5}                        # a second shape of keys
    recs[20] = {"seq": 20, "type": "system", "time": 21.0, "data": {"loss": 9.0}}  # no step: not on the step axis
    first = ingest_run(store, meta, list(reversed(recs[:60])) + recs[:5])  # unsorted, five repeats
    assert (first.stored, first.duplicates, first.last_seq) == (60, 5, 59)
    again = ingest_run(store, meta, recs[50:])                          # overlaps the first batch by ten
    assert (again.stored, again.duplicates, again.last_seq) == (40, 10, 99)
    with store.read() as conn:
        xs, ys = series.load(conn, meta["uuid"], "loss")
        ts, tv = series.load(conn, meta["uuid"], "loss", x="time")
        acc = series.load(conn, meta["uuid"], "acc")
    want = [s for s in range(100) if s != 20]
    assert xs.tolist() == want and ys.tolist() == [1.0 if s == 10 else 1.0 / (s + 1) for s in want]
    assert ts.size == 100 and tv[ts.tolist().index(21.0)] == 9.0
    assert acc[0].tolist() == [10] and acc[1].tolist() == [0.5]
