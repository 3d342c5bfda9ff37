"""Datasets that need no download: ``digits`` (scikit-learn's 8x8 handwritten digits) and ``synthetic``."""

from __future__ import annotations

import gzip
import importlib.util
import os
from typing import Tuple

import numpy as np

from ..registry import DATASETS
from .arrays import RawData


def digits_arrays() -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``load_digits`` gives them (images 0-16, targets), read straight from the
    CSV file scikit-learn ships: importing scikit-learn (SciPy, pandas) costs seconds, the file a few ms."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz") if spec and spec.origin else ""
    if os.path.isfile(path):
        with gzip.open(path, "rt") as f:
            data = np.loadtxt(f, delimiter=",")
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from seetrain.lazy import require

    ds = require("sklearn.datasets", "train", "the digits dataset").load_digits()
    return ds.images, ds.target.astype(np.int64)


@DATASETS.register("digits")
def digits() -> RawData:
    """1,797 8x8 grey images of the digits 0-9 (values 0-16 scaled to 0-255); no test split."""
    images, target = digits_arrays()
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return RawData(train=(images, target), num_classes=10, classes=[str(i) for i in range(10)])


@DATASETS.register("synthetic")
def synthetic(num_samples: int = 1024, num_classes: int = 10, image_size: int = 32, channels: int = 3,
              noise: float = 0.35, seed: int = 0) -> RawData:
    """Learnable random images: each class is a smooth random prototype; samples add Gaussian noise.
    A test split of a quarter of ``num_samples`` is drawn the same way."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((num_classes, channels, 4, 4))
    reps = -(-image_size // 4)
    protos = np.kron(coarse, np.ones((1, 1, reps, reps)))[:, :, :image_size, :image_size]

    def draw(n: int):
        y = rng.integers(0, num_classes, n)
        x = protos[y] + rng.normal(0.0, noise, (n, channels, image_size, image_size))
        return np.clip(x * 255.0, 0, 255).astype(np.uint8), y.astype(np.int64)

    return RawData(train=draw(int(num_samples)), test=draw(max(int(num_samples) // 4, 0)), num_classes=int(num_classes))
