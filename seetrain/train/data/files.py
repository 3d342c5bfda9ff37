"""Image data read from files while training: a list of paths per split, decoded batch by batch.

A dataset source whose images live on disk (``data=folder``, the ImageNet layout) returns a
:class:`~.arrays.RawData` holding a :class:`PathList` where in-memory sources hold a ``uint8`` array. :class:`FileSet` is an :class:`~.arrays.ImageSet` whose pixels
come from the files (Pillow decodes, converts and resizes each one), so the backends' loaders stream
it exactly as they do an array set: a DataLoader with ``data.num_workers`` worker processes decodes
batches in parallel, and nothing but the current batches is ever in memory.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .arrays import Augment, ImageSet

STATS_SAMPLE = 256  # images read to estimate the per-channel mean and std of a file set


class PathList:
    """Image file paths that index like a NumPy array (``paths[idx]`` with an index array gives a
    ``PathList``), so a file-backed source fits :class:`~.arrays.RawData` and the same subset and
    split code as in-memory images."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, (int, np.integer)):
            return self.paths[int(idx)]
        return PathList([self.paths[int(i)] for i in np.asarray(idx).reshape(-1)])


def decode(path: str, size: int, channels: int) -> np.ndarray:
    """The image at ``path`` as ``uint8 (channels, size, size)``; raises ``ValueError`` naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


class FileSet(ImageSet):
    """A split of image files: ``.batch(indices)`` decodes those files (then scales, augments and
    normalises like :class:`ImageSet`)."""

    def __init__(self, paths: PathList, labels: np.ndarray, size: int, channels: int, mean: Sequence[float],
                 std: Sequence[float], augment: Optional[Augment] = None, seed: int = 0) -> None:
        super().__init__(np.empty((0, channels, size, size), np.uint8), labels, mean, std, augment, seed)
        self.images = None  # type: ignore[assignment]  # nothing in memory: loaders must not cache it
        self.paths, self.size, self.channels = paths.paths, int(size), int(channels)

    @property
    def shape(self):
        return (self.channels, self.size, self.size)

    def pixels(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.channels, self.size, self.size), np.uint8)
        for j, i in enumerate(idx):
            out[j] = decode(self.paths[int(i)], self.size, self.channels)
        return out


def first_size(paths: PathList) -> Optional[int]:
    """The side of the first image when it is square, else None (then data.image_size must be set)."""
    from PIL import Image

    with Image.open(paths.paths[0]) as img:
        w, h = img.size
    return w if w == h else None


def channel_stats(paths: PathList, size: int, channels: int, seed: int) -> tuple:
    """Per-channel (mean, std) on [0, 1] pixels from up to :data:`STATS_SAMPLE` of the images."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(paths))[:STATS_SAMPLE]
    f = np.stack([decode(paths.paths[int(i)], size, channels) for i in idx]).astype(np.float32) / 255.0
    return f.mean(axis=(0, 2, 3)), np.maximum(f.std(axis=(0, 2, 3)), 1e-3)
