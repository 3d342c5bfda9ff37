"""The data registry: real download-and-parse code against original-format files on a local server,
checksums, the cache, augmentation, splits and weighted mixing."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from seetrain.train.config import load_config
from seetrain.train.data import build_data
from seetrain.train.errors import TrainConfigError

from .conftest import mirror_args


def _data_cfg(args):
    return load_config(args)["data"]


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_download_parse_and_cache(name, data_server, tmp_path):
    base, sums, truth, hits = data_server
    cfg = _data_cfg(mirror_args(data_server, name, str(tmp_path)) + ["data.batch_size=4", "data.normalize=false"])
    before = len(hits)
    data = build_data(cfg, seed=0)
    x_tr, y_tr, x_te, y_te = truth[name]
    assert len(hits) - before == len(sums[name])          # every file fetched once
    assert data.num_classes == (100 if name == "cifar100" else 10)
    # the official test split is the validation set; values survive the round trip exactly
    assert len(data.val) == len(y_te) and len(data.train) == len(y_tr)
    xv, yv = data.val.batch(range(len(data.val)))
    assert np.array_equal(yv, y_te)
    assert np.allclose(xv * 255.0, x_te.reshape(xv.shape), atol=1e-3)
    order = np.lexsort(data.train.images.reshape(len(data.train), -1).T[:16])
    ref = np.lexsort(np.asarray(x_tr).reshape(len(y_tr), -1).T[:16])
    assert np.array_equal(data.train.labels[order], np.asarray(y_tr)[ref])
    if name == "cifar10":
        assert data.classes[:2] == ["airplane", "automobile"]
    build_data(cfg, seed=0)                                # cached: no new request
    assert len(hits) - before == len(sums[name])


def test_bad_checksum_is_refused_and_nothing_is_kept(data_server, tmp_path):
    base, sums, _, _ = data_server
    args = ["data=mnist", f"data.mirror={base}/mnist", f"data.root={tmp_path}"]  # the published md5s: ours differ
    with pytest.raises(TrainConfigError, match="has MD5 .*expected f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        build_data(_data_cfg(args), seed=0)
    assert not [f for f in os.listdir(tmp_path / "mnist") if f.endswith(".gz")]


def test_unreachable_source_says_what_to_do(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    with pytest.raises(TrainConfigError, match="could not download http://127.0.0.1.*data.mirror"):
        build_data(_data_cfg(["data=cifar10", f"data.mirror=http://127.0.0.1:{port}", f"data.root={tmp_path}"]), seed=0)


def test_split_subset_seed_and_resize():
    cfg = _data_cfg(["data.val_split=0.25", "data.subset=400", "data.image_size=16", "data.channels=3"])
    a, b = build_data(cfg, seed=3), build_data(cfg, seed=3)
    assert len(a.train) == 300 and len(a.val) == 100 and a.train.shape == (3, 16, 16)
    assert np.array_equal(a.train.labels, b.train.labels)       # a fixed seed gives the same split
    c = build_data(cfg, seed=4)
    assert not np.array_equal(a.train.labels, c.train.labels)
    x, _ = a.train.batch(range(64))
    assert abs(float(x.mean())) < 0.3 and 0.5 < float(x.std()) < 2.0  # normalised


def test_augmentation_from_config_changes_train_batches_only():
    cfg = _data_cfg(["data=synthetic", "data.augment.random_crop=4", "data.augment.horizontal_flip=0.5",
                     "data.augment.cutout=8"])
    data = build_data(cfg, seed=0)
    plain = build_data(_data_cfg(["data=synthetic"]), seed=0)
    xa, _ = data.train.batch(range(32))
    xp, _ = plain.train.batch(range(32))
    assert xa.shape == xp.shape == (32, 3, 32, 32) and not np.allclose(xa, xp)
    assert np.array_equal(data.train.batch(range(32))[0], xa)    # deterministic for the same batch
    assert np.allclose(data.val.batch(range(8))[0], plain.val.batch(range(8))[0])
    with pytest.raises(TrainConfigError, match="data.augment.horizontal_flop.*did you mean 'horizontal_flip'"):
        build_data(_data_cfg(["data=synthetic", "+data.augment.horizontal_flop=0.5"]), seed=0)


def test_weighted_mixing_draws_by_weight(data_server, tmp_path):
    import torch

    from seetrain.train.backends.torch_data import loader

    base, sums, _, _ = data_server
    checks = lambda n: "{" + ", ".join(f"{k}: {v}" for k, v in sums[n].items()) + "}"  # noqa: E731
    cfg = _data_cfg(["data=mix", "data.labels=offset", f"data.sources=[{{name: digits, weight: 1}}, "
                     f"{{name: mnist, weight: 3, mirror: '{base}/mnist', root: '{tmp_path}', checksums: {checks('mnist')}}}]",
                     "data.batch_size=50"])
    data = build_data(cfg, seed=0)
    assert data.num_classes == 20 and data.train.shape == (1, 28, 28)
    n_digits = int(round(1797 * 0.8))
    assert len(data.train) == n_digits + 60
    # MNIST has 60 training images against ~1,400 digits, yet it is drawn 3 times as often
    labels = torch.cat([y for _, y in loader(data.train, 50, True, seed=0)])
    share = float((labels >= 10).float().mean())
    assert 0.68 < share < 0.82, share
    with pytest.raises(TrainConfigError, match="different image shapes"):
        build_data(_data_cfg(["data=mix", "data.image_size=null", "data.channels=null",
                              "data.sources=[digits, {name: synthetic, num_samples: 64}]"]), seed=0)


def test_digits_are_scikit_learns_load_digits_without_importing_it():
    """data=digits reads the CSV file scikit-learn ships (no SciPy/pandas import): the same images and labels."""
    from seetrain.train.data.builtin import digits_arrays

    images, target = digits_arrays()
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ds = sklearn_datasets.load_digits()
    assert np.array_equal(images, ds.images) and np.array_equal(target, ds.target)
