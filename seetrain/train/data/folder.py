"""``data=folder``: your own images in the ImageFolder layout (one folder per class), read from disk.

    ROOT/train/<class>/*.jpg     and  ROOT/val/<class>/*.jpg   (the ImageNet layout: official split)
    ROOT/<class>/*.jpg                                          (one set: data.val_split holds part out)

Classes are the sub-folder names in sorted order (label 0 is the first), as torchvision's
ImageFolder does, so a model trained here labels the same way. Files are found by extension
(``data.extensions``), hidden files and folders are skipped, and images are decoded while training.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import TrainConfigError
from ..registry import DATASETS
from .arrays import RawData
from .files import PathList

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _classes(folder: str) -> List[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _files(folder: str, classes: Sequence[str], extensions: Tuple[str, ...]) -> Tuple[PathList, np.ndarray]:
    paths: List[str] = []
    labels: List[int] = []
    for label, cls in enumerate(classes):
        cdir = os.path.join(folder, cls)
        if not os.path.isdir(cdir):
            continue
        for dirpath, dirnames, filenames in os.walk(cdir, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if not f.startswith(".") and f.lower().endswith(extensions):
                    paths.append(os.path.join(dirpath, f))
                    labels.append(label)
    return PathList(paths), np.asarray(labels, np.int64)


def scan(root: str, train_dir: str = "train", val_dir: str = "val",
         extensions: Optional[Sequence[str]] = None) -> RawData:
    """The file lists of an ImageFolder tree (:class:`RawData` holding :class:`PathList`); raises :class:`TrainConfigError` saying what is wrong."""
    if not root:
        raise TrainConfigError("data=folder needs data.root=PATH: a folder with one sub-folder per class "
                               "(or train/ and val/ folders holding those)", key="data.root")
    root = os.path.abspath(os.path.expanduser(str(root)))
    if not os.path.isdir(root):
        raise TrainConfigError(f"data.root={root} is not a folder (expected one sub-folder per class, or train/ "
                               f"and val/ folders holding those)", key="data.root")
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in (extensions or EXTENSIONS))
    tdir = os.path.join(root, train_dir)
    split = os.path.isdir(tdir)
    classes = _classes(tdir if split else root)
    if not classes:
        raise TrainConfigError(f"data.root={root}: no class folders in {tdir if split else root} (expected one "
                               f"sub-folder per class holding {', '.join(exts[:4])}... files)", key="data.root")
    train = _files(tdir if split else root, classes, exts)
    if len(train[0]) == 0:
        raise TrainConfigError(f"data.root={root}: the class folders {', '.join(classes[:5])} hold no image files "
                               f"({', '.join(exts)}; data.extensions chooses others)", key="data.root")
    test = None
    vdir = os.path.join(root, val_dir)
    if split and os.path.isdir(vdir):
        extra = sorted(set(_classes(vdir)) - set(classes))
        if extra:
            raise TrainConfigError(f"{vdir} has class folders that {tdir} lacks: {', '.join(extra[:5])}; the "
                                   "validation classes must be training classes", key="data.root")
        test = _files(vdir, classes, exts)
        if len(test[0]) == 0:
            test = None
    return RawData(train=train, num_classes=len(classes), test=test, classes=classes)


@DATASETS.register("folder")
def folder(root: Optional[str] = None, train_dir: str = "train", val_dir: str = "val",
           extensions: Optional[List[str]] = None) -> RawData:
    return scan(root or "", train_dir, val_dir, extensions)
