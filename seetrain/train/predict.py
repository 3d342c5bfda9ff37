"""``seetrain predict RUN INPUTS...``: a trained run's predictions for image files (or folders of
them), fed exactly as in training (decoded, resized, converted, normalised with the run's own
statistics) in batches."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence

from .errors import TrainConfigError


@dataclass
class Prediction:
    """One input's prediction: the class (or value) and the model's probability for it. A segmentation
    run also gives ``mask`` (``uint8 (H, W)`` class indices at the training size); its ``index`` is then
    the class covering most pixels after class 0 (the background), ``score`` the mean pixel confidence."""

    input: str
    label: str
    index: int
    score: float
    mask: Optional[Any] = None


def image_files(inputs: Sequence[str]) -> List[str]:
    """The image files named by ``inputs`` (files, or folders searched recursively), in order."""
    from .data.folder import EXTENSIONS

    out: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            for dirpath, dirnames, filenames in os.walk(item):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                out.extend(os.path.join(dirpath, f) for f in sorted(filenames)
                           if not f.startswith(".") and f.lower().endswith(EXTENSIONS))
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise TrainConfigError(f"predict: {item} is neither a file nor a folder")
    if not out:
        raise TrainConfigError(f"predict: no image files in {', '.join(inputs)}")
    return out


def predict(run: str, inputs: Sequence[str], logdir: Optional[str] = None, checkpoint: str = "best",
            batch_size: int = 64, num_workers: int = 0) -> Iterator[Prediction]:
    """Predictions for every image in ``inputs``, in order (a generator: batches are computed lazily)."""
    import numpy as np
    import torch

    from .data.files import FileSet, PathList
    from .trained import load

    trained = load(run, logdir, checkpoint)
    if trained.info.get("features"):
        raise TrainConfigError("predict takes image files; this run was trained on tabular data (use evaluate with "
                               "data.path=NEW.csv)")
    files = image_files(inputs)
    channels, size = int(trained.channels or 3), int(trained.image_size or 32)
    mean = trained.mean or [0.0] * channels
    std = trained.std or [1.0] * channels
    dataset = FileSet(PathList(files), np.zeros(len(files), np.int64), size, channels, mean, std)
    from .backends.torch_data import loader

    classes = trained.classes
    with torch.no_grad():
        start = 0
        for x, _ in loader(dataset, batch_size, train=False, num_workers=num_workers):
            x = x.contiguous(memory_format=torch.channels_last)  # oneDNN convolutions: ~2x faster on a CPU
            probs = torch.softmax(trained.model(x).float(), dim=1)
            if trained.task == "segmentation":
                for j, p in enumerate(_masks(probs)):
                    yield Prediction(files[start + j], classes[p.index] if classes and p.index < len(classes)
                                     else str(p.index), p.index, p.score, p.mask)
                start += probs.shape[0]
                continue
            score, index = probs.max(dim=1)
            for j in range(len(index)):
                i = int(index[j])
                yield Prediction(files[start + j], classes[i] if classes and i < len(classes) else str(i), i,
                                 float(score[j]))
            start += len(index)


def _masks(probs: Any) -> Iterator[Prediction]:
    """Per image of a ``(B, classes, H, W)`` probability batch: its mask, main class and confidence."""
    import numpy as np
    import torch

    score, index = probs.max(dim=1)
    for j in range(probs.shape[0]):
        mask = index[j].to(torch.uint8).numpy()
        counts = np.bincount(mask.ravel(), minlength=probs.shape[1])
        main = int(counts[1:].argmax()) + 1 if counts[1:].sum() else 0
        yield Prediction("", "", main, float(score[j].mean()), mask)


def save_mask(mask: Any, path: str) -> None:
    """A predicted mask as a one-channel PNG of class indices (the format ``data=seg_folder`` reads)."""
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(mask).save(path)
