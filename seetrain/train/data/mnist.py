"""MNIST and Fashion-MNIST from their published IDX files (gzip), checked against the published MD5s."""

from __future__ import annotations

import gzip
import os
import struct
from typing import Dict, Optional

import numpy as np

from ..download import cache_dir, fetch, with_mirror
from ..errors import TrainConfigError
from ..registry import DATASETS
from .arrays import RawData

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")
SOURCES = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
               "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                       "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def read_idx(path: str) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) as a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise TrainConfigError(f"{path} is not an IDX file (bad magic number); delete it to download it again")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}.get(data[2])
    if dtype is None:
        raise TrainConfigError(f"{path}: unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise TrainConfigError(f"{path}: IDX header says {shape} but the file holds {arr.size} values (truncated?)")
    return arr.reshape(shape)


def _load(name: str, root: Optional[str], mirror: Optional[str], checksums: Optional[Dict[str, str]]) -> RawData:
    base, md5s = SOURCES[name]
    folder = cache_dir(root, name)
    sums = dict(zip(FILES, md5s))
    sums.update(checksums or {})
    paths = [fetch(with_mirror(base + f, mirror), os.path.join(folder, f), sums.get(f), what=name, key="data.mirror")
             for f in FILES]
    x_tr, y_tr, x_te, y_te = (read_idx(p) for p in paths)
    for x, y, split in ((x_tr, y_tr, "train"), (x_te, y_te, "test")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise TrainConfigError(f"{name} {split} files disagree: images {x.shape}, labels {y.shape}")
    return RawData(train=(x_tr[:, None].copy(), y_tr.astype(np.int64)), test=(x_te[:, None].copy(), y_te.astype(np.int64)),
                   num_classes=10, classes=FASHION_CLASSES if name == "fashion_mnist" else [str(i) for i in range(10)])


@DATASETS.register("mnist")
def mnist(root: Optional[str] = None, mirror: Optional[str] = None, checksums: Optional[Dict[str, str]] = None) -> RawData:
    """60,000 + 10,000 28x28 handwritten digits."""
    return _load("mnist", root, mirror, checksums)


@DATASETS.register("fashion_mnist")
def fashion_mnist(root: Optional[str] = None, mirror: Optional[str] = None,
                  checksums: Optional[Dict[str, str]] = None) -> RawData:
    """60,000 + 10,000 28x28 Zalando article images, 10 classes."""
    return _load("fashion_mnist", root, mirror, checksums)
