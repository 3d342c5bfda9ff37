"""Optimizer and learning-rate schedule from the ``optim`` and ``scheduler`` config sections (PyTorch)."""

from __future__ import annotations

from typing import Any, Dict

import torch

from .lr_schedule import lr_factor


def build_optimizer(params, cfg: Dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = cfg["name"], float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.get("momentum", 0.0)), weight_decay=wd,
                               nesterov=bool(cfg.get("nesterov", False)) and float(cfg.get("momentum", 0.0)) > 0)
    betas = tuple(cfg.get("betas") or (0.9, 0.999))
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, weight_decay=wd, betas=betas)


def build_scheduler(opt: torch.optim.Optimizer, cfg: Dict[str, Any], total_steps: int, steps_per_epoch: float):
    """A per-step scheduler (or None): one-cycle, or the factors of :func:`.lr_schedule.lr_factor`."""
    name = cfg.get("name", "none")
    total_steps = max(int(total_steps), 1)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total_steps)
    factor = lr_factor(cfg, total_steps, steps_per_epoch)
    return None if factor is None else torch.optim.lr_scheduler.LambdaLR(opt, factor)
