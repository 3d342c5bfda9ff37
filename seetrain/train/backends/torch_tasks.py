"""What one training step and one validation batch compute for each task (PyTorch).

A task step is plain arithmetic on the model and a batch; the loop in :mod:`.torch_loop` does the
rest. Validation returns per-batch *sums* (loss, correct answers, samples) that the loop adds up over
the pass (and across processes), so the means it reports are exact whatever the batch sizes.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Sequence, Tuple

import torch
from torch.nn import functional as F


class ClassificationStep:
    """Cross-entropy; validation gives ``val/loss`` and ``val/acc``."""

    n_sums = 3

    @staticmethod
    def loss(model: Any, batch: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """(the loss to back-propagate, the loss to report)."""
        x, y = batch
        loss = F.cross_entropy(model(x), y)
        return loss, loss

    @staticmethod
    def val_sums(model: Any, batch: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        logits = model(x)
        return torch.stack([F.cross_entropy(logits.float(), y, reduction="sum"), (logits.argmax(1) == y).sum().float(),
                            torch.tensor(float(y.shape[0]), device=y.device)])

    @staticmethod
    def val_metrics(sums: torch.Tensor) -> Dict[str, float]:
        loss, correct, n = sums.tolist()
        n = max(n, 1.0)
        return {"val/loss": loss / n, "val/acc": correct / n}


class LanguageModelStep:
    """Next-token loss (plus the model's auxiliary loss); validation gives ``val/loss`` and ``val/ppl``.
    ``loss_hooks`` (``Job.loss_hooks``) replace the loss to back-propagate, in order: each gets the model,
    the batch, the forward outputs and the loss so far (e.g. distillation's KD term); ``train/loss``
    stays the next-token loss."""

    n_sums = 2

    def __init__(self, loss_hooks: Sequence[Callable[..., Any]] = ()) -> None:
        self.loss_hooks = list(loss_hooks)

    def loss(self, model: Any, batch: Tuple[torch.Tensor, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        x = batch[0]
        out = model(x, labels=x)
        loss = out.loss
        for hook in self.loss_hooks:
            loss = hook(getattr(model, "module", model), batch, out, loss)
        aux = getattr(out, "aux_loss", None)
        return (loss + aux if aux is not None else loss), out.loss

    @staticmethod
    def val_sums(model: Any, batch: Tuple[torch.Tensor, Any]) -> torch.Tensor:
        x = batch[0]
        n = float(x.shape[0])
        return torch.stack([model(x, labels=x).loss.float() * n, torch.tensor(n, device=x.device)])

    @staticmethod
    def val_metrics(sums: torch.Tensor) -> Dict[str, float]:
        loss, n = sums.tolist()
        loss = loss / max(n, 1.0)
        return {"val/loss": loss, "val/ppl": math.exp(min(loss, 50.0))}


class RegressionStep:
    """Mean squared error on a ``(batch, 1)`` output; validation gives ``val/loss`` (MSE), ``val/rmse``
    and ``val/mae``."""

    n_sums = 3

    @staticmethod
    def loss(model: Any, batch: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        loss = F.mse_loss(model(x).reshape(-1).float(), y.float())
        return loss, loss

    @staticmethod
    def val_sums(model: Any, batch: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        err = model(x).reshape(-1).float() - y.float()
        return torch.stack([(err * err).sum(), err.abs().sum(), torch.tensor(float(y.shape[0]), device=y.device)])

    @staticmethod
    def val_metrics(sums: torch.Tensor) -> Dict[str, float]:
        sq, ab, n = sums.tolist()
        n = max(n, 1.0)
        return {"val/loss": sq / n, "val/rmse": math.sqrt(sq / n), "val/mae": ab / n}


class SegmentationStep:
    """Per-pixel cross-entropy (pixels marked ``ignore_index`` left out); validation gives ``val/loss``,
    ``val/pixel_acc`` and ``val/miou``: the mean over classes of intersection / union, each summed
    over the whole validation set (classes absent from both the masks and the predictions left out)."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.n_sums = 3 + 2 * self.num_classes   # loss, correct pixels, pixels, then intersections and unions

    def loss(self, model: Any, batch: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        loss = F.cross_entropy(model(x), y, ignore_index=self.ignore_index)
        return loss, loss

    def val_sums(self, model: Any, batch: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        logits = model(x).float()
        valid = y != self.ignore_index
        n = valid.sum()
        loss = F.cross_entropy(logits, y, ignore_index=self.ignore_index, reduction="sum")
        pred, truth = logits.argmax(1)[valid], y[valid]
        c = self.num_classes
        inter = torch.bincount(truth[pred == truth], minlength=c)[:c]
        area_pred, area_true = torch.bincount(pred, minlength=c)[:c], torch.bincount(truth, minlength=c)[:c]
        return torch.cat([torch.stack([loss, (pred == truth).sum().float(), n.float()]), inter.float(),
                          (area_pred + area_true - inter).float()])

    def val_metrics(self, sums: torch.Tensor) -> Dict[str, float]:
        loss, correct, n = sums[:3].tolist()
        inter, union = sums[3:3 + self.num_classes], sums[3 + self.num_classes:]
        present = union > 0
        miou = float((inter[present] / union[present]).mean()) if bool(present.any()) else 0.0
        n = max(n, 1.0)
        return {"val/loss": loss / n, "val/pixel_acc": correct / n, "val/miou": miou}


STEPS = {"classification": ClassificationStep, "regression": RegressionStep}


def step_for(task: str, info: Dict[str, Any], loss_hooks: Sequence[Callable[..., Any]] = ()) -> Any:
    """The step of ``task``; ``info`` (the job's data info: ``num_classes``, ``ignore_index``) sizes
    those that depend on the data; ``loss_hooks``: the language model's loss replacements."""
    if loss_hooks and task != "language_model":
        raise ValueError(f"loss hooks replace the language model's loss; task {task!r} has none")
    if task == "segmentation":
        return SegmentationStep(int(info["num_classes"]), int(info.get("ignore_index", 255)))
    if task == "language_model":
        return LanguageModelStep(loss_hooks)
    return STEPS[task]
