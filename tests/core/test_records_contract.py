"""What the run directory keeps of values JSON has no place for (mutation survivors of
``rundir/records.py`` and ``rundir/writer.py``): integers beyond 64 bits and beyond any float,
keys that are not text, and one warning per key that names it."""

import decimal
import warnings

import seetrain


class _NoStr:
    """A key whose ``str()`` fails: it is stored as ``<unprintable _NoStr>``."""

    def __str__(self) -> str:
        raise RuntimeError("no text for this key")


def test_integers_past_64_bits_and_past_any_float_read_back_with_their_sign(logdir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = seetrain.init(project="p", system_metrics=False,
                            config={"huge": 10**400, "tiny": -10**400, "big": -2**70})
        run.log({"huge": 10**400, "tiny": -10**400, "big": 2**70, "neg": -2**70})
        run.finish()
    r = seetrain.read_run(run.dir)
    assert r.config["big"] == -float(2**70)
    assert (r.config["huge"], r.config["tiny"]) == ("Infinity", "-Infinity")  # config keeps JSON's tags
    assert (r.scalars("big").values, r.scalars("neg").values) == ([float(2**70)], [-float(2**70)])


def test_keys_that_are_not_text_are_stored_as_their_text(logdir):
    config = {1: "int", (1, 2): "tuple", decimal.Decimal("1.5"): "decimal", _NoStr(): "repr"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = seetrain.init(project="p", system_metrics=False, config={"nested": config})
        run.finish()
    assert seetrain.read_run(run.dir).config["nested"] == {"1": "int", "(1, 2)": "tuple", "1.5": "decimal",
                                                            "<unprintable _NoStr>": "repr"}


def test_a_value_stored_differently_is_reported_once_per_key_naming_it(logdir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = seetrain.init(project="p", system_metrics=False)
        for i in range(3):
            run.log({"a": 2**70 + i, "ok": 1.0})
        run.log({"b": -2**70, "ok": 1.0})
        run.finish()
    said = [str(w.message) for w in caught if "beyond 64 bits" in str(w.message)]
    assert len(said) == 2 and any("'a'" in m for m in said) and any("'b'" in m for m in said), said
    assert seetrain.read_run(run.dir).scalars("a").values == [float(2**70 + i) for i in range(3)]


def test_a_json_line_that_is_not_a_record_is_refused_as_a_torn_line_is():
    """Readers skip what ``decode_record`` refuses with ``ValueError`` (a torn or foreign line): valid
    JSON that is not a record (no ``seq``, not an object) is refused the same way, naming the line,
    never with another exception a reader would not catch."""
    import orjson
    import pytest

    from seetrain.rundir.records import decode_record

    for line in (b'{"time": 1.0, "data": {"loss": 1}}', b"[1, 2]", b'"seq"', b"7"):
        with pytest.raises(ValueError) as refused:
            decode_record(line)
        assert isinstance(refused.value, orjson.JSONDecodeError)
        assert (refused.value.msg, refused.value.doc, refused.value.pos) == ("not a SeeTrain record", line.decode(), 0)


def test_a_config_record_round_trips_with_its_seq_and_time():
    from seetrain.rundir.records import decode_record, encode_record

    rec = decode_record(encode_record(41, 12.5, config={"lr": 0.1, "layers": [2, 3]}))
    assert (rec["seq"], rec["time"], rec["type"], rec["config"]) == (41, 12.5, "config", {"lr": 0.1, "layers": [2, 3]})
    assert decode_record(encode_record(42, 13.0))["config"] == {}


def test_decoding_turns_only_the_non_finite_tags_back_and_leaves_other_text_and_shapes_alone():
    """A summary's text values stay text; only ``"NaN"``/``"Infinity"``/``"-Infinity"`` become floats;
    a record whose ``data`` is not an object (a foreign line) is handed on as it is, not a crash."""
    import math

    from seetrain.rundir.records import decode_record

    rec = decode_record(b'{"seq":1,"time":1.0,"type":"summary","summary":{"best":"resnet","x":"NaN","y":"-Infinity"}}')
    assert rec["summary"]["best"] == "resnet" and math.isnan(rec["summary"]["x"]) and rec["summary"]["y"] == -math.inf
    assert decode_record(b'{"seq":2,"time":1.0,"data":{"tag":"Infinity","name":"run a"}}') == {
        "seq": 2, "time": 1.0, "type": "metrics", "data": {"tag": math.inf, "name": "run a"}}
    assert decode_record(b'{"seq":3,"time":1.0,"type":"metrics","data":[1,2]}')["data"] == [1, 2]


def test_metrics_the_slow_path_repairs_are_stored_and_reported_by_name():
    """``encode_metrics``' careful path: a key that is not text is stored as its text, a key with a lone
    surrogate is repaired and reported under its stored name (the message quoting the key as given),
    the largest integer JSON keeps (64 bits unsigned) stays an integer, one past it becomes a float, one past any float
    is skipped, each reported once by name with what happened; a system line is typed ``system``."""
    import math

    from seetrain.rundir.records import decode_record, encode_metrics

    got = []
    line, stored = encode_metrics(3, 2.5, 7, {7: 1.5, "ok\ud800": 2.0, "max": 2**64 - 1, "past": 2**64,
                                              "huge": 10**400, "nan": math.nan}, problem=lambda k, m: got.append((k, m)))
    rec = decode_record(line)
    assert (rec["seq"], rec["time"], rec["step"], rec["type"]) == (3, 2.5, 7, "metrics")
    assert rec["data"] == {"7": 1.5, "ok\ufffd": 2.0, "max": 2**64 - 1, "past": float(2**64), "nan": rec["data"]["nan"]}
    assert math.isnan(rec["data"]["nan"]) and type(rec["data"]["max"]) is int
    assert got == [
        ("7", "metric key 7 is not text; stored as '7'"),
        ("ok\ufffd", "metric key 'ok\\ud800' is not valid UTF-8 (a lone surrogate); stored as 'ok\ufffd'"),
        ("past", "'past' is an integer beyond 64 bits; stored as a float (low digits lost)"),
        ("huge", "'huge': an integer of 401 digits cannot be stored as a number; it was skipped. "
                 "Log it as a float or a string (Text)")]
    system = decode_record(encode_metrics(4, 3.0, 0, {"cpu": 12.5}, kind="system")[0])
    assert (system["seq"], system["time"], system["type"], system["data"]) == (4, 3.0, "system", {"cpu": 12.5})


def test_sanitize_keeps_each_kind_of_value_as_its_docstring_says():
    """``sanitize`` (config, summary and event values): each kind of value as stored, checked one by
    one against what the docstring promises (the survivors of its mutation run)."""
    import enum
    import fractions
    import math as _math

    import numpy as np

    from seetrain.rundir.records import MAX_DEPTH, sanitize

    class Level(enum.IntEnum):
        HIGH = 3

    class Ratio(float):
        pass

    class Flag(int):  # an int subclass whose int() fails: its text instead
        def __int__(self):
            raise RuntimeError("no")

        def __index__(self):
            raise RuntimeError("no")

        def __str__(self):
            return "flag"

    class Odd(float):  # a float subclass whose float() fails: its text instead
        def __float__(self):
            raise RuntimeError("no")

        def __str__(self):
            return "odd"

    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")

    assert sanitize(None) is None and sanitize(True) is True and sanitize(False) is False
    assert sanitize(2**64 - 1) == 2**64 - 1 and sanitize(-(2**63)) == -(2**63)   # the 64-bit edges stay ints
    assert type(sanitize(2**64 - 1)) is int and type(sanitize(-(2**63))) is int
    assert sanitize(2**64) == float(2**64) and sanitize(-(2**63) - 1) == float(-(2**63) - 1)
    assert sanitize(float("nan")) == "NaN" and sanitize(float("inf")) == "Infinity" and sanitize(1.5) == 1.5
    assert sanitize("a\ud800b") == "a\ufffdb"
    assert sanitize({"k\ud800": 1, 7: "x", (1, 2): None}) == {"k\ufffd": 1, "7": "x", "(1, 2)": None}
    assert sanitize((1, [2, {3}], frozenset([4]))) == [1, [2, [3]], [4]]
    assert sanitize(np.bool_(True)) is True and sanitize(Level.HIGH) == 3 and type(sanitize(Level.HIGH)) is int
    assert sanitize(Ratio(0.25)) == 0.25 and type(sanitize(Ratio(0.25))) is float
    assert sanitize(Ratio("nan")) == "NaN"
    assert sanitize(Flag(5)) == "flag" and sanitize(Odd(1.0)) == "odd"
    assert sanitize(np.int64(7)) == 7 and type(sanitize(np.int64(7))) is int
    assert sanitize(np.float32(0.5)) == 0.5 and sanitize(np.float64("inf")) == "Infinity"
    assert sanitize(np.longdouble(0.5)) == 0.5 and type(sanitize(np.longdouble(0.5))) is float
    assert sanitize(decimal.Decimal("0.125")) == 0.125 and sanitize(fractions.Fraction(1, 4)) == 0.25
    assert sanitize(decimal.Decimal("sNaN")) == "sNaN"  # a signaling NaN cannot become a float: its text
    assert sanitize(object).startswith("<class") and sanitize(Unprintable()).startswith("<")
    deep = cut = []
    for _ in range(MAX_DEPTH + 5):
        cut.append([])
        cut = cut[0]
    out, depth = sanitize(deep), 0
    while isinstance(out, list) and out:
        out, depth = out[0], depth + 1
    assert depth == MAX_DEPTH and out == f"<cut: nested deeper than {MAX_DEPTH} levels>"
    deep = inner = {}
    for _ in range(MAX_DEPTH + 5):
        inner["k"] = {}
        inner = inner["k"]
    out, depth = sanitize(deep), 0
    while isinstance(out, dict):
        out, depth = out["k"], depth + 1
    assert depth == MAX_DEPTH and out == f"<cut: nested deeper than {MAX_DEPTH} levels>"
    assert _math.isfinite(sanitize(np.float16(2.0)))
