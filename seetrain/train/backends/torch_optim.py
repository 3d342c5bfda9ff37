"""Optimizer and learning-rate schedule from the ``optim`` and ``scheduler`` config sections (PyTorch)."""

from __future__ import annotations

import math
from typing import Any, Dict

import torch


def build_optimizer(params, cfg: Dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = cfg["name"], float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum", 0.0)), weight_decay=wd,
                               nesterov=bool(cfg.get("nesterov", False)) and float(cfg.get("momentum", 0.0)) > 0)
    betas = tuple(cfg.get("betas") or (0.9, 0.999))
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, weight_decay=wd, betas=betas)


def build_scheduler(opt: torch.optim.Optimizer, cfg: Dict[str, Any], total_steps: int, steps_per_epoch: float):
    """A per-step scheduler (or None): linear warm-up, then cosine / step decay, or one-cycle."""
    name = cfg.get("name", "none")
    total_steps = max(int(total_steps), 1)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total_steps)
    warmup = int(round(float(cfg.get("warmup_epochs", 0.0)) * steps_per_epoch))
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

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
