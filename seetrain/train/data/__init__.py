"""The data registry and the one function that turns a ``data`` config into train/val sets.

Backend-neutral: sources return NumPy arrays (:class:`RawData`); :func:`build_data` applies the
subset, resize, channel conversion, train/val split, normalisation, augmentation and mixing, and
checks sizes, before any run exists.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import TrainConfigError, did_you_mean
from ..registry import DATASETS
from .arrays import Augment, DataBundle, ImageSet, RawData
from .files import PathList

# keys of a data config that the trainer handles; any other key goes to the dataset source
COMMON_KEYS = ("name", "_target_", "batch_size", "num_workers", "val_split", "subset", "image_size", "channels",
               "normalize", "augment", "sources", "labels", "weight")

__all__ = ["build_data", "DataBundle", "ImageSet", "RawData", "Augment", "DATASETS", "COMMON_KEYS", "source_keys"]


def source_keys(name: str) -> List[str]:
    return DATASETS.get(name).parameters()


def _source(cfg: Dict[str, Any], prefix: str = "data") -> RawData:
    name = cfg.get("name")
    if not name:
        raise TrainConfigError(f"{prefix}.name is missing; pick a dataset, e.g. data=digits", key=f"{prefix}.name")
    target = cfg.get("_target_")
    entry = DATASETS.target(str(target), None, f"{prefix}._target_") if target else DATASETS.get(str(name))
    params = entry.parameters()
    kwargs = {}
    for k, v in cfg.items():
        if k in COMMON_KEYS and not (k in params and v is not None):
            continue
        if k not in params:
            raise TrainConfigError(f"unknown key {prefix}.{k} for dataset {name!r}{did_you_mean(k, list(params) + list(COMMON_KEYS))}"
                                   f" (it takes: {', '.join(params + [c for c in COMMON_KEYS if c not in ('sources', 'labels', 'weight')])})",
                                   key=f"{prefix}.{k}")
        kwargs[k] = v
    try:
        raw = entry.fn(**kwargs)
    except TypeError as exc:
        raise TrainConfigError(f"dataset {name!r}: {exc}", key=prefix) from None
    return raw


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[2] == size and images.shape[3] == size:
        return images
    from PIL import Image

    out = np.empty(images.shape[:2] + (size, size), np.uint8)
    for i, img in enumerate(images):
        for c in range(img.shape[0]):
            out[i, c] = np.asarray(Image.fromarray(img[c]).resize((size, size), Image.BILINEAR))
    return out


def _channels(images: np.ndarray, channels: Optional[int], key: str) -> np.ndarray:
    if not channels or images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return np.repeat(images, channels, axis=1)
    if channels == 1:
        return np.round(images.mean(axis=1, keepdims=True)).astype(np.uint8)
    raise TrainConfigError(f"cannot convert {images.shape[1]}-channel images to {channels} channels", key=key)


def _prepare(raw: RawData, cfg: Dict[str, Any], rng: np.random.Generator, prefix: str) -> Tuple[RawData, RawData]:
    """(train, val) arrays after subset, split, resize and channel conversion."""
    x, y = raw.train
    name = cfg.get("name")
    if len(x) == 0:
        raise TrainConfigError(f"dataset {name!r} is empty (0 training samples); check {prefix}.* or the files in "
                               f"its cache folder", key=f"{prefix}.name")
    if y.min() < 0 or y.max() >= raw.num_classes:
        raise TrainConfigError(f"dataset {name!r} has labels {int(y.min())}..{int(y.max())} but {raw.num_classes} classes")
    subset = cfg.get("subset")
    if subset is not None:
        if not isinstance(subset, int) or isinstance(subset, bool) or subset < 0:
            raise TrainConfigError(f"{prefix}.subset must be a whole number of samples >= 0 (or null), got {subset!r}",
                                   key=f"{prefix}.subset")
        keep = rng.permutation(len(x))[:subset]
        x, y = x[keep], y[keep]
        if len(x) == 0:
            raise TrainConfigError(f"{prefix}.subset={subset} leaves dataset {name!r} empty; use a positive subset or null",
                                   key=f"{prefix}.subset")
    split = cfg.get("val_split")
    if split is None and raw.test is None:
        split = 0.2
    if split is not None:
        if not isinstance(split, (int, float)) or isinstance(split, bool) or not 0.0 < float(split) < 1.0:
            raise TrainConfigError(f"{prefix}.val_split must be a fraction in (0, 1) (or null for the official test "
                                   f"split), got {split!r}", key=f"{prefix}.val_split")
        perm = rng.permutation(len(x))
        n_val = int(round(len(x) * float(split)))
        if len(x) < 2:
            what = f"{prefix}.subset={subset} leaves" if subset is not None else f"dataset {name!r} has"
            raise TrainConfigError(f"{what} {len(x)} sample, too few to hold out validation data "
                                   f"({prefix}.val_split={split}); use at least 2 samples", key=f"{prefix}.val_split")
        if n_val == 0 or n_val == len(x):
            raise TrainConfigError(f"{prefix}.val_split={split} of {len(x)} samples leaves "
                                   f"{'no validation' if n_val == 0 else 'no training'} samples; use a fraction "
                                   f"between {1 / len(x):.3g} and {1 - 1 / len(x):.3g} or more data", key=f"{prefix}.val_split")
        val = (x[perm[:n_val]], y[perm[:n_val]])
        x, y = x[perm[n_val:]], y[perm[n_val:]]
    else:
        val = raw.test
        if len(val[0]) == 0:
            raise TrainConfigError(f"dataset {name!r} has an empty test split; set {prefix}.val_split to hold out part "
                                   "of the training data", key=f"{prefix}.val_split")
    size, ch = cfg.get("image_size"), cfg.get("channels")
    out = []
    for xs, ys in ((x, y), val):
        if isinstance(xs, PathList):  # files: decoded, resized and converted batch by batch (build_data)
            out.append(RawData(train=(xs, ys), num_classes=raw.num_classes, classes=raw.classes))
            continue
        if size:
            xs = _resize(xs, int(size))
        out.append(RawData(train=(_channels(xs, ch, f"{prefix}.channels"), ys), num_classes=raw.num_classes,
                           classes=raw.classes))
    return out[0], out[1]


def _check_int(cfg: Dict[str, Any], key: str, low: int, allow_none: bool = False) -> Optional[int]:
    v = cfg.get(key)
    if v is None and allow_none:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise TrainConfigError(f"data.{key} must be a whole number >= {low}{' (or null)' if allow_none else ''}, got {v!r}",
                               key=f"data.{key}")
    return v


def build_data(cfg: Dict[str, Any], seed: int = 0, task: str = "classification") -> DataBundle:
    """Train and validation sets for the ``data`` config ``cfg``; raises :class:`TrainConfigError`.
    ``task`` matters to tables (``regression``: numeric targets) and masks (``segmentation``)."""
    cfg = dict(cfg)
    rng = np.random.default_rng(seed)
    batch_size = _check_int(cfg, "batch_size", 1)
    _check_int(cfg, "num_workers", 0)
    _check_int(cfg, "image_size", 1, allow_none=True)
    _check_int(cfg, "channels", 1, allow_none=True)
    augment = Augment.from_config(cfg.get("augment"))
    weights = None
    if cfg.get("name") == "mix":
        train, val, num_classes, classes, weights = _mix(cfg, rng)
    else:
        if cfg.get("sources"):
            raise TrainConfigError("data.sources is only for data.name=mix", key="data.sources")
        raw = _source(cfg)
        from .segmentation import SegmentationData, segmentation_bundle
        from .tabular import Table, table_bundle

        if isinstance(raw, Table):
            return table_bundle(raw, cfg, task == "regression", seed)
        if isinstance(raw, SegmentationData) != (task == "segmentation"):
            raise TrainConfigError(f"task=segmentation needs images with masks (data=shapes or data=seg_folder); data "
                                   f"{cfg.get('name')!r} holds labels for whole images" if task == "segmentation" else
                                   f"data {cfg.get('name')!r} holds segmentation masks; train it with task=segmentation",
                                   key="task")
        if isinstance(raw, SegmentationData):
            return segmentation_bundle(raw, cfg, seed, batch_size)
        if task == "regression":
            raise TrainConfigError(f"task=regression needs a table (data=csv); data {cfg.get('name')!r} holds images",
                                   key="task")
        train, val = _prepare(raw, cfg, rng, "data")
        num_classes, classes = raw.num_classes, raw.classes
    xt, yt = train.train
    if isinstance(xt, PathList):
        return _file_bundle(cfg, train, val, num_classes, classes, augment, seed, batch_size)
    if batch_size > len(xt):
        raise TrainConfigError(f"data.batch_size={batch_size} is larger than the training set ({len(xt)} samples of "
                               f"{cfg.get('name')!r}); use data.batch_size<={len(xt)} or more data", key="data.batch_size")
    norm = cfg.get("normalize", True)
    if not isinstance(norm, bool):
        raise TrainConfigError(f"data.normalize must be true or false, got {norm!r}", key="data.normalize")
    if norm:
        f = xt.astype(np.float32) / 255.0
        mean = f.mean(axis=(0, 2, 3))
        std = np.maximum(f.std(axis=(0, 2, 3)), 1e-3)
    else:
        mean, std = np.zeros(xt.shape[1]), np.ones(xt.shape[1])
    return DataBundle(
        name=str(cfg.get("name")), num_classes=num_classes, classes=classes,
        train=ImageSet(xt, yt, mean, std, augment, seed, weights),
        val=ImageSet(val.train[0], val.train[1], mean, std, None, seed),
        info={"train_samples": len(xt), "val_samples": len(val.train[0]), "mean": [float(m) for m in mean],
              "std": [float(s) for s in std], "image_size": int(xt.shape[2]), "channels": int(xt.shape[1])},
    )


def _file_bundle(cfg: Dict[str, Any], train: RawData, val: RawData, num_classes: int, classes: Optional[List[str]],
                 augment: Optional[Augment], seed: int, batch_size: int) -> DataBundle:
    """Train and validation sets decoded from image files while training (``data=folder``)."""
    from .files import FileSet, channel_stats, first_size

    xt, yt = train.train
    xv, yv = val.train
    if batch_size > len(xt):
        raise TrainConfigError(f"data.batch_size={batch_size} is larger than the training set ({len(xt)} images); "
                               f"use data.batch_size<={len(xt)} or more data", key="data.batch_size")
    size = cfg.get("image_size") or first_size(xt)
    if not size:
        raise TrainConfigError(f"the images of data={cfg.get('name')} are not square ({xt.paths[0]}); set "
                               "data.image_size=N to resize them to N x N", key="data.image_size")
    channels = int(cfg.get("channels") or 3)
    if channels not in (1, 3):
        raise TrainConfigError(f"data.channels must be 1 or 3 for image files, got {channels}", key="data.channels")
    norm = cfg.get("normalize", True)
    if not isinstance(norm, bool):
        raise TrainConfigError(f"data.normalize must be true or false, got {norm!r}", key="data.normalize")
    try:
        mean, std = channel_stats(xt, int(size), channels, seed) if norm else (np.zeros(channels), np.ones(channels))
    except ValueError as exc:
        raise TrainConfigError(f"data.root: {exc}", key="data.root") from None
    return DataBundle(
        name=str(cfg.get("name")), num_classes=num_classes, classes=classes,
        train=FileSet(xt, yt, int(size), channels, mean, std, augment, seed),
        val=FileSet(xv, yv, int(size), channels, mean, std, None, seed),
        info={"train_samples": len(xt), "val_samples": len(xv), "mean": [float(m) for m in mean],
              "std": [float(s) for s in std], "image_size": int(size), "channels": channels, "streamed": True},
    )


def _mix(cfg: Dict[str, Any], rng: np.random.Generator):
    from .mixing import mix_sources

    return mix_sources(cfg, rng, _source, _prepare)
