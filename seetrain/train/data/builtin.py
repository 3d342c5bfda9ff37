"""Datasets that need no download: ``digits`` (scikit-learn's 8x8 handwritten digits) and ``synthetic``."""

from __future__ import annotations

import numpy as np

from ..registry import DATASETS
from .arrays import RawData


@DATASETS.register("digits")
def digits() -> RawData:
    """1,797 8x8 grey images of the digits 0-9 (values 0-16 scaled to 0-255); no test split."""
    from seetrain.lazy import require

    ds = require("sklearn.datasets", "train", "the digits dataset").load_digits()
    images = np.round(ds.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return RawData(train=(images, ds.target.astype(np.int64)), num_classes=10, classes=[str(i) for i in range(10)])


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
