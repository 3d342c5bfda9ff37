"""Weighted mixing of several datasets (``data=mix``): one training set whose examples are drawn
with each source's weight, whatever the sources' sizes; the validation sets are concatenated."""

from __future__ import annotations

from typing import Any, Callable, Dict

import numpy as np

from ..errors import TrainConfigError
from .arrays import RawData


def mix_sources(cfg: Dict[str, Any], rng: np.random.Generator, source: Callable, prepare: Callable):
    sources = cfg.get("sources")
    if not isinstance(sources, (list, tuple)) or len(sources) < 1:
        raise TrainConfigError("data=mix needs data.sources: a list of datasets, e.g. "
                               "[{name: mnist, weight: 0.7}, {name: fashion_mnist, weight: 0.3}]", key="data.sources")
    labels = cfg.get("labels", "shared")
    if labels not in ("shared", "offset"):
        raise TrainConfigError(f"data.labels must be shared (one label space) or offset (each source its own "
                               f"classes), got {labels!r}", key="data.labels")
    trains, vals, weights, sizes, offset, num_classes, classes = [], [], [], [], 0, 0, []
    for i, sub in enumerate(sources):
        prefix = f"data.sources.{i}"
        if not isinstance(sub, dict):
            sub = {"name": sub}
        w = sub.get("weight", 1.0)
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w <= 0:
            raise TrainConfigError(f"{prefix}.weight must be a positive number, got {w!r}", key=f"{prefix}.weight")
        sub = {**{k: cfg[k] for k in ("image_size", "channels") if cfg.get(k)}, **sub}
        raw = source(sub, prefix)
        tr, va = prepare(raw, sub, rng, prefix)
        shift = offset if labels == "offset" else 0
        trains.append((tr.train[0], tr.train[1] + shift))
        vals.append((va.train[0], va.train[1] + shift))
        weights.append(float(w))
        sizes.append(len(tr.train[1]))
        if labels == "offset":
            offset += raw.num_classes
            classes += [f"{sub['name']}/{c}" for c in (raw.classes or range(raw.num_classes))]
        num_classes = offset if labels == "offset" else max(num_classes, raw.num_classes)
    shapes = {t[0].shape[1:] for t in trains}
    if len(shapes) > 1:
        raise TrainConfigError(f"the mixed datasets have different image shapes {sorted(shapes)}; set data.image_size "
                               "and data.channels so they agree (e.g. data.image_size=32 data.channels=3)",
                               key="data.image_size")
    total = sum(weights)
    sample_w = np.concatenate([np.full(n, w / total / n) for w, n in zip(weights, sizes)])
    cat = lambda parts, j: np.concatenate([p[j] for p in parts])  # noqa: E731
    train = RawData(train=(cat(trains, 0), cat(trains, 1)), num_classes=num_classes)
    val = RawData(train=(cat(vals, 0), cat(vals, 1)), num_classes=num_classes)
    return train, val, num_classes, (classes or None), sample_w / sample_w.sum()
