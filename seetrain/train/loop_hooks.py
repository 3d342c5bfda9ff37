"""Hooks of the training loop: code that joins in at the loop's events (the start and end of training,
of an epoch and of a batch, and just before each optimizer step), e.g. the APT plugins
(:mod:`seetrain.train.apt_plugins`). Framework-free: a backend's loop builds a :class:`LoopState` and
calls each :class:`LoopHook` of the job (``Job.loop_hooks``) in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass
class LoopState:
    """What a hook sees: the model and optimizer as the user built them (not wrapped by the backend),
    where the loop stands and the run it reports to."""

    model: Any
    optimizer: Any
    step: int                        # optimizer steps done (the step the current batch belongs to)
    epoch: int
    max_steps: int                   # optimizer steps the whole training makes
    run: Any = None                  # the SeeTrain run (None on other ranks or without tracking)
    config: Dict[str, Any] = field(default_factory=dict)
    is_global_zero: bool = True
    checkpoint_dir: Optional[str] = None  # where the loop writes its checkpoints (None: it writes none)


class LoopHook:
    """Override the events you need; each does nothing by default."""

    def on_train_start(self, state: LoopState) -> None:
        """Before the first batch (after a resume's restore)."""

    def on_epoch_start(self, state: LoopState) -> None:
        """Before an epoch's first batch."""

    def on_batch_start(self, state: LoopState, batch: Any, batch_idx: int) -> None:
        """Before a training batch's forward pass."""

    def on_before_optimizer_step(self, state: LoopState) -> None:
        """Gradients complete, not yet clipped, the optimizer not yet stepped."""

    def on_batch_end(self, state: LoopState, batch: Any, batch_idx: int, loss: float, stepped: bool) -> None:
        """After a training batch; ``stepped``: the optimizer stepped on it (``state.step`` is the step
        the batch belonged to)."""

    def on_epoch_end(self, state: LoopState) -> None:
        """After an epoch's last batch."""

    def on_train_end(self, state: LoopState, exception: Optional[BaseException] = None) -> None:
        """Training ended (``exception``: what ended it, when something did)."""

    def on_model_saved(self, state: LoopState, model_dir: str) -> None:
        """The task wrote the trained model into ``model_dir`` (rank zero, after training ended well)."""
