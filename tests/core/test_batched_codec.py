"""The batched codec paths: the writer encodes runs of metrics records in one call and the reader
decodes a block of lines in one call. Both must give exactly what the record-by-record paths
give, and fall back to them on anything unusual."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import seetrain
from seetrain.rundir import records
from seetrain.rundir.reader import read_records

keys = st.text(min_size=1, max_size=12)
numbers = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats())


def _same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.dictionaries(keys, numbers, min_size=1, max_size=6), min_size=1, max_size=8))
def test_batch_encoding_equals_record_by_record(rows):
    items = [(0, seq, 1764079200.0 + seq / 7, seq * 3, row) for seq, row in enumerate(rows)]
    parts = records.encode_metrics_batch(items)
    single = b"".join(records.encode_metrics(seq, t, step, dict(row))[0] for _, seq, t, step, row in items)
    if parts is None:  # a non-finite float, an odd key (or "null" in a key): the careful path takes the run
        assert any(isinstance(v, float) and not math.isfinite(v) for row in rows for v in row.values()) \
            or any(key != key.encode("utf-8", "replace").decode() or "null" in key for row in rows for key in row)
        return
    batch = b"".join(parts)
    assert batch == single
    assert batch.count(b"\n") == len(rows) and batch.endswith(b"\n")


def test_one_drain_of_mixed_records_keeps_every_seq_value_and_summary(tmp_path):
    """One writer batch holding plain metrics, NaN, an int beyond 64 bits, config and summary
    records: every seq once and in order, every value as the single-record path stores it."""
    run = seetrain.init(project="p", logdir=str(tmp_path), system_metrics=False, console="off",
                        flush_interval=1000)  # nothing drains before finish(): one batch
    for step in range(300):
        row = {"loss": 1.0 / (step + 1), "acc": step / 300}
        if step == 100:
            row["loss"] = float("nan")
        if step == 200:
            row["big"] = 2**70
        if step == 150:
            run.config.update({"lr": 0.01})
            run.summary["best"] = 0.5
        run.log(row)
    run.finish()
    recs = read_records(run.dir).records
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    metrics = [r for r in recs if r["type"] == "metrics"]
    assert [r["step"] for r in metrics] == list(range(300))
    assert math.isnan(metrics[100]["data"]["loss"]) and metrics[101]["data"]["loss"] == 1.0 / 102
    assert metrics[200]["data"]["big"] == float(2**70)
    assert metrics[299]["data"] == {"loss": 1.0 / 300, "acc": 299 / 300}
    assert [r["config"] for r in recs if r["type"] == "config"][-1] == {"lr": 0.01}
    summary = seetrain.read_run(run.dir).summary()
    assert summary["loss"] == 1.0 / 300 and summary["big"] == float(2**70) and summary["best"] == 0.5


def test_a_block_mixing_formats_and_foreign_lines_decodes_each_line(tmp_path):
    """Format-2 lines, a line from before format 2, a record whose first key is not seq, and a
    NaN tag, in one block: each comes back typed, in order, nothing counted corrupt."""
    lines = [b'{"seq":0,"time":1.0,"type":"metrics","step":0,"data":{"Loss":0.5}}',
             b'{"seq":1,"time":2.0,"step":1,"data":{"loss":"NaN"}}',
             b'{"time":3.0,"seq":2,"type":"metrics","step":2,"data":{"loss":0.25}}',
             b'{"seq":3,"time":4.0,"type":"console","stream":"stdout","line":"a\\n{\\"seq\\":9}"}']
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    chunk = read_records(str(path))
    assert chunk.corrupt == 0 and chunk.next_offset == path.stat().st_size
    assert [r["seq"] for r in chunk.records] == [0, 1, 2, 3]
    assert [r["type"] for r in chunk.records] == ["metrics", "metrics", "metrics", "console"]
    assert math.isnan(chunk.records[1]["data"]["loss"]) and chunk.records[2]["data"] == {"loss": 0.25}
    assert chunk.records[3]["line"] == 'a\n{"seq":9}'


def test_summary_of_one_batch_keeps_keys_the_last_record_lacks(tmp_path):
    run = seetrain.init(project="p", logdir=str(tmp_path), system_metrics=False, console="off",
                        flush_interval=1000)
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1), **({"val/acc": step / 100} if step % 10 == 4 else {})})
    run.log({"lr": 0.5})
    run.finish()
    summary = seetrain.read_run(run.dir).summary()
    assert summary == {"loss": 1.0 / 50, "val/acc": 44 / 100, "lr": 0.5}
