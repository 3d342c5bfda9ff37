"""`seetrain query` offline: every documented table against what the SDK wrote (nested config,
tags, NaN and infinities, media, console, a multi-run sweep), and against read_run."""

from __future__ import annotations

import math

import pytest

import seetrain
from tests.query.sweep import LRS, STEPS, expected_points

pytest.importorskip("duckdb", reason="seetrain query needs the query extra: pip install -e '.[query]'")
pytest.importorskip("pyarrow", reason="seetrain query needs the query extra: pip install -e '.[query]'")

from seetrain.query import run_query  # noqa: E402


def q(sql, logdir, **kw):
    return run_query(sql, logdir=logdir, **kw)


def by_name(logdir):
    """{experiment name: RunReader} of the sweep project."""
    return {r.name: r for r in seetrain.list_runs(logdir, project="sweep")}


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) if isinstance(a, float) and a != a else a == b


def test_runs_table(sweep):
    res = q("SELECT run, project, id, name, status, exit_code, tags, start_time <= end_time AS ordered, "
            "duration >= 0 AS positive FROM runs ORDER BY project, name", sweep)
    readers = {r.name: r for r in seetrain.list_runs(sweep)}
    assert [r[3] for r in res.rows] == ["solo", "lr0", "lr1", "lr2"]
    for run, project, rid, name, status, code, tags, ordered, positive in res.rows:
        r = readers[name]
        assert (run, project, rid, status, code) == (r.uuid, r.project, r.id, "success", 0)
        assert ordered and positive
        if project == "sweep":
            assert tags == ["sweep", f"t{name[-1]}"]


def test_config_table_flattens_nested_values(sweep):
    runs = by_name(sweep)
    res = q("SELECT r.name, c.key, c.value, c.number FROM config c JOIN runs r USING (run) "
            "WHERE r.project = 'sweep' ORDER BY r.name, c.key", sweep)
    got = {(n, k): (v, num) for n, k, v, num in res.rows}
    for i, lr in enumerate(LRS):
        name = f"lr{i}"
        assert got[(name, "lr")] == (repr(lr), lr)
        assert got[(name, "opt.name")] == ("adam", None)
        assert got[(name, "opt.betas")] == ("[0.9,0.99]", None)
        assert got[(name, "flag")] == ("true" if i == 1 else "false", None)  # a boolean is not a number
        assert runs[name].config["opt"]["name"] == "adam"


def test_summary_table_matches_read_run_with_non_finite(sweep):
    runs = by_name(sweep)
    res = q("SELECT r.name, s.key, s.value, s.number FROM summary s JOIN runs r USING (run) "
            "WHERE r.project = 'sweep'", sweep)
    got = {(n, k): (v, num) for n, k, v, num in res.rows}
    for name, r in runs.items():
        for key, v in r.summary().items():
            if isinstance(v, (int, float)):
                assert same(got[(name, key)][1], float(v)), (name, key)
    assert got[("lr0", "odd")] == ("-Infinity", -math.inf)


def test_metrics_table_full_resolution_with_nan_and_inf(sweep):
    res = q("SELECT r.name, m.key, m.step, m.value, m.time FROM metrics m JOIN runs r USING (run) "
            "WHERE r.project = 'sweep' ORDER BY r.name, m.key, m.step", sweep)
    rows = {}
    for name, key, step, value, t in res.rows:
        rows.setdefault((name, key), []).append((step, value, t))
    runs = by_name(sweep)
    for i in range(len(LRS)):
        name = f"lr{i}"
        for key, values in expected_points(i).items():
            got = rows[(name, key)]
            assert all(same(a, b) for a, b in zip([v for _, v, _ in got], values)) and len(got) == len(values)
            s = runs[name].scalars(key)
            assert [st for st, _, _ in got] == list(s.steps) and [t for _, _, t in got] == list(s.times)
    assert [st for st, _, _ in rows[("lr1", "odd")]] == [STEPS, STEPS + 1, STEPS + 2]


def test_the_issue_query_best_value_per_run(sweep):
    res = q("SELECT run, max(value) FROM metrics WHERE key='val/acc' GROUP BY run ORDER BY 2", sweep)
    runs = {r.uuid: r for r in seetrain.list_runs(sweep)}
    assert len(res.rows) == 4
    for run, best in res.rows:
        assert best == max(runs[run].scalars("val/acc").values)


def test_events_console_and_media_tables(sweep):
    runs = by_name(sweep)
    ev = q("SELECT r.name, e.event, e.seq FROM events e JOIN runs r USING (run) WHERE r.name = 'lr1' ORDER BY seq",
           sweep)
    assert [e for _, e, _ in ev.rows] == [e["event"] for e in runs["lr1"].events]
    con = q("SELECT r.name, c.stream, c.line FROM console c JOIN runs r USING (run) ORDER BY r.name", sweep)
    assert ("lr2", "stdout", "hello from run 2") in con.rows
    med = q("SELECT r.name, m.key, m.step, m.type, m.path, m.caption FROM media m JOIN runs r USING (run) "
            "WHERE r.project = 'sweep' ORDER BY r.name, m.key", sweep)
    assert len(med.rows) == 6
    for name, key, step, typ, path, caption in med.rows:
        ref = runs[name].media(key)[0]
        assert (step, typ, caption) == (3, ref["type"], ref.get("caption"))
        assert ref["path"].endswith(path) and path.startswith("media/")
    assert {(n, k, t) for n, k, _, t, _, _ in med.rows} >= {("lr0", "samples", "image"), ("lr0", "notes", "text")}


def test_project_option_keeps_one_project(sweep):
    res = q("SELECT DISTINCT project FROM runs", sweep, project="other")
    assert res.rows == [("other",)]


def test_row_limit_cuts_and_says_so(sweep):
    res = q("SELECT * FROM metrics", sweep, max_rows=7)
    assert len(res.rows) == 7 and res.truncated
    assert not q("SELECT * FROM metrics LIMIT 7", sweep, max_rows=7).truncated
