"""Rewind (``init(resume_from=STEP)``) and fork (``init(fork_from=(RUN, STEP))``) as every local
reader sees them: read_run, seetrain.Api, the query tables; the superseded points on request."""

from __future__ import annotations

import json
import os

import pytest

import seetrain

QUIET = dict(system_metrics=False, console="off")


def _log(run, steps, value):
    for s in steps:
        run.log({"loss": value(s), "img_free": float(s)}, step=s)


def _rewound(logdir: str, interrupted_at: int = 160, resume_at: int = 137) -> str:
    """A run logged to ``interrupted_at``, then resumed from ``resume_at`` to 199 with other values."""
    r = seetrain.init(project="p", id="a", logdir=logdir, **QUIET)
    _log(r, range(interrupted_at + 1), lambda s: float(s))
    r.finish()
    r = seetrain.init(project="p", id="a", logdir=logdir, resume_from=resume_at, **QUIET)
    _log(r, range(resume_at + 1, 200), lambda s: 1000.0 + s)
    r.finish()
    return os.path.join(logdir, "p", "a")


def test_rewind_reader_shows_one_point_per_step_and_the_superseded_tail(tmp_path):
    path = _rewound(str(tmp_path))
    run = seetrain.read_run(path)
    s = run.scalars("loss")
    assert list(s.steps) == list(range(200))
    assert list(s.values) == [float(i) for i in range(138)] + [1000.0 + i for i in range(138, 200)]
    sup = run.scalars("loss", superseded=True)
    assert list(sup.steps) == list(range(138, 161)) and list(sup.values) == [float(i) for i in range(138, 161)]
    assert [r.step for r in run.rows(["loss"])] == list(range(200))
    assert run.summary()["loss"] == 1199.0 and run.last_step == 199
    assert [(r["step"]) for r in run.rewinds] == [137]
    # never deleted: the log still holds every point logged
    with open(os.path.join(path, "records.jsonl"), "rb") as f:
        lines = [json.loads(x) for x in f]
    assert sum(1 for r in lines if r["type"] == "metrics") == 161 + 62
    kinds = [r["type"] for r in lines]
    assert kinds.count("rewind") == 1
    seqs = [r["seq"] for r in lines]
    assert seqs == list(range(len(seqs)))  # the rewind is one more record with its seq, gap-free


def test_rewind_live_reader_refresh_and_a_second_rewind(tmp_path):
    path = _rewound(str(tmp_path))
    run = seetrain.read_run(path)
    assert len(run.scalars("loss").steps) == 200
    r = seetrain.init(project="p", id="a", logdir=str(tmp_path), resume_from=20, **QUIET)
    r.log({"loss": -1.0})  # the next automatic step follows the rewind
    r.finish()
    run.refresh()
    s = run.scalars("loss")
    assert list(s.steps) == list(range(22)) and s.values[-1] == -1.0
    assert sorted(run.scalars("loss", superseded=True).steps) == sorted(list(range(138, 161)) + list(range(21, 200)))


def test_rewind_api_and_query_tables(tmp_path):
    _rewound(str(tmp_path))
    api = seetrain.Api(logdir=str(tmp_path))
    run = api.run("p/a")
    h = run.history("loss")["loss"]
    assert list(h.x) == list(range(200)) and h.y[150] == 1150.0
    sup = run.history("loss", superseded=True)["loss"]
    assert list(sup.x) == list(range(138, 161))
    pytest.importorskip("duckdb")
    from seetrain.query.local import query_logdir

    res = query_logdir("SELECT step, value FROM metrics WHERE key = 'loss' ORDER BY step", str(tmp_path), None,
                       60, 100_000)
    assert [r[0] for r in res.rows] == list(range(200)) and res.rows[150][1] == 1150.0


def test_rewind_refuses_a_run_that_does_not_exist_and_a_bad_step(tmp_path):
    with pytest.raises(ValueError, match="resume"):
        seetrain.init(project="p", id="nope", logdir=str(tmp_path), resume_from=3, **QUIET)
    with pytest.raises(ValueError, match="non-negative integer"):
        seetrain.init(project="p", id="nope", logdir=str(tmp_path), resume_from=-1, **QUIET)


