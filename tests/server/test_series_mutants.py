"""``server/series.py`` at the edges its mutation run found untested (docs/testing.md): the
in-process ``query`` passing ``writers`` and ``view`` on, the mean across a shared run's writers of
a key with no points and at an x where every writer logged NaN, and ``load`` of a rewound run."""

from __future__ import annotations

import math
import uuid as _uuid

import pytest


def _recs(steps, values, first_seq=0):
    return [{"seq": first_seq + i, "time": 1.0 + first_seq + i, "type": "metrics", "step": s, "data": {"loss": v}}
            for i, (s, v) in enumerate(zip(steps, values))]


@pytest.fixture
def store(tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    return create_app(Settings(db=str(tmp_path / "s.db"), blobs=str(tmp_path / "b"), api_key="")).state.store


@pytest.fixture
def shared_run(store):
    """A run of two writers: the primary logs loss 0, 10, NaN at steps 0..2, rank1 logs 2, 4, NaN."""
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer

    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})
        upsert_writer(conn, u, "rank1", {"rank": 1})
    store_records(store, u, _recs([0, 1, 2], [0.0, 10.0, math.nan]))
    store_records(store, u, _recs([0, 1, 2], [2.0, 4.0, math.nan]), writer="rank1")
    return u


def _nan_list(a):
    return [None if math.isnan(v) else v for v in a.tolist()]


def test_query_passes_writers_and_view_on(store, shared_run):
    from seetrain.server import series

    with store.read() as conn:
        mine = series.query(conn, [shared_run], "loss", writers=["rank1"])
        each = series.query(conn, [shared_run], "loss", view="each")
    assert [_nan_list(d["y"]) for d in mine] == [[2.0, 4.0, None]]
    assert [(d["writer"], _nan_list(d["y"])) for d in each] == [("", [0.0, 10.0, None]), ("rank1", [2.0, 4.0, None])]


def test_the_default_view_is_every_writers_points_as_one_line_per_run(store, shared_run):
    from seetrain.server import series
    from seetrain.server.ingest import store_records, upsert_run

    second = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, second, {"project": "p", "id": "r2"})
    store_records(store, second, _recs([0, 1], [5.0, 6.0]))
    with store.read() as conn:
        (line,) = series.query(conn, [shared_run], "loss")
        each = series.query_keys(conn, [shared_run, second], ["loss"], view="each")
    assert (line["x"].tolist(), line["total"]) == ([0.0, 0.0, 1.0, 1.0, 2.0, 2.0], 6)
    assert [(d["run"], d["writer"], d["total"]) for d in each] == [
        (shared_run, "", 3), (shared_run, "rank1", 3), (second, "", 2)]  # each (run, writer) once


def test_the_mean_across_writers_at_an_x_where_all_logged_nan_is_nan(store, shared_run):
    from seetrain.server import series

    with store.read() as conn:
        (mean,) = series.query(conn, [shared_run], "loss", view="mean")
    assert (mean["x"].tolist(), _nan_list(mean["y"]), mean["writers"]) == ([0.0, 1.0, 2.0], [1.0, 7.0, None], 2)
    assert (_nan_list(mean["ymin"]), _nan_list(mean["ymax"])) == ([0.0, 4.0, None], [2.0, 10.0, None])


def test_the_mean_across_writers_of_a_key_without_points_is_empty(store, shared_run):
    from seetrain.server import series

    with store.read() as conn:
        (mean,) = series.query(conn, [shared_run], "nothing", view="mean")
    assert (mean["x"].tolist(), mean["y"].tolist(), mean["total"], mean["last_x"], mean["writers"]) == (
        [], [], 0, None, 0)


