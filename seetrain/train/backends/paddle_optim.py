"""Optimizer and learning-rate schedule for the PaddlePaddle backend from the same ``optim`` and
``scheduler`` config sections as the PyTorch one (:mod:`seetrain.train.backends.torch_optim`): the
same optimizers, weight decay on weights only (not biases or norms), the same per-step factors (:mod:`.lr_schedule`)."""

from __future__ import annotations

from typing import Any, Dict, Optional

import paddle

from .lr_schedule import lr_factor


def build_schedule(lr: float, cfg: Dict[str, Any], total_steps: int, steps_per_epoch: float):
    """A float (no schedule) or a ``paddle.optimizer.lr.LRScheduler`` stepped once per optimizer step."""
    if cfg.get("name") == "onecycle":  # torch's OneCycleLR defaults: 30 % up, cosine, /25 start, /1e4 end
        return paddle.optimizer.lr.OneCycleLR(max_learning_rate=lr, total_steps=max(int(total_steps), 1),
                                              divide_factor=25.0, end_learning_rate=lr / 25.0 / 1e4, phase_pct=0.3)
    factor = lr_factor(cfg, total_steps, steps_per_epoch)
    return lr if factor is None else paddle.optimizer.lr.LambdaDecay(lr, factor)


def build_optimizer(net: paddle.nn.Layer, cfg: Dict[str, Any], schedule: Any,
                    clip: Optional[float] = None) -> paddle.optimizer.Optimizer:
    name, wd = cfg["name"], float(cfg.get("weight_decay", 0.0))
    params = list(net.parameters())
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    grad_clip = paddle.nn.ClipGradByGlobalNorm(float(clip)) if clip else None
    if name == "adamw":
        names = {p.name for p in decay}
        betas = tuple(cfg.get("betas") or (0.9, 0.999))
        return paddle.optimizer.AdamW(learning_rate=schedule, parameters=params, weight_decay=wd, beta1=betas[0],
                                      beta2=betas[1], apply_decay_param_fun=lambda n: n in names, grad_clip=grad_clip)
    for p in rest:  # L2 decay (torch's weight_decay for Adam / SGD) on weights only
        p.regularizer = paddle.regularizer.L2Decay(0.0)
    if name == "sgd":
        momentum = float(cfg.get("momentum", 0.0))
        return paddle.optimizer.Momentum(learning_rate=schedule, momentum=momentum, parameters=params,
                                         use_nesterov=bool(cfg.get("nesterov", False)) and momentum > 0,
                                         weight_decay=wd or None, grad_clip=grad_clip)
    betas = tuple(cfg.get("betas") or (0.9, 0.999))
    return paddle.optimizer.Adam(learning_rate=schedule, beta1=betas[0], beta2=betas[1], parameters=params,
                                 weight_decay=wd or None, grad_clip=grad_clip)
