"""The MCP layer below the protocol: the offline bucketing equals the server's downsampling, a
live run's new points are seen, and answers are cut to the budget with a note."""

from __future__ import annotations

import json

import numpy as np
import pytest

import seetrain
from seetrain.mcp.buckets import bucket, in_range, sorted_by_x
from seetrain.mcp.budget import CHARS_PER_TOKEN, respond
from seetrain.mcp.source import Source
from seetrain.mcp.tools import Tools


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_offline_bucketing_equals_the_servers_downsampling(seed):
    series = pytest.importorskip("seetrain.server.series")
    rng = np.random.default_rng(seed)
    n = 50_000
    x = np.sort(rng.integers(0, 10 * n, n)).astype("f8")  # uneven steps, with ties
    y = rng.normal(size=n)
    y[rng.integers(0, n, 50)] = np.nan
    y[123] = 1e9
    for points in (4, 37, 1000, 20_000):
        mine = bucket(x, y, points)
        theirs = series.downsample(x, y, points)
        assert mine.downsampled == theirs["downsampled"]
        for a, b in ((mine.x, theirs["x"]), (mine.y, theirs["y"]), (mine.ymin, theirs["ymin"]),
                     (mine.ymax, theirs["ymax"])):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert 1e9 in mine.y and len(mine.x) <= points


def test_sort_and_range():
    x, y = sorted_by_x(np.array([3, 1, np.nan, 2, 1]), np.array([30, 10, 99, 20, 11]))
    assert x.tolist() == [1, 1, 2, 3] and y.tolist() == [10, 11, 20, 30]
    xs, ys = in_range(x, y, 1.5, 3)
    assert xs.tolist() == [2, 3] and ys.tolist() == [20, 30]


def test_a_live_runs_new_points_are_seen(logdir):
    run = seetrain.init(project="live", system_metrics=False, console="off")
    tools = Tools(Source(logdir=logdir))
    for step in range(100):
        seetrain.log({"loss": float(step)})
    run.flush()
    first = tools.get_metric_history(run.uuid, "loss", points=0)["series"][0]
    for step in range(100, 250):
        seetrain.log({"loss": float(step)})
    run.flush()
    again = tools.get_metric_history(run.uuid, "loss", points=0)["series"][0]
    seetrain.finish()
    assert first["total"] == 100 and again["total"] == 250 and again["y"][-1] == 249.0


def test_an_answer_too_big_is_cut_with_a_note():
    big = {"runs": [{"name": f"run-{i}", "config": {f"k{j}": "v" * 50 for j in range(50)}} for i in range(200)]}
    text = respond(big, 1000)
    assert len(text) <= 1000 * CHARS_PER_TOKEN
    out = json.loads(text)
    assert "1000-token budget" in out["truncated_to_fit"] and out["runs"][0]["name"] == "run-0"
    assert "more items" in out["runs"][-1]
