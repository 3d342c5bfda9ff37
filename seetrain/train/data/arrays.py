"""Backend-neutral image data: NumPy arrays in, batches of ``(float32 NCHW, int64)`` out.

Every backend wraps :class:`ImageSet` in its own loader; :meth:`ImageSet.batch` does the work
(indexing, scaling to [0, 1], normalisation and augmentation, vectorised over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


@dataclass
class RawData:
    """What a dataset source returns: ``train`` and optionally ``test`` as ``(images, labels)``.

    ``images`` is ``uint8`` ``(N, C, H, W)`` (0..255); ``labels`` integer ``(N,)``.
    """

    train: Tuple[np.ndarray, np.ndarray]
    num_classes: int
    test: Optional[Tuple[np.ndarray, np.ndarray]] = None
    classes: Optional[List[str]] = None


class ImageSet:
    """A split of an image dataset with its (optional) augmentation.

    ``sample_weights`` (one per example, or None) asks the loader to draw examples with those
    relative probabilities (weighted mixing of datasets).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: Sequence[float], std: Sequence[float],
                 augment: Optional["Augment"] = None, seed: int = 0,
                 sample_weights: Optional[np.ndarray] = None) -> None:
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
        self.augment = augment
        self.seed = int(seed)
        self.sample_weights = sample_weights

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> Tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Images ``float32 (B, C, H, W)`` (scaled, augmented, normalised) and labels ``int64 (B,)``."""
        idx = np.asarray(indices, dtype=np.int64)
        x = self.pixels(idx).astype(np.float32) * (1.0 / 255.0)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, int(idx.sum()) & 0x7FFFFFFF, len(idx), int(idx[0]) if len(idx) else 0])
            x = self.augment(x, rng)
        x -= self.mean
        x /= self.std
        return x, self.labels[idx]

    def pixels(self, idx: np.ndarray) -> np.ndarray:
        """``uint8 (B, C, H, W)`` of the examples ``idx`` (a subclass may read them from disk)."""
        return self.images[idx]

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int]:
        x, y = self.batch([int(i)])
        return x[0], int(y[0])


@dataclass
class Augment:
    """Augmentations on a float batch in [0, 1]: ``random_crop`` (padding in pixels),
    ``horizontal_flip`` (probability), ``noise`` (Gaussian std), ``cutout`` (square side)."""

    random_crop: int = 0
    horizontal_flip: float = 0.0
    noise: float = 0.0
    cutout: int = 0

    @classmethod
    def from_config(cls, cfg: Optional[Dict[str, Any]]) -> Optional["Augment"]:
        from ..errors import TrainConfigError, did_you_mean

        if not cfg:
            return None
        known = {f for f in cls.__dataclass_fields__}
        out = {}
        for k, v in dict(cfg).items():
            if k not in known:
                raise TrainConfigError(f"unknown augmentation data.augment.{k}{did_you_mean(k, known)} "
                                       f"(known: {', '.join(sorted(known))})", key=f"data.augment.{k}")
            if v is None or isinstance(v, bool) and not v:
                v = 0
            if isinstance(v, bool):
                v = 0.5 if k == "horizontal_flip" else 1
            if not isinstance(v, (int, float)) or v < 0 or (k == "horizontal_flip" and v > 1):
                raise TrainConfigError(f"data.augment.{k} must be a non-negative number"
                                       f"{' in [0, 1]' if k == 'horizontal_flip' else ''}, got {v!r}", key=f"data.augment.{k}")
            out[k] = v
        aug = cls(**out)
        return aug if any(getattr(aug, f) for f in known) else None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        b, c, h, w = x.shape
        if self.random_crop:
            p = int(self.random_crop)
            padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            dy, dx = rng.integers(0, 2 * p + 1, b), rng.integers(0, 2 * p + 1, b)
            rows = dy[:, None] + np.arange(h)[None, :]
            cols = dx[:, None] + np.arange(w)[None, :]
            x = padded[np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None],
                       rows[:, None, :, None], cols[:, None, None, :]]
        if self.horizontal_flip:
            flip = rng.random(b) < self.horizontal_flip
            x[flip] = x[flip, :, :, ::-1]
        if self.cutout:
            s = int(self.cutout)
            cy, cx = rng.integers(0, h, b), rng.integers(0, w, b)
            yy, xx = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
            mask = (np.abs(yy - cy[:, None, None]) <= s // 2) & (np.abs(xx - cx[:, None, None]) <= s // 2)
            x = x * ~mask[:, None]
        if self.noise:
            x = x + rng.normal(0.0, self.noise, x.shape).astype(np.float32)
        return np.ascontiguousarray(x, dtype=np.float32)


@dataclass
class DataBundle:
    """The train and validation sets of one data config, and what a model must fit."""

    name: str
    train: ImageSet
    val: ImageSet
    num_classes: int
    classes: Optional[List[str]] = None
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.train.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.train.shape[1])
