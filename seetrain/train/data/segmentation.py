"""Semantic segmentation data (``task=segmentation``): images with one class index per pixel.

Two sources, both registered datasets:

``data=shapes``      synthetic shapes (circles, squares, triangles on a textured background), generated
                     deterministically from ``data.seed``: no download, any size.
``data=seg_folder``  your own images and masks, read from disk while training::

    ROOT/images/<name>.jpg|png...   ROOT/masks/<name>.png          (one set: data.val_split holds part out)
    ROOT/train/images, ROOT/train/masks, ROOT/val/images, ROOT/val/masks   (an official split)

A mask is a single-channel PNG with the same name stem as its image, whose pixel values are class
indices (0 = the first class, usually background); the value ``data.ignore_index`` (255) marks pixels
that count in neither the loss nor the metrics.

Both give :class:`SegmentationData`; :func:`segmentation_bundle` turns it into train/val sets whose
``batch(indices)`` returns images ``float32 (B, C, H, W)`` and masks ``int64 (B, H, W)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import TrainConfigError
from ..registry import DATASETS
from .arrays import Augment, DataBundle, ImageSet
from .files import PathList, channel_stats, decode, first_size

IGNORE_INDEX = 255
SHAPE_CLASSES = ["background", "circle", "square", "triangle"]
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".pgm")


@dataclass
class SegmentationData:
    """What a segmentation source returns: ``train`` (and optionally ``test``) as ``(images, masks)``:
    ``uint8 (N, C, H, W)`` and ``uint8 (N, H, W)`` arrays, or two :class:`PathList` of files."""

    train: Tuple[Any, Any]
    num_classes: int
    test: Optional[Tuple[Any, Any]] = None
    classes: Optional[List[str]] = None


# --- the built-in synthetic shapes -----------------------------------------------------------------
def _draw(rng: np.random.Generator, size: int, channels: int, max_shapes: int, noise: float):
    """One image and its mask: a smooth random background, then 1..max_shapes filled shapes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = rng.uniform(0.2, 0.8, channels).astype(np.float32)
    tilt = rng.uniform(-0.3, 0.3, (channels, 2)).astype(np.float32) / size
    img = base[:, None, None] + tilt[:, 0, None, None] * (yy - size / 2) + tilt[:, 1, None, None] * (xx - size / 2)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        cls = int(rng.integers(1, 4))
        r = rng.uniform(size * 0.12, size * 0.28)
        cy, cx = rng.uniform(r, size - r, 2)
        if cls == 1:      # circle
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        elif cls == 2:    # axis-aligned square
            inside = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
        else:             # triangle pointing up: below the two slanted sides, above the base
            inside = (yy <= cy + r * 0.8) & (yy - (cy - r) >= 2 * np.abs(xx - cx) * 0.9)
        colour = rng.uniform(0.0, 1.0, channels).astype(np.float32)
        img[:, inside] = colour[:, None]
        mask[inside] = cls
    img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8), mask


