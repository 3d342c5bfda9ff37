"""The distillation teacher of ``seetrain apt train``: loaded from a checkpoint, or built from a model
config and trained on the run's own training data first."""

from __future__ import annotations

import itertools
import math
import os
from typing import Any, Dict


def load_or_train_teacher(plugin: Any, context: Dict[str, Any]) -> Any:
    """The teacher named by ``teacher_checkpoint`` (a ``save_pretrained`` directory) or ``teacher_config``."""
    cfg = plugin.config
    if cfg.get("teacher_checkpoint"):
        from seetrain.apt.model import APTLanguageModel

        return APTLanguageModel.from_pretrained(str(cfg["teacher_checkpoint"]))  # any saved model type
    if cfg.get("teacher_config") is None:
        raise ValueError("model-distillation needs teacher_checkpoint (a saved model directory) or teacher_config "
                         "(a model config such as vft_small, trained first for teacher_steps)")
    from omegaconf import OmegaConf

    from seetrain.apt.model_config import _resolve_group, build_model

    spec = OmegaConf.to_container(_resolve_group("model", cfg["teacher_config"]), resolve=True)
    teacher = build_model(spec)
    train_teacher(plugin, teacher, context["train_dataloader"], int(cfg["teacher_steps"]), float(cfg["teacher_lr"]))
    out_dir = context.get("output_dir")
    if cfg.get("save_teacher", True) and out_dir:
        path = os.path.join(out_dir, "teacher")
        teacher.save_pretrained(path)
        if context.get("tokenizer") is not None:
            context["tokenizer"].save(path)
        plugin.update_config({"distillation_teacher_dir": path})
    return teacher


def train_teacher(plugin: Any, teacher: Any, dataloader: Any, steps: int, lr: float) -> float:
    """AdamW with 10% warm-up and cosine decay for ``steps`` batches; logs ``distill/teacher_loss``."""
    import torch

    if steps < 1:
        raise ValueError(f"teacher_steps must be >= 1 to train a teacher from teacher_config, got {steps}")
    opt = torch.optim.AdamW(teacher.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.1 + 0.45 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    teacher.train()
    batches = itertools.chain.from_iterable(itertools.repeat(dataloader))
    loss_value = float("nan")
    every = max(int(plugin.config.get("log_every") or 10), 1)
    for step, batch in zip(range(steps), batches):
        out = teacher(batch["input_ids"], labels=batch["labels"])
        loss = out.loss + (out.aux_loss if out.aux_loss is not None else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_value = float(out.loss.detach())
        if step % every == 0 or step == steps - 1:
            plugin.log({"distill/teacher_loss": loss_value}, step=step)
    teacher.eval()
    return loss_value
