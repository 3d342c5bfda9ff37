"""CIFAR-10 and CIFAR-100 from the published "python version" archives (pickled batches in a tar.gz)."""

from __future__ import annotations

import os
import pickle
import tarfile
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..download import cache_dir, fetch, with_mirror
from ..errors import TrainConfigError
from ..registry import DATASETS
from .arrays import RawData

ARCHIVES = {
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
}
LAYOUT = {  # member folder, train batches, test batch, meta file, label key, names key
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta",
                b"labels", b"label_names"),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels", b"fine_label_names"),
}


def _unpickle(tar: tarfile.TarFile, member: str, archive: str) -> dict:
    try:
        f = tar.extractfile(member)
    except KeyError:
        f = None
    if f is None:
        raise TrainConfigError(f"{archive} has no {member!r}: not a CIFAR python archive; delete it to download it again")
    with f:
        return pickle.load(f, encoding="bytes")  # the published files are Python pickles of plain data


def _get(d: dict, key: bytes):
    """A field of a batch dict: the published (Python 2) pickles have bytes keys, re-pickled copies str keys."""
    if key in d:
        return d[key]
    if key.decode() in d:
        return d[key.decode()]
    raise TrainConfigError(f"a CIFAR batch has no {key.decode()!r} field (fields: {sorted(map(str, d))})")


def _batches(tar, folder: str, names: List[str], label_key: bytes, archive: str) -> Tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        d = _unpickle(tar, f"{folder}/{name}", archive)
        xs.append(np.asarray(_get(d, b"data"), dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(_get(d, label_key), dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _load(name: str, root: Optional[str], mirror: Optional[str], checksums: Optional[Dict[str, str]]) -> RawData:
    url, md5 = ARCHIVES[name]
    fname = url.rsplit("/", 1)[-1]
    md5 = (checksums or {}).get(fname, md5)
    path = fetch(with_mirror(url, mirror), os.path.join(cache_dir(root, name), fname), md5, what=name, key="data.mirror")
    folder, train_names, test_name, meta_name, label_key, names_key = LAYOUT[name]
    with tarfile.open(path, "r:gz") as tar:
        train = _batches(tar, folder, train_names, label_key, path)
        test = _batches(tar, folder, [test_name], label_key, path)
        meta = _unpickle(tar, f"{folder}/{meta_name}", path)
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in (meta.get(names_key) or meta.get(names_key.decode()) or [])]
    return RawData(train=train, test=test, num_classes=100 if name == "cifar100" else 10, classes=classes or None)


@DATASETS.register("cifar10")
def cifar10(root: Optional[str] = None, mirror: Optional[str] = None, checksums: Optional[Dict[str, str]] = None) -> RawData:
    """50,000 + 10,000 32x32 colour images, 10 classes."""
    return _load("cifar10", root, mirror, checksums)


@DATASETS.register("cifar100")
def cifar100(root: Optional[str] = None, mirror: Optional[str] = None, checksums: Optional[Dict[str, str]] = None) -> RawData:
    """50,000 + 10,000 32x32 colour images, 100 fine classes."""
    return _load("cifar100", root, mirror, checksums)
