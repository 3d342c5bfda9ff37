"""Validation metrics of the paddle backend beyond ``paddle.metric.Accuracy``: the segmentation
task's ``miou`` and ``pixel_acc``, computed as the Lightning backend does (intersections and unions
summed over the whole validation set, pixels marked ``ignore_index`` left out)."""

from __future__ import annotations

from typing import List

import numpy as np
import paddle


class SegmentationMetric(paddle.metric.Metric):
    """``(B, classes, H, W)`` logits against ``(B, H, W)`` masks: mean IoU and pixel accuracy."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.reset()

    def name(self) -> List[str]:
        return ["miou", "pixel_acc"]

    def compute(self, pred, label, *args):
        return paddle.argmax(pred, axis=1), label

    def update(self, pred, label, *args) -> None:
        pred, label = np.asarray(pred).reshape(-1), np.asarray(label).reshape(-1)
        valid = label != self.ignore_index
        pred, label = pred[valid], label[valid]
        c = self.num_classes
        self.inter += np.bincount(label[pred == label], minlength=c)[:c]
        self.area_pred += np.bincount(pred, minlength=c)[:c]
        self.area_true += np.bincount(label, minlength=c)[:c]
        self.correct += int((pred == label).sum())
        self.pixels += int(label.size)

    def reset(self) -> None:
        c = self.num_classes
        self.inter, self.area_pred, self.area_true = np.zeros(c), np.zeros(c), np.zeros(c)
        self.correct, self.pixels = 0, 0

    def accumulate(self) -> List[float]:
        union = self.area_pred + self.area_true - self.inter
        present = union > 0
        miou = float((self.inter[present] / union[present]).mean()) if present.any() else 0.0
        return [miou, self.correct / max(self.pixels, 1)]
