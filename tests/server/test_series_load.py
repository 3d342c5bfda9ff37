"""Loading a stored series: several chunks of one run (never another run's points), the step and
time ranges with inclusive ends, chunks that arrive out of step order, how evenly spaced steps are
packed, and the small-input edges of downsampling."""

from __future__ import annotations

import uuid as _uuid

import numpy as np
import pytest

from seetrain.server import series
from seetrain.server.series import downsample, stride_of


@pytest.fixture
def store(tmp_path):
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    return create_app(Settings(db=str(tmp_path / "s.db"), blobs=str(tmp_path / "b"), api_key="")).state.store


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path):
    """A store on SQLite, and one on PostgreSQL (whose rows stream through a server-side cursor)."""
    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    db = str(tmp_path / "s.db")
    if request.param == "postgres":
        import psycopg

        pg_url = request.getfixturevalue("pg_url")
        name = "t" + _uuid.uuid4().hex[:12]
        with psycopg.connect(pg_url + "/postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        db = f"{pg_url}/{name}"
    st = create_app(Settings(db=db, blobs=str(tmp_path / "b"), api_key="")).state.store
    yield st
    st.engine.dispose()


def _ingest(store, uuid: str, steps, first_seq: int, value=lambda s: s / 10, time=lambda s: 1000.0 + 2 * s):
    from seetrain.server.ingest import ingest_run

    recs = [{"seq": first_seq + i, "time": time(s), "type": "metrics", "step": s, "data": {"loss": value(s)}}
            for i, s in enumerate(steps)]
    ingest_run(store, {"uuid": uuid, "project": "p", "id": uuid[:8], "name": uuid[:8]}, recs)


def test_chunks_of_one_run_in_step_order_and_never_another_runs_points(store):
    a, b = _uuid.uuid4().hex, _uuid.uuid4().hex
    _ingest(store, a, range(10, 20), 0)          # chunk 1: steps 10..19
    _ingest(store, b, range(0, 30), 0, value=lambda s: -1.0)
    _ingest(store, a, range(0, 10), 10)          # chunk 2 arrives later with lower steps
    _ingest(store, a, [5, 25], 20, value=lambda s: 99.0)  # a repeated step 5 and an uneven step
    with store.read() as conn:
        xs, ys = series.load(conn, a, "loss")
    want = [(float(s), s / 10) for s in range(0, 20)] + [(25.0, 99.0)]
    want.insert(6, (5.0, 99.0))                  # the second step 5 after the first (arrival order)
    assert list(zip(xs.tolist(), ys.tolist())) == want


def test_step_and_time_ranges_include_both_ends(store):
    a = _uuid.uuid4().hex
    _ingest(store, a, range(0, 10), 0)
    _ingest(store, a, range(10, 20), 10)         # a chunk boundary at step 10
    with store.read() as conn:
        assert series.load(conn, a, "loss", start=10, end=10)[0].tolist() == [10.0]
        assert series.load(conn, a, "loss", start=9, end=10)[0].tolist() == [9.0, 10.0]
        assert series.load(conn, a, "loss", start=18)[0].tolist() == [18.0, 19.0]
        assert series.load(conn, a, "loss", end=1)[0].tolist() == [0.0, 1.0]
        assert series.load(conn, a, "loss", start=19.5)[0].tolist() == []
        ts, tv = series.load(conn, a, "loss", x="time", start=1020.0, end=1022.0)  # time = 1000 + 2 step
        assert ts.tolist() == [1020.0, 1022.0] and tv.tolist() == [1.0, 1.1]
        ts, _ = series.load(conn, a, "loss", x="time", start=1038.0)
        assert ts.tolist() == [1038.0]


def test_evenly_spaced_steps_are_packed_by_stride():
    assert stride_of(np.array([5.0, 7.0, 9.0, 11.0])) == 2.0
    assert stride_of(np.array([0.0, 1.0, 2.0])) == 1.0
    assert stride_of(np.array([3.0, 4.0])) == 1.0
    assert stride_of(np.array([7.0])) == 0.0
    for uneven in ([], [np.nan, 1.0], [1.0, np.nan], [1.0, 2.0, 4.0], [2.0, 2.0, 2.0], [3.0, 2.0, 1.0],
                   [0.0, 0.5, 1.0, 1.4]):
        assert stride_of(np.array(uneven, dtype="f8")) is None, uneven


def test_stored_chunks_use_the_stride_when_there_is_one(store):
    from sqlalchemy import select

    from seetrain.server.db.models import series_chunks

    a = _uuid.uuid4().hex
    _ingest(store, a, [4, 6, 8, 10], 0)
    _ingest(store, a, [11, 13, 14], 4)
    with store.read() as conn:
        rows = conn.execute(select(series_chunks.c.step_stride, series_chunks.c.step_min, series_chunks.c.steps)
                            .where(series_chunks.c.run_uuid == a).order_by(series_chunks.c.id)).all()
        xs, _ = series.load(conn, a, "loss")
    assert [(r[0], r[1], len(r[2])) for r in rows] == [(2.0, 4.0, 0), (None, 11.0, 24)]
    assert xs.tolist() == [4.0, 6.0, 8.0, 10.0, 11.0, 13.0, 14.0]


@pytest.mark.parametrize("n, points, downsampled", [
    (10, 0, False),    # points <= 0 keeps every point
    (10, -5, False),
    (8, 8, False),     # exactly as many points as asked for
    (5, 4, True),      # one more than asked for
    (4, 1, False),     # at most four points never need downsampling
    (10, 1, True),
])
def test_downsample_edges(n, points, downsampled):
    x = np.arange(n, dtype="f8")
    y = np.cos(x)
    d = downsample(x, y, points)
    assert set(d) == {"x", "y", "ymin", "ymax", "downsampled"} and d["downsampled"] is downsampled
    if not downsampled:
        assert d["x"].tolist() == x.tolist() and d["y"].tolist() == y.tolist()
        assert d["ymin"].tolist() == y.tolist() and d["ymax"].tolist() == y.tolist()
    else:
        assert len(d["x"]) <= max(points, 4)


def test_four_points_asked_give_one_bucket():
    x = np.arange(100, dtype="f8")
    y = np.sin(x)
    d = downsample(x, y, 4)
    want = sorted({0, 99, int(np.argmin(y)), int(np.argmax(y))})
    assert d["x"].tolist() == want
    assert set(d["ymin"].tolist()) == {y.min()} and set(d["ymax"].tolist()) == {y.max()}


def test_nan_never_wins_the_band():
    x = np.arange(40, dtype="f8")
    y = np.where(x % 3 == 0, np.nan, x)
    d = downsample(x, y, 16)                     # 4 buckets of 10
    for px, lo, hi in zip(d["x"], d["ymin"], d["ymax"]):
        b = int(px) // 10
        seg = y[b * 10:(b + 1) * 10]
        assert (lo, hi) == (np.nanmin(seg), np.nanmax(seg))


def test_query_answers_each_run_with_total_last_x_and_points_after(store):
    a, b, empty = _uuid.uuid4().hex, _uuid.uuid4().hex, _uuid.uuid4().hex
    _ingest(store, a, range(0, 100), 0)
    _ingest(store, b, range(0, 3), 0)
    with store.read() as conn:
        out = series.query(conn, [a, b, empty], "loss", points=8)
        assert [(d["run"], d["key"], d["total"], d["last_x"], d["downsampled"]) for d in out] == [
            (a, "loss", 100, 99.0, True), (b, "loss", 3, 2.0, False), (empty, "loss", 0, None, False)]
        assert len(out[0]["x"]) <= 8 and out[0]["x"][0] == 0 and out[0]["x"][-1] == 99
        after = series.query(conn, [a], "loss", points=0, after=96)[0]      # live tail: steps after 96 only
        assert after["x"].tolist() == [97.0, 98.0, 99.0] and after["total"] == 3 and after["last_x"] == 99.0
        ranged = series.query(conn, [a], "loss", x="time", start=1010.0, end=1014.0, points=0)[0]
        assert ranged["x"].tolist() == [1010.0, 1012.0, 1014.0] and ranged["y"].tolist() == [0.5, 0.6, 0.7]


def test_many_runs_and_keys_at_once_equal_each_series_alone(any_store, monkeypatch):
    """A compare page asks for every (key, run) pair in one go: key by key then run by run, as asked
    (a repeated run and a run without the key included), each exactly what its own load gives,
    even when the runs and keys span several statements."""
    runs = [_uuid.uuid4().hex for _ in range(5)]
    for i, u in enumerate(runs[:4]):
        _ingest(any_store, u, range(0, 40 + 10 * i), 0, value=lambda s, i=i: 50.0 if s == 33 else (s % 7) * (i + 1))
        _ingest(any_store, u, range(100, 90, -1), 100)  # a later chunk with its steps descending
    monkeypatch.setattr(series, "IN_BATCH", 2)
    asked = [runs[2], runs[0], runs[4], runs[0], runs[1], runs[3]]
    with any_store.read() as conn:
        out = series.query_keys(conn, asked, ["loss", "nokey"], points=16)
        for d, (k, u) in zip(out, [(k, u) for k in ("loss", "nokey") for u in asked]):
            assert (d["key"], d["run"]) == (k, u)
            xs, ys = series.load(conn, u, k)
            alone = downsample(xs, ys, 16)
            for f in ("x", "y", "ymin", "ymax"):
                assert d[f].tolist() == alone[f].tolist(), (k, u, f)
            assert d["total"] == xs.size and d["downsampled"] == alone["downsampled"]
        assert len(out) == 12 and [d["total"] for d in out[:6]] == [70, 50, 0, 50, 60, 80]
        assert all(50.0 in d["y"].tolist() for d in out[:6] if d["total"])  # the spike of every run kept


def test_band_false_leaves_out_ymin_ymax_and_keeps_the_same_points(store):
    a = _uuid.uuid4().hex
    _ingest(store, a, range(0, 200), 0, value=lambda s: 9.0 if s == 150 else s / 100)
    with store.read() as conn:
        banded = series.query(conn, [a], "loss", points=20)[0]
        bare = series.query(conn, [a], "loss", points=20, band=False)[0]
    assert "ymin" in banded and "ymin" not in bare and "ymax" not in bare
    assert bare["x"].tolist() == banded["x"].tolist() and 9.0 in bare["y"].tolist() and bare["downsampled"]


def test_steps_out_of_order_inside_one_batch_come_back_sorted(store):
    """Records are stored in seq order; their steps need not be (a user may log step 5 before 3)."""
    a, b = _uuid.uuid4().hex, _uuid.uuid4().hex
    _ingest(store, a, [5, 3, 4], 0)
    _ingest(store, b, [7, 2], 0)
    with store.read() as conn:
        assert series.load(conn, a, "loss")[0].tolist() == [3.0, 4.0, 5.0]
        assert series.load(conn, b, "loss")[0].tolist() == [2.0, 7.0]


def test_repeated_steps_keep_arrival_order_in_long_series(store):
    """A resumed run logs steps 0..299 again after 200..499: each repeated step gives its first
    value, then its second (a stable sort), whatever the length."""
    a = _uuid.uuid4().hex
    _ingest(store, a, range(200, 500), 0, value=lambda s: 1.0)
    _ingest(store, a, range(0, 300), 300, value=lambda s: 2.0)
    with store.read() as conn:
        xs, ys = series.load(conn, a, "loss")
    want = sorted([(s, 1.0) for s in range(200, 500)] + [(s, 2.0) for s in range(0, 300)], key=lambda p: p[0])
    assert list(zip(xs.tolist(), ys.tolist())) == [(float(s), v) for s, v in want]


def test_chunk_steps_from_a_stride_or_from_the_blob():
    from seetrain.server.series import chunk_steps

    assert chunk_steps(3, 10.0, 2.5, b"").tolist() == [10.0, 12.5, 15.0]
    blob = np.array([1.0, 4.0, 9.0], dtype="<f8").tobytes()
    assert chunk_steps(3, 1.0, None, blob).tolist() == [1.0, 4.0, 9.0]
