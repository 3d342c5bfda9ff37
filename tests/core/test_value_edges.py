"""Values at the edges: a stored value or one warning naming the key; log() never raises."""

import json
import os
import warnings

import pytest

import seetrain
from tests.core._scripts import lines, meta


def _log_and_read(logdir, *rows, **init):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = seetrain.init(project="p", system_metrics=False, **init)
        for row in rows:
            run.log(row)
        run.finish()
    msgs = [str(w.message) for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)]
    return run, msgs


def test_ints_beyond_64_bits_keep_their_neighbours_exact(logdir):
    run, msgs = _log_and_read(logdir, {"big": 2**64, "exact": 2**53 + 1, "small": 3, "f": 0.5},
                              {"big": 2**64, "exact": 2**53 + 3})
    data = [r["data"] for r in lines(run.dir) if r["type"] == "metrics"]
    assert data[0]["exact"] == 2**53 + 1 and type(data[0]["exact"]) is int and data[0]["small"] == 3
    assert data[0]["big"] == float(2**64) and data[1]["exact"] == 2**53 + 3
    assert sum("'big'" in m and "64 bits" in m for m in msgs) == 1  # one warning, naming the key
    assert meta(run.dir)["status"] == "success"


def test_int_too_large_for_a_float_is_skipped_with_a_warning(logdir):
    run, msgs = _log_and_read(logdir, {"huge": 10**400, "ok": 1.5})
    assert [r["data"] for r in lines(run.dir) if r["type"] == "metrics"] == [{"ok": 1.5}]
    assert any("'huge'" in m and "skipped" in m for m in msgs)
    m = meta(run.dir)  # run.json stays writable and final
    assert m["status"] == "success" and m["summary"] == {"ok": 1.5}


def test_lone_surrogate_key_is_repaired_and_named(logdir):
    run, msgs = _log_and_read(logdir, {"bad\udc80key": 1.0, "ok": 2.0})
    data = [r["data"] for r in lines(run.dir) if r["type"] == "metrics"][0]
    assert data == {"bad\ufffdkey": 1.0, "ok": 2.0}
    assert any("surrogate" in m for m in msgs)
    assert meta(run.dir)["status"] == "success"


def test_config_with_unstorable_values_keeps_run_json_writable(logdir):
    deep = {}
    node = deep
    for _ in range(5000):
        node["d"] = {}
        node = node["d"]
    run = seetrain.init(project="p", system_metrics=False,
                        config={"huge": 10**400, "k\udc80": 1, "deep": deep, "ok": 1})
    run.config.update({"more": 2**70})
    run.log({"x": 1})
    run.finish()
    m = meta(run.dir)
    assert m["status"] == "success" and m["config"]["ok"] == 1 and "more" in m["config"]
    assert [r["type"] for r in lines(run.dir)].count("config") == 2


class Unreprable:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __hash__(self):
        return 1


class BadFloat(float):
    def __float__(self):
        raise ValueError("no float")


def test_hostile_values_never_raise_into_the_loop(logdir):
    deep = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    node["leaf"] = 1.0
    run, msgs = _log_and_read(logdir, {"deep": deep, "ok": 1.0}, {Unreprable(): 1.0, "ok": 2.0},
                              {"bad": BadFloat(1.0), "ok": 3.0})
    oks = [r["data"]["ok"] for r in lines(run.dir) if r["type"] == "metrics"]
    assert oks == [1.0, 2.0, 3.0]
    assert any("nested" in m and "'deep/a" in m for m in msgs)
    assert any("failing __repr__" in m for m in msgs)
    assert any("'bad'" in m for m in msgs)


def test_numpy_and_torch_integer_steps_are_accepted(logdir):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    run, msgs = _log_and_read(logdir, {})
    run = seetrain.init(project="p", system_metrics=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", seetrain.SeeTrainWarning)
        run.log({"a": 1.0}, step=np.int64(5))
        run.log({"a": 2.0}, step=torch.tensor(9))
        run.log({"a": 3.0}, step=np.uint8(12))
    run.finish()
    assert [r["step"] for r in lines(run.dir) if r["type"] == "metrics"] == [5, 9, 12]


def test_strict_mode_reports_writer_problems_at_the_next_call(logdir):
    run = seetrain.init(project="p", strict=True, system_metrics=False)
    run.log({"huge": 10**400})
    run.flush()
    with pytest.raises(seetrain.SeeTrainError, match="'huge'"):
        run.log({"x": 1.0})
    run.log({"x": 2.0})  # reported once; logging goes on
    run.finish()
    # the call whose only value was skipped keeps its seq as an empty record (seqs stay gap-free)
    assert [r["data"] for r in lines(run.dir) if r["type"] == "metrics"] == [{}, {"x": 2.0}]


def test_warnings_are_recorded_as_events(logdir):
    run, msgs = _log_and_read(logdir, {"obj": object(), "x": 1.0})
    events = [r for r in lines(run.dir) if r["type"] == "event" and r["event"] == "warning"]
    assert events and events[0]["key"] == "obj" and "cannot log" in events[0]["message"]
    json.dumps(events)
    assert os.path.isfile(os.path.join(run.dir, "run.json"))
