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


def test_both_bucket_methods_pick_the_first_extreme_of_each_bucket():
    """Long buckets use a loop, short ones whole-array passes: on ties, +/-Inf and buckets of one
    point both give, per bucket, the first index of the minimum and of the maximum."""
    from seetrain.server.series import bucket_extremes

    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        y = rng.integers(0, 4, n).astype("f8")
        y[rng.integers(0, n, 2)] = [np.inf, -np.inf]
        bounds = np.unique(np.concatenate(([0], rng.integers(0, n, int(rng.integers(0, 40))), [n])))
        want_min = [a + int(y[a:b].argmin()) for a, b in zip(bounds[:-1], bounds[1:])]
        want_max = [a + int(y[a:b].argmax()) for a, b in zip(bounds[:-1], bounds[1:])]
        for loop in (True, False):
            amin, amax = bucket_extremes(y, y, bounds, loop=loop)
            assert amin.tolist() == want_min and amax.tolist() == want_max


def test_a_band_given_per_point_is_reduced_per_bucket_nan_aside():
    """A shared run's mean view downsamples the mean with the writers' own min and max as its band:
    each returned point carries the lowest ``band_lo`` and the highest ``band_hi`` of its bucket (a
    NaN in the band counts for nothing), not the mean's own extremes."""
    x = np.arange(30, dtype="f8")  # 12 points asked: 3 buckets of 10 points (edges at 9.67 and 19.33)
    y = np.sin(x)
    band_lo = y - 1.0 - (x % 7)    # lowest at x = 6, 13 and 27
    band_hi = y + 1.0 + (x % 5)    # highest among x = 4 and 9, 14 and 19, 24 and 29
    band_lo[0], band_hi[29] = np.nan, np.nan
    d = downsample(x, y, 12, band_lo, band_hi)
    assert d["downsampled"]
    bucket = (d["x"] // 10).astype(int)
    want_lo = [np.nanmin(band_lo[10 * b:10 * b + 10]) for b in range(3)]
    want_hi = [np.nanmax(band_hi[10 * b:10 * b + 10]) for b in range(3)]
    assert d["ymin"].tolist() == [want_lo[b] for b in bucket]
    assert d["ymax"].tolist() == [want_hi[b] for b in bucket]
    assert sorted(set(bucket.tolist())) == [0, 1, 2] and not np.isnan(d["ymin"]).any()
    assert (d["ymin"] < np.nanmin(y) - 1).all()  # the band, not the mean's own minimum