def test_load_of_a_rewound_run_leaves_the_superseded_points_out(store):
    from seetrain.server import series
    from seetrain.server.ingest import store_records, upsert_run

    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})
    store_records(store, u, _recs(range(10), [float(s) for s in range(10)]))            # steps 0..9
    store_records(store, u, [{"seq": 10, "time": 20.0, "type": "rewind", "step": 4}])  # back to step 4
    store_records(store, u, _recs(range(5, 8), [-1.0] * 3, first_seq=11))              # steps 5..7 again
    with store.read() as conn:
        xs, ys = series.load(conn, u, "loss")
        old_xs, old_ys = series.load(conn, u, "loss", superseded=True)
    assert (xs.tolist(), ys.tolist()) == (list(range(8)), [0.0, 1.0, 2.0, 3.0, 4.0, -1.0, -1.0, -1.0])
    assert (old_xs.tolist(), old_ys.tolist()) == ([5, 6, 7, 8, 9], [5.0, 6.0, 7.0, 8.0, 9.0])
    with store.read() as conn:  # on the time axis: the same points, at their times
        ts, tys = series.load(conn, u, "loss", x="time")
    assert (ts.tolist(), tys.tolist()) == ([1.0, 2.0, 3.0, 4.0, 5.0, 12.0, 13.0, 14.0], ys.tolist())
    with store.read() as conn:  # and cut to start..end
        part = series.load(conn, u, "loss", start=3, end=5)
    assert (part[0].tolist(), part[1].tolist()) == ([3, 4, 5], [3.0, 4.0, -1.0])


def test_over_http_the_mean_of_a_key_a_run_lacks_answers_an_empty_line(server):
    import orjson

    from .conftest import api

    u = _uuid.uuid4().hex
    assert api(server.url, f"/api/v1/runs/{u}", "PUT", orjson.dumps({"project": "p", "id": "r"}))[0] == 200
    status, body = api(server.url, f"/api/v1/runs/{u}/records", "POST", orjson.dumps({"records": _recs([0], [1.0])}))
    assert status == 200, body
    status, body = api(server.url, f"/api/v1/series?run={u}&key=nothing&writers=mean")
    assert status == 200, body
    assert [(s["x"], s["y"], s["total"], s["writers"]) for s in body["series"]] == [([], [], 0, 0)]


def test_load_many_answers_each_pair_once_whole_when_runs_keys_and_writers_interleave(store, monkeypatch):
    """Chunks of three runs, three keys and two writers stored interleaved (run A, B, C, A, ...; every
    key in every batch; each writer in turn): every (run, key) pair asked, or (run, key, writer) when
    loaded writer by writer, comes back exactly once, in sorted order, with every point its own load
    gives; a key not asked never does; also when the runs and keys span several statements (IN_BATCH 2)."""
    from seetrain.server import series
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer

    runs = sorted(_uuid.uuid4().hex for _ in range(3))
    with store.write() as conn:
        for u in runs:
            upsert_run(conn, u, {"project": "p", "id": u[:6]})
            upsert_writer(conn, u, "rank1", {"rank": 1})
    seq = {}
    for part in range(3):
        for n, u in enumerate(runs):
            for writer in ("", "rank1"):
                first = seq.get((u, writer), 0)
                recs = [{"seq": first + i, "time": 1.0 + first + i, "type": "metrics", "step": 10 * part + i,
                         "data": {"acc": part + i + n + 0.5 * bool(writer), "loss": -(part + i), "lr": 0.1}}
                        for i in range(3)]
                seq[(u, writer)] = first + 3
                store_records(store, u, recs, **({"writer": writer} if writer else {}))
    monkeypatch.setattr(series, "IN_BATCH", 2)
    asked_runs, asked_keys = [runs[2], runs[0], runs[1]], ["loss", "acc"]
    with store.read() as conn:
        pairs = list(series.load_many(conn, asked_runs, asked_keys))
        each = list(series.load_many(conn, asked_runs, asked_keys, by_writer=True))
        alone = {(u, k): series.load(conn, u, k) for u in runs for k in asked_keys}
        mine = {(u, k, w): series.load(conn, u, k, writer=w) for u in runs for k in asked_keys
                for w in ("", "rank1")}
    assert [(s.run, s.key, s.writer) for s in pairs] == [(u, k, None) for u in runs for k in ("acc", "loss")]
    for s in pairs:
        xs, ys = alone[(s.run, s.key)]
        assert (s.xs.tolist(), s.ys.tolist()) == (xs.tolist(), ys.tolist()) and s.xs.size == 18
    assert [(s.run, s.key, s.writer) for s in each] == [(u, k, w) for u in runs for k in ("acc", "loss")
                                                       for w in ("", "rank1")]
    for s in each:
        xs, ys = mine[(s.run, s.key, s.writer)]
        assert (s.xs.tolist(), s.ys.tolist()) == (xs.tolist(), ys.tolist()) and s.xs.size == 9


