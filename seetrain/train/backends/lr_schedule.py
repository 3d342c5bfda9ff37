"""The learning-rate schedule of the ``scheduler`` config section as a per-step factor of the base
rate, framework-free: the PyTorch (:mod:`.torch_optim`) and PaddlePaddle (:mod:`.paddle_optim`)
backends wrap the same function (``LambdaLR`` / ``LambdaDecay``), so both train on the same rates."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional


def lr_factor(cfg: Dict[str, Any], total_steps: int, steps_per_epoch: float) -> Optional[Callable[[int], float]]:
    """The factor at each optimizer step (linear warm-up over ``warmup_steps`` when set, else over
    ``warmup_epochs``, then cosine decay to
    ``min_lr_ratio`` or a ``gamma`` step every ``step_size`` epochs), or None for a constant rate.
    ``onecycle`` is not here: each framework has its own one-cycle scheduler."""
    name = cfg.get("name", "none")
    total_steps = max(int(total_steps), 1)
    warmup = int(cfg.get("warmup_steps") or 0) or int(round(float(cfg.get("warmup_epochs", 0.0)) * steps_per_epoch))
    if name == "none" and not warmup:
        return None
    floor, gamma, every = float(cfg.get("min_lr_ratio", 0.0)), float(cfg.get("gamma", 0.1)), int(cfg.get("step_size", 30))

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if name == "cosine":
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if name == "step":
            return gamma ** int(step / max(steps_per_epoch, 1e-9) // every)
        return 1.0

    return factor