def test_fork_history_equals_the_parent_to_step_then_its_own(tmp_path):
    parent_path = _rewound(str(tmp_path))
    before = {n: open(os.path.join(parent_path, n), "rb").read() for n in ("run.json", "records.jsonl")}
    child = seetrain.init(project="p", id="child", logdir=str(tmp_path), fork_from=("a", 150),
                          config={"lr": 0.5}, **QUIET)
    _log(child, range(151, 171), lambda s: -float(s))
    child.finish()
    parent, kid = seetrain.read_run(parent_path), seetrain.read_run(child.dir)
    ps, ks = parent.scalars("loss"), kid.scalars("loss")
    assert list(ks.steps) == list(range(171))
    assert list(ks.values[:151]) == list(ps.values[:151])  # the parent's rewound history, to step 150
    assert list(ks.times[:151]) == list(ps.times[:151])
    assert list(ks.values[151:]) == [-float(s) for s in range(151, 171)]
    assert kid.fork_from == {"id": "a", "project": "p", "uuid": parent.uuid, "step": 150}
    assert kid.config["lr"] == 0.5
    with open(os.path.join(child.dir, "run.json")) as f:
        assert json.load(f)["fork_from"]["uuid"] == parent.uuid
    from seetrain.lineage import forks_of

    links = forks_of(parent)
    assert [(f.id, f.step) for f in links] == [("child", 150)]
    assert "fork_from" not in parent.meta
    assert before == {n: open(os.path.join(parent_path, n), "rb").read() for n in before}  # the parent: never written
    api = seetrain.Api(logdir=str(tmp_path))
    assert api.run("p/child").fork_from["id"] == "a"
    assert [f["id"] for f in api.run("p/a").forks()] == ["child"]


def test_fork_copies_the_media_its_history_references(tmp_path):
    import numpy as np

    p = seetrain.init(project="p", id="m", logdir=str(tmp_path), **QUIET)
    for s in range(4):
        p.log({"img": seetrain.Image(np.full((4, 4, 3), s * 40, dtype=np.uint8))}, step=s)
    p.finish()
    c = seetrain.init(project="p", id="mc", logdir=str(tmp_path), fork_from=("m", 1), **QUIET)
    c.finish()
    media = seetrain.read_run(c.dir).media("img")
    assert [m["step"] for m in media] == [0, 1]
    assert all(os.path.isfile(m["path"]) and m["path"].startswith(c.dir) for m in media)


def test_fork_refuses_a_missing_parent_and_a_bad_pair(tmp_path):
    with pytest.raises(ValueError, match="no run 'ghost'"):
        seetrain.init(project="p", id="c", logdir=str(tmp_path), fork_from=("ghost", 3), **QUIET)
    with pytest.raises(ValueError, match="pair"):
        seetrain.init(project="p", id="c2", logdir=str(tmp_path), fork_from="ghost", **QUIET)


SHARED_WRITER = """
import sys
import seetrain

logdir, first, last, value = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
extra = {"resume_from": int(sys.argv[5])} if len(sys.argv) > 5 else {}
w = seetrain.init(project="p", id="shared", logdir=logdir, shared=True, writer="w1", system_metrics=False,
                  console="off", **extra)
for s in range(first, last + 1):
    w.log({"loss": value}, step=s)
w.finish()
"""


def test_a_rewind_in_a_shared_run_is_its_own_writers(tmp_path):
    from tests._child import run_python

    logdir = str(tmp_path)
    script = tmp_path / "writer.py"
    script.write_text(SHARED_WRITER)
    primary = seetrain.init(project="p", id="shared", logdir=logdir, shared=True, writer="main", **QUIET)
    for s in range(21):
        primary.log({"loss": 1.0}, step=s)
    for args in (["0", "20", "2.0"], ["11", "15", "3.0", "10"]):  # w1 logs 0..20, then goes back to 10
        p = run_python([str(script), logdir, *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
    primary.finish()
    run = seetrain.read_run(primary.dir)
    w1 = run.scalars("loss", writer="w1")
    assert list(w1.steps) == list(range(16)) and list(w1.values[11:]) == [3.0] * 5
    assert list(run.scalars("loss", writer="w1", superseded=True).steps) == list(range(11, 21))
    assert list(run.scalars("loss", writer="main").steps) == list(range(21))  # the primary's history stands
    with open(os.path.join(primary.dir, "records.jsonl"), "rb") as f:
        assert b'"rewind"' not in f.read()  # the rewind is in w1's own log
