"""Downsampling keeps every bucket's first, last, minimum and maximum point."""

from __future__ import annotations

import numpy as np

from seetrain.server.series import downsample


def test_spikes_first_last_survive_and_output_is_bounded():
    rng = np.random.default_rng(0)
    for n, points in [(1_000_000, 1000), (10_007, 64), (5000, 8)]:
        x = np.arange(n, dtype="f8")
        y = rng.normal(size=n)
        spike, dip = n // 3 + 1, 2 * n // 3 + 7
        y[spike], y[dip] = 1e6, -1e6
        d = downsample(x, y, points)
        assert d["downsampled"] and len(d["x"]) <= points
        assert d["x"][0] == 0 and d["x"][-1] == n - 1
        assert spike in d["x"] and dip in d["x"]
        assert d["y"].max() == 1e6 and d["y"].min() == -1e6
        assert np.all(np.diff(d["x"]) > 0)
        assert np.all(d["ymin"] <= d["y"]) and np.all(d["y"] <= d["ymax"])


def test_every_bucket_keeps_its_extremes_exactly():
    x = np.arange(400, dtype="f8")
    y = np.sin(x / 7.0)
    d = downsample(x, y, 40)  # 10 buckets of 40 points
    for b in range(10):
        seg = y[b * 40:(b + 1) * 40]
        kept = d["y"][(d["x"] >= b * 40) & (d["x"] < (b + 1) * 40)]
        assert kept.max() == seg.max() and kept.min() == seg.min()
        assert seg[0] in kept and seg[-1] in kept


def test_nan_and_uneven_x():
    x = np.concatenate([np.arange(100.0), np.arange(1000.0, 1100.0)])
    y = np.where(np.arange(200) % 2, np.nan, 1.0)
    y[150] = 42.0
    d = downsample(x, y, 20)
    assert 42.0 in d["y"] and d["x"][0] == 0 and d["x"][-1] == 1099
    small = downsample(x[:3], y[:3], 1000)
    assert not small["downsampled"] and len(small["x"]) == 3
