"""What a task hands to a backend (:class:`Job`) and what a backend hands back (:class:`FitResult`).

Both are framework-free: a backend (Lightning today, PaddlePaddle next) reads the config, the
data sets (NumPy batches through ``.batch(indices)``) and the model's registry name and arguments
from the job, trains, and reports through SeeTrain's public API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

# on_validation(epoch, step, metrics) -> Optional[str]: called by the backend after every validation
# pass on global rank zero; returning a reason (e.g. "pruned") stops training there and the run
# ends as "killed" (stopped on purpose).
ValidationHook = Callable[[int, int, Dict[str, float]], Optional[str]]


@dataclass
class Job:
    """One training job, checked and built except for the framework parts."""

    config: Dict[str, Any]                 # the full resolved config (recorded in the run)
    task: str                              # "classification" | "language_model"
    model_name: str                        # registry name
    model_kwargs: Dict[str, Any]           # builder arguments (num_classes, in_channels, image_size filled in)
    train: Any                             # .batch(indices) -> (x, y) NumPy; len(); .sample_weights
    val: Any
    batch_size: int
    num_workers: int = 0
    metric: str = "val/acc"                # the figure that decides "best"
    mode: str = "max"                      # "max" or "min"
    pretrained: Any = False                # False, True (the registry's weights) or a URL / path
    pretrained_md5: Optional[str] = None
    info: Dict[str, Any] = field(default_factory=dict)  # recorded with the run (sample counts, ...)
    hooks: List[ValidationHook] = field(default_factory=list)
    loop_hooks: List[Any] = field(default_factory=list)  # LoopHook objects (seetrain.train.loop_hooks)
    # replace the training loss (task=language_model): hook(model, batch, outputs, loss) -> the loss to
    # back-propagate, given the model's forward outputs and the task's own loss (e.g. distillation)
    loss_hooks: List[Callable[..., Any]] = field(default_factory=list)
    # parameters whose name holds one of these are not weight-decayed (nor are biases and norms: ndim < 2)
    no_weight_decay: Tuple[str, ...] = ()
    run_name: Optional[str] = None


@dataclass
class FitResult:
    """The outcome of :func:`seetrain.train.run` (rank zero's view under DDP)."""

    metric: str
    best: Optional[float]
    best_epoch: Optional[int]
    last: Dict[str, float]
    steps: int
    epochs: int
    seconds: float
    run_dir: Optional[str] = None
    run_id: Optional[str] = None
    best_checkpoint: Optional[str] = None
    last_checkpoint: Optional[str] = None
    is_global_zero: bool = True
    stop_reason: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """The closing lines on both backends: the final validation figures, then the best one and where
        it is saved, then the run directory."""
        best = "n/a" if self.best is None else f"{self.best:.4f}"
        lines = []
        final = [(k, v) for k, v in self.last.items() if k.startswith("val/") and k != "val/epoch"]
        final.sort(key=lambda kv: kv[0] != self.metric)  # the metric that decides "best" first
        if final:
            lines.append("final " + ", ".join(f"{k}: {v:.4f}" for k, v in final))
        lines += [f"best {self.metric}: {best}" + (f" (epoch {self.best_epoch})" if self.best_epoch is not None else "")
                 + f" after {self.steps} steps, {self.epochs} epochs, {self.seconds:.1f} s"]
        if self.best_checkpoint or self.last_checkpoint:
            lines.append(f"checkpoint: {self.best_checkpoint or self.last_checkpoint}")
        lines.append(f"run dir: {self.run_dir or '(tracking disabled)'}")
        return "\n".join(lines)