def test_view_each_honours_range_writers_after_band_and_superseded(store):
    """``view="each"`` (a line per writer) passes every option on: ``start``/``end``, ``writers``,
    ``after`` (the live tail), ``band=False`` and ``superseded`` (a rewound writer's old points only),
    and names the key of each entry."""
    from seetrain.server import series
    from seetrain.server.ingest import store_records, upsert_run, upsert_writer

    u = _uuid.uuid4().hex
    with store.write() as conn:
        upsert_run(conn, u, {"project": "p", "id": "r"})
        upsert_writer(conn, u, "rank1", {"rank": 1})
    store_records(store, u, _recs(range(10), [float(s) for s in range(10)]))                      # primary: 0..9
    store_records(store, u, _recs(range(10), [100.0 + s for s in range(10)]), writer="rank1")     # rank1: 100..109
    store_records(store, u, [{"seq": 10, "time": 30.0, "type": "rewind", "step": 6}])              # primary back to 6
    store_records(store, u, _recs(range(7, 9), [-1.0, -2.0], first_seq=11))                        # 7, 8 again

    def each(**kw):
        with store.read() as conn:
            return [(d["key"], d["writer"], d["x"].tolist(), _nan_list(d["y"]), "ymin" in d)
                    for d in series.query_keys(conn, [u], ["loss"], view="each", **kw)]

    assert each(start=2, end=4) == [("loss", "", [2, 3, 4], [2.0, 3.0, 4.0], True),
                                    ("loss", "rank1", [2, 3, 4], [102.0, 103.0, 104.0], True)]
    assert each(writers=["rank1"], after=7, band=False) == [("loss", "rank1", [8, 9], [108.0, 109.0], False)]
    assert each()[0][2:4] == ([0, 1, 2, 3, 4, 5, 6, 7, 8], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -1.0, -2.0])
    assert each(superseded=True) == [("loss", "", [7, 8, 9], [7.0, 8.0, 9.0], True),
                                     ("loss", "rank1", [], [], True)]  # rank1 was not rewound
    assert each(superseded=True, x="time")[0][2:4] == ([8.0, 9.0, 10.0], [7.0, 8.0, 9.0])  # at their times
    assert each(x="time")[0][2] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 12.0, 13.0]
    with store.read() as conn:  # a key this run lacks: no entry (not an error)
        assert series.query_keys(conn, [u], ["nothing"], view="each") == []

    def mean(**kw):
        with store.read() as conn:
            return [(d["run"], d["key"], d["writers"], d["x"].tolist(), _nan_list(d["y"]))
                    for d in series.query_keys(conn, [u], ["loss"], view="mean", **kw)]

    # the mean view passes the same options on, and names the run and the key of each entry
    assert mean(start=2, end=3) == [(u, "loss", 2, [2, 3], [52.0, 53.0])]
    assert mean(writers=["rank1"], after=7) == [(u, "loss", 1, [8, 9], [108.0, 109.0])]
    assert mean(superseded=True) == [(u, "loss", 1, [7, 8, 9], [7.0, 8.0, 9.0])]  # rank1 has none
    assert mean(superseded=True, x="time", start=9) == [(u, "loss", 1, [9.0, 10.0], [8.0, 9.0])]
    assert mean(x="time", start=12) == [(u, "loss", 1, [12.0, 13.0], [-1.0, -2.0])]  # rank1 ends at time 11


def test_the_mean_view_cuts_its_band_with_the_live_tail(store, shared_run):
    """``after`` (the points after the last x a live chart has) cuts the mean and its band alike."""
    from seetrain.server import series

    with store.read() as conn:
        (mean,) = series.query_keys(conn, [shared_run], ["loss"], view="mean", after=0)
    assert (mean["x"].tolist(), _nan_list(mean["y"])) == ([1.0, 2.0], [7.0, None])
    assert (_nan_list(mean["ymin"]), _nan_list(mean["ymax"]), mean["total"]) == ([4.0, None], [10.0, None], 2)
