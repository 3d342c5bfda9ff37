"""The downsampling band on constructed data: every returned point carries the minimum and the
maximum of its own bucket (not of a neighbour), including the points that open a bucket."""

from __future__ import annotations

import numpy as np

from seetrain.server.series import downsample


def _check_band(x: np.ndarray, y: np.ndarray, points: int, bucket_of) -> None:
    d = downsample(x, y, points)
    assert d["downsampled"]
    buckets = bucket_of(x)
    want_min = {b: y[buckets == b].min() for b in np.unique(buckets)}
    want_max = {b: y[buckets == b].max() for b in np.unique(buckets)}
    got = [(float(px), float(lo), float(hi)) for px, lo, hi in zip(d["x"], d["ymin"], d["ymax"])]
    want = [(float(px), float(want_min[b]), float(want_max[b])) for px, b in zip(d["x"], bucket_of(d["x"]))]
    assert got == want
    # each bucket returns its first, last, lowest and highest point, and nothing else
    keep = set()
    for b in np.unique(buckets):
        i = np.flatnonzero(buckets == b)
        keep |= {i[0], i[-1], i[np.argmin(y[i])], i[np.argmax(y[i])]}
    assert d["x"].tolist() == x[sorted(keep)].tolist()


def test_band_of_each_point_is_its_own_bucket():
    """40 points, 16 requested: 4 buckets of 10 points; bucket b holds values in [100 b, 100 b + 50]."""
    x = np.arange(40, dtype="f8")
    b = (x // 10).astype(int)
    y = 100.0 * b + 25.0
    for k in range(4):  # the minimum and maximum sit inside the bucket, at different places
        y[10 * k + 3 + k] = 100.0 * k
        y[10 * k + 8 - k] = 100.0 * k + 50
    _check_band(x, y, 16, lambda xs: (np.asarray(xs) // 10).astype(int))


def test_points_exactly_on_a_bucket_edge_take_the_upper_bucket():
    """x = 0..40 with 4 buckets: the edges 10, 20, 30 are points and open the next bucket (the last
    bucket is closed on the right); the falling curve puts each bucket's maximum on its first point."""
    x = np.arange(41, dtype="f8")
    y = 1000.0 - x ** 2 / 4
    _check_band(x, y, 16, lambda xs: np.minimum(np.asarray(xs) // 10, 3).astype(int))


def test_band_when_bucket_extremes_alternate():
    """Rising buckets and falling buckets in turn: the previous bucket's band never equals this one's."""
    x = np.arange(80, dtype="f8")
    b = (x // 10).astype(int)
    within = x % 10
    y = np.where(b % 2 == 0, within, 9 - within) + 1000.0 * b
    _check_band(x, y, 32, lambda xs: (np.asarray(xs) // 10).astype(int))