def shapes_arrays(num_samples: int, image_size: int, channels: int, max_shapes: int, noise: float,
                  seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """``num_samples`` images and masks; the same arguments always give the same arrays."""
    rng = np.random.default_rng([int(seed), int(num_samples), int(image_size)])
    images = np.empty((num_samples, channels, image_size, image_size), np.uint8)
    masks = np.empty((num_samples, image_size, image_size), np.uint8)
    for i in range(num_samples):
        images[i], masks[i] = _draw(rng, image_size, channels, max_shapes, noise)
    return images, masks


@DATASETS.register("shapes", task="segmentation")
def shapes(num_samples: int = 512, image_size: int = 32, channels: int = 3, max_shapes: int = 3,
           noise: float = 0.05, seed: int = 0) -> SegmentationData:
    """Synthetic shapes: background (0), circle (1), square (2), triangle (3); a test split of a quarter
    of ``num_samples`` is drawn the same way (another seed)."""
    for key, value, low in (("num_samples", num_samples, 1), ("image_size", image_size, 8), ("channels", channels, 1),
                            ("max_shapes", max_shapes, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise TrainConfigError(f"data.{key} must be a whole number >= {low}, got {value!r}", key=f"data.{key}")
    train = shapes_arrays(num_samples, image_size, channels, max_shapes, float(noise), seed)
    test = shapes_arrays(max(num_samples // 4, 1), image_size, channels, max_shapes, float(noise), int(seed) + 1)
    return SegmentationData(train=train, test=test, num_classes=len(SHAPE_CLASSES), classes=list(SHAPE_CLASSES))


# --- your own images and masks ---------------------------------------------------------------------
def _pairs(folder: str, images_dir: str, masks_dir: str) -> Tuple[PathList, PathList]:
    from .folder import EXTENSIONS

    idir, mdir = os.path.join(folder, images_dir), os.path.join(folder, masks_dir)
    for d, what in ((idir, "images"), (mdir, "masks")):
        if not os.path.isdir(d):
            raise TrainConfigError(f"data.root: no {what} folder {d} (expected {images_dir}/ and {masks_dir}/ side "
                                   "by side, or train/ and val/ folders holding those)", key="data.root")
    masks = {os.path.splitext(f)[0]: os.path.join(mdir, f) for f in sorted(os.listdir(mdir))
             if not f.startswith(".") and f.lower().endswith(MASK_EXTENSIONS)}
    images, paired, missing = [], [], []
    for f in sorted(os.listdir(idir)):
        if f.startswith(".") or not f.lower().endswith(EXTENSIONS):
            continue
        stem = os.path.splitext(f)[0]
        if stem in masks:
            images.append(os.path.join(idir, f))
            paired.append(masks[stem])
        else:
            missing.append(f)
    if missing:
        raise TrainConfigError(f"data.root: {len(missing)} image(s) in {idir} have no mask in {mdir} (e.g. {missing[0]}: "
                               f"expected {os.path.splitext(missing[0])[0]}.png)", key="data.root")
    if not images:
        raise TrainConfigError(f"data.root: no image files in {idir}", key="data.root")
    return PathList(images), PathList(paired)


def decode_mask(path: str, size: int) -> np.ndarray:
    """The mask at ``path`` as ``uint8 (size, size)`` (nearest-neighbour resize keeps class indices)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16", "1"):
                raise ValueError(f"mode {img.mode}: a mask must have one channel of class indices")
            if img.size != (size, size):
                img = img.resize((size, size), Image.NEAREST)
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read mask {path}: {exc}") from None
    if arr.max(initial=0) > IGNORE_INDEX:
        raise ValueError(f"mask {path} has value {int(arr.max())}; class indices go up to 254 (255: ignored)")
    return arr.astype(np.uint8)


@DATASETS.register("seg_folder", task="segmentation")
def seg_folder(root: Optional[str] = None, images_dir: str = "images", masks_dir: str = "masks",
               train_dir: str = "train", val_dir: str = "val", num_classes: Optional[int] = None,
               classes: Optional[List[str]] = None) -> SegmentationData:
    """Images and masks from ``root`` (layout in the module docstring). ``num_classes`` (or ``classes``,
    their names) null: one more than the largest class index in the training masks."""
    if not root:
        raise TrainConfigError("data=seg_folder needs data.root=PATH: a folder with images/ and masks/ (or train/ and "
                               "val/ folders holding those)", key="data.root")
    root = os.path.abspath(os.path.expanduser(str(root)))
    if not os.path.isdir(root):
        raise TrainConfigError(f"data.root={root}: no such folder", key="data.root")
    tdir = os.path.join(root, train_dir)
    split = os.path.isdir(tdir)
    train = _pairs(tdir if split else root, images_dir, masks_dir)
    vdir = os.path.join(root, val_dir)
    test = _pairs(vdir, images_dir, masks_dir) if split and os.path.isdir(vdir) else None
    if classes is not None and num_classes is None:
        num_classes = len(classes)
    if num_classes is None:
        from PIL import Image

        top = 0
        for path in train[1].paths:
            with Image.open(path) as img:
                values = np.unique(np.asarray(img))
            values = values[values != IGNORE_INDEX]
            top = max(top, int(values.max()) if len(values) else 0)
        num_classes = top + 1
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise TrainConfigError(f"data.num_classes must be a whole number >= 2 (background and one class), got "
                               f"{num_classes!r}", key="data.num_classes")
    if classes is not None and len(classes) != num_classes:
        raise TrainConfigError(f"data.classes names {len(classes)} classes but data.num_classes={num_classes}",
                               key="data.classes")
    return SegmentationData(train=train, test=test, num_classes=num_classes,
                            classes=[str(c) for c in classes] if classes else [str(i) for i in range(num_classes)])


# --- the sets the backends read ----------------------------------------------------------------------
class SegmentationSet(ImageSet):
    """Images with masks: ``batch(indices)`` gives ``(float32 (B, C, H, W), int64 (B, H, W))``; a
    horizontal flip (the one augmentation that keeps pixels and labels aligned here) flips both."""

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        x = self.pixels(idx).astype(np.float32) * (1.0 / 255.0)
        y = self.masks(idx).astype(np.int64)
        if self.augment is not None and self.augment.horizontal_flip:
            rng = np.random.default_rng([self.seed, int(idx.sum()) & 0x7FFFFFFF, len(idx), int(idx[0]) if len(idx) else 0])
            flip = rng.random(len(idx)) < self.augment.horizontal_flip
            x[flip] = x[flip, :, :, ::-1]
            y[flip] = y[flip, :, ::-1]
            x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        x -= self.mean
        x /= self.std
        return x, y

    def masks(self, idx: np.ndarray) -> np.ndarray:
        return self.labels[idx]

    def __getitem__(self, i: int):
        x, y = self.batch([int(i)])
        return x[0], y[0]


class SegmentationFileSet(SegmentationSet):
    """Image and mask files, decoded batch by batch (nothing else in memory)."""

    def __init__(self, images: PathList, masks: PathList, size: int, channels: int, mean: Sequence[float],
                 std: Sequence[float], augment: Optional[Augment] = None, seed: int = 0) -> None:
        super().__init__(np.empty((0, channels, size, size), np.uint8), np.zeros(len(images), np.int64), mean, std,
                         augment, seed)
        self.images = None  # type: ignore[assignment]  # nothing in memory: loaders must not cache it
        self.image_paths, self.mask_paths = images.paths, masks.paths
        self.size, self.channels = int(size), int(channels)

    @property
    def shape(self):
        return (self.channels, self.size, self.size)

    def pixels(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([decode(self.image_paths[int(i)], self.size, self.channels) for i in idx])

    def masks(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([decode_mask(self.mask_paths[int(i)], self.size) for i in idx])


def _take(part: Tuple[Any, Any], idx: np.ndarray) -> Tuple[Any, Any]:
    return part[0][idx], part[1][idx]


def segmentation_bundle(raw: SegmentationData, cfg: Dict[str, Any], seed: int, batch_size: int) -> DataBundle:
    """Train and validation sets of a segmentation source: subset, split, sizes, normalisation."""
    name = str(cfg.get("name"))
    rng = np.random.default_rng(seed)
    train, val = raw.train, raw.test
    subset = cfg.get("subset")
    if subset is not None:
        if not isinstance(subset, int) or isinstance(subset, bool) or subset < 1:
            raise TrainConfigError(f"data.subset must be a whole number of samples >= 1 (or null), got {subset!r}",
                                   key="data.subset")
        train = _take(train, rng.permutation(len(train[0]))[:subset])
    split = cfg.get("val_split")
    if split is None and val is None:
        split = 0.2
    if split is not None:
        if not isinstance(split, (int, float)) or isinstance(split, bool) or not 0.0 < float(split) < 1.0:
            raise TrainConfigError(f"data.val_split must be a fraction in (0, 1) (or null for the official split), got "
                                   f"{split!r}", key="data.val_split")
        n_val = int(round(len(train[0]) * float(split)))
        if n_val == 0 or n_val == len(train[0]):
            raise TrainConfigError(f"data.val_split={split} of {len(train[0])} samples leaves "
                                   f"{'no validation' if n_val == 0 else 'no training'} samples; use more data",
                                   key="data.val_split")
        perm = rng.permutation(len(train[0]))
        train, val = _take(train, perm[n_val:]), _take(train, perm[:n_val])
    if batch_size > len(train[0]):
        raise TrainConfigError(f"data.batch_size={batch_size} is larger than the training set ({len(train[0])} samples of "
                               f"{name!r}); use data.batch_size<={len(train[0])} or more data", key="data.batch_size")
    augment = Augment.from_config(cfg.get("augment"))
    if augment is not None:
        other = [k for k in ("random_crop", "noise", "cutout") if getattr(augment, k)]
        if other:
            raise TrainConfigError(f"data.augment.{other[0]} is not applied to masks; task=segmentation takes "
                                   "data.augment.horizontal_flip only", key=f"data.augment.{other[0]}")
    norm = cfg.get("normalize", True)
    if not isinstance(norm, bool):
        raise TrainConfigError(f"data.normalize must be true or false, got {norm!r}", key="data.normalize")
    if isinstance(train[0], PathList):
        size = cfg.get("image_size") or first_size(train[0])
        if not size:
            raise TrainConfigError(f"the images of data={name} are not square ({train[0].paths[0]}); set "
                                   "data.image_size=N to resize them (and their masks) to N x N", key="data.image_size")
        channels = int(cfg.get("channels") or 3)
        try:
            mean, std = (channel_stats(train[0], int(size), channels, seed) if norm
                         else (np.zeros(channels), np.ones(channels)))
        except ValueError as exc:
            raise TrainConfigError(f"data.root: {exc}", key="data.root") from None
        sets = [SegmentationFileSet(part[0], part[1], int(size), channels, mean, std, aug, seed)
                for part, aug in ((train, augment), (val, None))]
    else:
        size, channels = int(train[0].shape[2]), int(train[0].shape[1])
        if norm:
            f = train[0].astype(np.float32) / 255.0
            mean, std = f.mean(axis=(0, 2, 3)), np.maximum(f.std(axis=(0, 2, 3)), 1e-3)
        else:
            mean, std = np.zeros(channels), np.ones(channels)
        sets = [SegmentationSet(part[0], part[1], mean, std, aug, seed) for part, aug in ((train, augment), (val, None))]
    return DataBundle(
        name=name, num_classes=raw.num_classes, classes=raw.classes, train=sets[0], val=sets[1],
        info={"train_samples": len(train[0]), "val_samples": len(val[0]), "mean": [float(m) for m in mean],
              "std": [float(s) for s in std], "image_size": int(size), "channels": channels,
              "ignore_index": IGNORE_INDEX},
    )
