"""``data=csv``: your own table (a CSV file with a header row) for classification or regression.

    seetrain train data=csv data.path=houses.csv data.target=price task=regression model=mlp
    seetrain train data=csv data.path=iris.csv data.target=species model=mlp

Features are the columns named in ``data.features`` (default: every column but the target and
``data.ignore``). Numeric columns are standardised with the training split's mean and std (an empty
cell takes the training mean); a text column is one-hot encoded over the values the training split
has (up to :data:`MAX_CATEGORIES`). With ``task=classification`` the target's distinct values are
the classes (sorted); with ``task=regression`` it must be numeric and is predicted as is.
Read with the standard library: pandas is not needed.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import TrainConfigError, did_you_mean
from ..registry import DATASETS

MAX_CATEGORIES = 50


@dataclass
class Table:
    """What the ``csv`` source returns: the raw columns, before the split decides the statistics."""

    columns: Dict[str, List[str]]
    target: str
    features: List[str]
    path: str

    @property
    def rows(self) -> int:
        return len(self.columns[self.target])


def _number(text: str) -> Optional[float]:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def read_table(path: str, target: str, features: Optional[Sequence[str]] = None,
               ignore: Sequence[str] = (), delimiter: str = ",") -> Table:
    """The columns of ``path``; raises :class:`TrainConfigError` naming the file, column or line."""
    if not path:
        raise TrainConfigError("data=csv needs data.path=FILE.csv (a header row, one example per line)", key="data.path")
    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.isfile(path):
        raise TrainConfigError(f"data.path={path}: no such file", key="data.path")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise TrainConfigError(f"data.path={path} is empty (expected a header row)", key="data.path")
        header = [h.strip() for h in header]
        cols: Dict[str, List[str]] = {h: [] for h in header}
        for line, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise TrainConfigError(f"{path}, line {line}: {len(row)} fields where the header has {len(header)}",
                                       key="data.path")
            for h, c in zip(header, row):
                cols[h].append(c.strip())
    if not target:
        raise TrainConfigError(f"data.target is missing: name the column to predict (one of {', '.join(header)})",
                               key="data.target")
    if target not in cols:
        raise TrainConfigError(f"data.target={target!r} is not a column of {path}{did_you_mean(target, header)} "
                               f"(columns: {', '.join(header)})", key="data.target")
    if features:
        missing = [c for c in features if c not in cols]
        if missing:
            raise TrainConfigError(f"data.features: {', '.join(missing)} not in {path} (columns: {', '.join(header)})",
                                   key="data.features")
        feats = list(features)
    else:
        feats = [h for h in header if h != target and h not in set(ignore)]
    if target in feats:
        raise TrainConfigError(f"data.features includes the target {target!r}", key="data.features")
    if not feats:
        raise TrainConfigError(f"{path} has no feature columns besides the target {target!r}", key="data.features")
    if not cols[target]:
        raise TrainConfigError(f"{path} has a header but no rows", key="data.path")
    return Table(columns=cols, target=target, features=feats, path=path)


@dataclass
class Encoder:
    """How feature columns become numbers, learnt on the training rows (recorded with the run)."""

    numeric: Dict[str, Tuple[float, float]] = field(default_factory=dict)    # column -> (mean, std)
    categories: Dict[str, List[str]] = field(default_factory=dict)           # column -> values (one-hot)
    order: List[str] = field(default_factory=list)

    @classmethod
    def fit(cls, table: Table, rows: np.ndarray) -> "Encoder":
        enc = cls(order=list(table.features))
        for c in table.features:
            vals = [table.columns[c][i] for i in rows]
            nums = [_number(v) for v in vals]
            if all(n is not None or v == "" for n, v in zip(nums, vals)) and any(n is not None for n in nums):
                arr = np.array([n for n in nums if n is not None], np.float64)
                enc.numeric[c] = (float(arr.mean()), float(max(arr.std(), 1e-8)))
            else:
                cats = sorted(set(vals))
                if len(cats) > MAX_CATEGORIES:
                    raise TrainConfigError(f"column {c!r} of {table.path} has {len(cats)} distinct text values; one-hot "
                                           f"encoding takes up to {MAX_CATEGORIES} (drop it with data.ignore=[{c}])",
                                           key="data.features")
                enc.categories[c] = cats
        return enc

    @property
    def width(self) -> int:
        return sum(1 if c in self.numeric else len(self.categories[c]) for c in self.order)

    def names(self) -> List[str]:
        return [n for c in self.order for n in ([c] if c in self.numeric else [f"{c}={v}" for v in self.categories[c]])]

    def transform(self, columns: Dict[str, List[str]], rows: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(rows), self.width), np.float32)
        j = 0
        for c in self.order:
            vals = columns[c]
            if c in self.numeric:
                mean, std = self.numeric[c]
                col = np.array([(_number(vals[i]) if _number(vals[i]) is not None else mean) for i in rows], np.float64)
                out[:, j] = (col - mean) / std
                j += 1
            else:
                index = {v: k for k, v in enumerate(self.categories[c])}
                for r, i in enumerate(rows):
                    k = index.get(vals[i])
                    if k is not None:  # a value the training rows never had: all zeros
                        out[r, j + k] = 1.0
                j += len(self.categories[c])
        return out


class TableSet:
    """Encoded rows of one split: ``.batch(indices)`` gives ``float32 (B, F)`` and the targets."""

    augment = None
    images = None
    sample_weights = None

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> Tuple[int]:
        return (int(self.x.shape[1]),)

    def batch(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return self.x[idx], self.y[idx]

    def __getitem__(self, i: int):
        return self.x[int(i)], self.y[int(i)]


def targets(table: Table, regression: bool) -> Tuple[np.ndarray, Optional[List[str]]]:
    """(targets, classes): float32 values for regression, int64 class indices (sorted values) otherwise."""
    vals = table.columns[table.target]
    if regression:
        nums = [_number(v) for v in vals]
        bad = [i for i, n in enumerate(nums) if n is None]
        if bad:
            raise TrainConfigError(f"task=regression needs a numeric target; column {table.target!r} of {table.path} "
                                   f"has {vals[bad[0]]!r} on line {bad[0] + 2}", key="data.target")
        return np.asarray(nums, np.float32), None
    classes = sorted(set(vals), key=lambda v: (_number(v) is None, _number(v) or 0.0, v))
    if len(classes) < 2:
        raise TrainConfigError(f"column {table.target!r} has one value only; classification needs at least two",
                               key="data.target")
    index = {c: k for k, c in enumerate(classes)}
    return np.asarray([index[v] for v in vals], np.int64), classes


@DATASETS.register("csv")
def csv_table(path: Optional[str] = None, target: Optional[str] = None, features: Optional[List[str]] = None,
              ignore: Optional[List[str]] = None, delimiter: str = ",") -> Table:
    return read_table(path or "", target or "", features, ignore or (), delimiter)


def table_bundle(table: Table, cfg: Dict[str, Any], regression: bool, seed: int):
    """Train and validation :class:`TableSet` of ``table`` (split, encoded with training statistics)."""
    from .arrays import DataBundle

    rng = np.random.default_rng(seed)
    y, classes = targets(table, regression)
    rows = np.arange(table.rows)
    subset = cfg.get("subset")
    if subset is not None:
        rows = rng.permutation(rows)[:int(subset)]
    split = cfg.get("val_split")
    split = 0.2 if split is None else float(split)
    if not 0.0 < split < 1.0:
        raise TrainConfigError(f"data.val_split must be a fraction in (0, 1), got {split!r}", key="data.val_split")
    perm = rng.permutation(rows)
    n_val = int(round(len(perm) * split))
    if n_val == 0 or n_val == len(perm):
        raise TrainConfigError(f"data.val_split={split} of {len(perm)} rows leaves "
                               f"{'no validation' if n_val == 0 else 'no training'} rows", key="data.val_split")
    val_rows, train_rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    enc = Encoder.fit(table, train_rows)
    train = TableSet(enc.transform(table.columns, train_rows), y[train_rows])
    val = TableSet(enc.transform(table.columns, val_rows), y[val_rows])
    bs = int(cfg["batch_size"])
    if bs > len(train):
        raise TrainConfigError(f"data.batch_size={bs} is larger than the training rows ({len(train)}); use "
                               f"data.batch_size<={len(train)}", key="data.batch_size")
    info = {"train_samples": len(train), "val_samples": len(val), "features": enc.names(),
            "encoder": {"numeric": enc.numeric, "categories": enc.categories, "order": enc.order},
            "target": table.target}
    return DataBundle(name=str(cfg.get("name")), train=train, val=val,  # type: ignore[arg-type]
                      num_classes=len(classes) if classes else 1, classes=classes, info=info)
