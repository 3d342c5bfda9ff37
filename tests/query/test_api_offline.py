"""seetrain.Api over a log directory: the same runs, config, summary, history and media as
read_run; the dashboard's filter language, sorting, limits; downsampling that keeps a spike, the
same with NumPy or without; plain Python by default, frames when asked."""

from __future__ import annotations

import math
import os

import pytest

import seetrain
from seetrain.api import history as hist
from tests.query.sweep import LRS, STEPS, expected_points


def same_floats(a, b):
    return len(a) == len(b) and all((x != x and y != y) or x == y for x, y in zip(a, b))


@pytest.fixture(scope="module")
def api(sweep):
    return seetrain.Api(logdir=sweep)


def test_runs_are_the_reader_runs(api, sweep):
    got = {r.uuid: r for r in api.runs()}
    readers = {r.uuid: r for r in seetrain.list_runs(sweep)}
    assert set(got) == set(readers)
    for uuid, r in got.items():
        rr = readers[uuid]
        assert (r.id, r.name, r.project, r.status, r.exit_code, r.path) == (rr.id, rr.name, rr.project, rr.status,
                                                                           rr.exit_code, rr.path)
        assert r.config == rr.config and r.summary.keys() == rr.summary().keys()
        assert all(same_floats([v], [rr.summary()[k]]) for k, v in r.summary.items() if isinstance(v, float))


def test_history_full_resolution_equals_read_run(api, sweep):
    readers = {r.name: r for r in seetrain.list_runs(sweep, project="sweep")}
    for i in range(len(LRS)):
        run = api.run(f"lr{i}")
        h = run.history()  # every scalar key
        assert set(h) == {"train/loss", "val/acc", "odd"}
        for key, values in expected_points(i).items():
            s = readers[f"lr{i}"].scalars(key)
            assert same_floats(h[key].y, values) and same_floats(h[key].y, [float(v) for v in s.values])
            assert h[key].x == [float(x) for x in s.steps] and not h[key].downsampled and h[key].total == len(values)
        assert h["odd"].x == [STEPS, STEPS + 1, STEPS + 2] and math.isinf(h["odd"].y[2]) and h["odd"].y[2] < 0
        by_time = run.history("val/acc", x="time")["val/acc"]
        assert by_time.x == list(readers[f"lr{i}"].scalars("val/acc").times)


def test_downsampled_history_keeps_the_spike_and_the_ends(api):
    run = api.run("lr2")
    h = run.history("val/acc", points=8)["val/acc"]
    assert h.downsampled and h.total == STEPS and len(h.x) <= 8
    assert h.x[0] == 0 and h.x[-1] == STEPS - 1 and max(h.ymax) == max(expected_points(2)["val/acc"])
    assert run.history("val/acc", points=8, with_minmax=False)["val/acc"].ymin is None


def test_downsampling_is_the_same_with_and_without_numpy():
    pytest.importorskip("numpy")
    xs = [float(i) for i in range(1000)]
    ys = [math.sin(i / 7.0) for i in range(1000)]
    ys[321], ys[600], ys[601] = 50.0, math.nan, -40.0  # a spike, a NaN, a dip
    for points in (4, 8, 40, 999):
        py, np_ = hist._downsample_py(xs, ys, points), hist._downsample_np(xs, ys, points)
        assert all(same_floats(a, b) for a, b in zip(py, np_)), points
    x, y, lo, hi = hist._downsample_py(xs, ys, 40)
    assert 50.0 in y and -40.0 in y and max(hi) == 50.0 and min(lo) == -40.0


def test_filter_language_sort_and_limit(api):
    assert [r.name for r in api.runs(filter="lr>0.0005 and opt.name=adam", sort="config.lr")] == ["lr1", "lr0"]
    assert [r.name for r in api.runs(filter="summary.val/acc>=0.9", sort="-summary.val/acc")] == ["lr2", "lr1"]
    assert [r.name for r in api.runs(filter="tag in (t0, t2)", sort="name")] == ["lr0", "lr2"]
    assert [r.name for r in api.runs(sort="-config.lr", limit=2)] == ["solo", "lr0"]
    assert [r.name for r in api.runs(project="sweep", filter=lambda r: r.config["flag"])] == ["lr1"]
    assert [r.name for r in api.runs(filter="status!=success")] == []


@pytest.mark.parametrize("call,message", [
    (lambda a: a.runs(filter="lr >"), "expected a value"),
    (lambda a: a.runs(sort="colour"), "sort by one of"),
    (lambda a: a.runs(limit=0), "positive number of runs"),
    (lambda a: a.run("lr0").history("val/acc", x="epoch"), "give 'step' or 'time'"),
    (lambda a: a.run("lr0").history("val/acc", points=-3), "positive number of points"),
])
def test_bad_arguments_say_what_to_do(api, call, message):
    with pytest.raises(ValueError) as err:
        call(api)
    assert message in str(err.value)


def test_run_by_each_kind_of_reference(api, sweep):
    r = api.run("lr1")
    for ref in (r.uuid, f"sweep/{r.id}", r.id, r.path):
        assert api.run(ref).uuid == r.uuid
    with pytest.raises(LookupError) as err:
        api.run("no-such-run")
    assert "no run 'no-such-run'" in str(err.value)


def test_media_events_console(api):
    run = api.run("lr0")
    (img,) = run.media("samples")
    assert img["type"] == "image" and img["caption"] == "img0" and img["step"] == 3 and os.path.isfile(img["path"])
    assert {m["key"] for m in run.media()} == {"samples", "notes"}
    assert [e["event"] for e in run.events()][:1] == ["start"] and run.events()[-1]["event"] == "finish"
    assert [c["line"] for c in run.console()] == ["hello from run 0"]


def test_plain_python_by_default_frames_when_asked(api):
    h = api.run("lr0").history(["val/acc", "odd"])
    assert isinstance(h["val/acc"].y, list) and h.rows()[0] == {"key": "val/acc", "step": 0.0, "value": 0.0,
                                                               "min": 0.0, "max": 0.0}
    pd = pytest.importorskip("pandas")
    df = h.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == STEPS + 3 and list(df.columns) == ["key", "step", "value",
                                                                                          "min", "max"]
    runs = api.runs(project="sweep", sort="name").to_pandas()
    assert list(runs["name"]) == ["lr0", "lr1", "lr2"] and list(runs["config.lr"]) == LRS


def test_frames_name_the_missing_package(api, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pandas(name, *a, **kw):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    monkeypatch.delitem(__import__("sys").modules, "pandas", raising=False)
    with pytest.raises(ImportError) as err:
        api.run("lr0").history("val/acc").to_pandas()
    assert "pip install" in str(err.value) and "pandas" in str(err.value)


def test_import_stays_light():
    """`import seetrain` loads no part of the API; `seetrain.Api` over a logdir loads no DuckDB,
    Arrow, NumPy or pandas until a frame or a query asks for them."""
    from tests._child import run_python

    code = ("import sys, seetrain; before = {m for m in ('seetrain.api', 'seetrain.query') if m in sys.modules}; "
            "api = seetrain.Api(logdir='.'); api.runs(); "
            "heavy = {m for m in ('duckdb', 'pyarrow', 'numpy', 'pandas', 'polars', 'seetrain.server') if m in sys.modules}; "
            "print(sorted(before), sorted(heavy))")
    res = run_python(["-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[] []"
