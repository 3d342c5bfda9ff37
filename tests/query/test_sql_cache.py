"""The offline query cache: the same answers as reading every run, refreshed run by run (appended
records show up, a deleted run goes away, an unchanged run is not read again), kept outside the
log directory, and project-scoped answers from it."""

from __future__ import annotations

import os
import shutil

import pytest

import seetrain
from tests.query.sweep import STEPS, write_sweep

pytest.importorskip("duckdb", reason="seetrain query needs the query extra: pip install -e '.[query]'")
pytest.importorskip("pyarrow", reason="seetrain query needs the query extra: pip install -e '.[query]'")

from seetrain.query import cache, run_query  # noqa: E402
from seetrain.query.local import build, ref_of  # noqa: E402
from seetrain.rundir.records import METRICS_LINE  # noqa: E402

QUERIES = ["SELECT * FROM metrics ORDER BY ALL", "SELECT * FROM summary ORDER BY ALL",
           "SELECT * FROM events ORDER BY ALL", "SELECT * FROM console ORDER BY ALL",
           "SELECT * FROM media ORDER BY ALL", "SELECT r.name, max(m.value) FROM metrics m JOIN runs r USING (run) "
           "WHERE m.key = 'val/acc' GROUP BY ALL ORDER BY ALL"]


@pytest.fixture
def logs(tmp_path):
    return write_sweep(str(tmp_path / "logs"))


def rows(sql, logdir, **kw):
    return [tuple("nan" if isinstance(v, float) and v != v else v for v in r)
            for r in run_query(sql, logdir=logdir, **kw).rows]


@pytest.mark.parametrize("sql", QUERIES, ids=["metrics", "summary", "events", "console", "media", "best"])
def test_cached_answers_equal_reading_every_run(logs, sql):
    fresh = rows(sql, logs, cache=False)
    assert fresh and rows(sql, logs) == fresh  # fills the cache
    assert rows(sql, logs) == fresh            # from the cache


def test_only_changed_runs_are_read_again(logs, query_cache):
    readers = seetrain.list_runs(logs)
    with cache.locked(cache.cache_path(logs), exclusive=True):
        assert cache.refresh(logs, readers, ref_of, build) == {"read": 4, "dropped": 0}
        assert cache.refresh(logs, seetrain.list_runs(logs), ref_of, build) == {"read": 0, "dropped": 0}
    assert os.path.dirname(cache.cache_path(logs)) == query_cache
    assert not [f for _, _, files in os.walk(logs) for f in files if "duckdb" in f]  # nothing in the log folder

    run = [r for r in readers if r.name == "lr0"][0]
    with open(os.path.join(run.path, "records.jsonl"), "ab") as f:  # the run goes on: one more point
        f.write(METRICS_LINE % (run.last_seq + 1, 1.0e9, STEPS + 10, b'{"val/acc":7.5}'))
    best = rows("SELECT r.name, max(m.value) FROM metrics m JOIN runs r USING (run) WHERE m.key = 'val/acc' "
                "GROUP BY ALL ORDER BY ALL", logs)
    assert ("lr0", 7.5) in best
    with cache.locked(cache.cache_path(logs), exclusive=True):
        assert cache.refresh(logs, seetrain.list_runs(logs), ref_of, build)["read"] == 0  # the query refreshed it

    shutil.rmtree([r for r in readers if r.name == "lr1"][0].path)
    names = rows("SELECT DISTINCT r.name FROM metrics m JOIN runs r USING (run) ORDER BY 1", logs)
    assert names == [("lr0",), ("lr2",), ("solo",)]
    assert rows("SELECT count(DISTINCT run) FROM metrics", logs) == [(3,)]  # its rows left the cache too


def test_project_answers_from_the_cache(logs):
    assert rows("SELECT count(DISTINCT run) FROM metrics", logs) == [(4,)]
    assert rows("SELECT count(DISTINCT run) FROM metrics", logs, project="sweep") == [(3,)]
    assert rows("SELECT DISTINCT key FROM summary ORDER BY 1", logs, project="other") == [("val/acc",)]


def test_an_unwritable_cache_folder_falls_back_to_reading(logs, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("SEETRAIN_QUERY_CACHE", str(blocker / "cache"))
    assert rows("SELECT count(*) FROM metrics", logs) == rows("SELECT count(*) FROM metrics", logs, cache=False)
