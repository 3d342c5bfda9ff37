"""The JSON Lines codec: any loggable record round-trips, NaN and infinities included."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from seetrain.rundir import records

keys = st.text(min_size=1, max_size=20)
numbers = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.floats(allow_nan=True, allow_infinity=True))


def _same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(min_value=0, max_value=2**40), step=st.integers(min_value=0, max_value=2**40),
       t=st.floats(min_value=0, max_value=4e9), data=st.dictionaries(keys, numbers, min_size=1, max_size=12))
def test_any_scalar_record_round_trips(seq, step, t, data):
    line = records.encode_record(seq, t, step=step, data=dict(data))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    rec = records.decode_record(line)
    assert rec["seq"] == seq and rec["step"] == step and rec["time"] == t
    assert rec["data"].keys() == data.keys()
    for k, v in data.items():
        assert _same(v, rec["data"][k]), (k, v, rec["data"][k])


@settings(max_examples=100, deadline=None)
@given(cfg=st.dictionaries(keys, st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                                                           st.text(max_size=10), st.floats(allow_nan=False, allow_infinity=False)),
                                                 lambda c: st.lists(c, max_size=3) | st.dictionaries(keys, c, max_size=3),
                                                 max_leaves=10), max_size=6))
def test_config_record_round_trips(cfg):
    rec = records.decode_record(records.encode_record(1, 2.0, config=cfg))
    assert rec["config"] == cfg


def test_media_reference_survives_and_line_is_plain_json():
    import json

    ref = {"_type": "image", "path": "media/x/0_1.png", "width": 4, "height": 2}
    line = records.encode_record(1, 3.0, step=0, data={"img": ref, "loss": float("nan")})
    parsed = json.loads(line)  # standard JSON, readable by any tool
    assert parsed["data"]["loss"] == "NaN"
    assert records.decode_record(line)["data"]["img"] == ref


def test_torn_line_is_an_error():
    line = records.encode_record(1, 3.0, step=0, data={"loss": 1.0})
    try:
        records.decode_record(line[:-9])
    except Exception as exc:
        assert "JSON" in type(exc).__name__ or isinstance(exc, ValueError)
    else:
        raise AssertionError("a torn line decoded")


def _flat(prefix, d, out):
    for k, v in d.items():
        key = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            _flat(key, v, out)
        else:
            out[key] = v
    return out


nested = st.recursive(numbers | st.booleans(), lambda c: st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), c,
                                                                         min_size=1, max_size=3), max_leaves=8)


@settings(max_examples=40, deadline=None)
@given(data=st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), nested, min_size=1, max_size=5))
def test_any_loggable_dict_round_trips_through_a_run(tmp_path_factory, data):
    import seetrain

    run = seetrain.init(project="prop", logdir=str(tmp_path_factory.mktemp("logs")), system_metrics=False)
    run.log(data)
    run.finish()
    got = seetrain.read_run(run.dir).summary()
    want = {k: (int(v) if isinstance(v, bool) else v) for k, v in _flat("", data, {}).items()}
    assert got.keys() == want.keys()
    for k in want:
        assert _same(want[k], got[k]), (k, want[k], got[k])


def test_huge_int_is_kept_as_float():
    rec = records.decode_record(records.encode_record(1, 1.0, step=0, data={"big": 2**70, "x": 1}))
    assert rec["data"] == {"big": float(2**70), "x": 1}
