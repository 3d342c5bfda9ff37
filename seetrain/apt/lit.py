"""Lightning pieces of the APT trainer: the LightningModule, the plugin callback and the logger.

Imported only by :mod:`seetrain.apt.train` when training starts (it imports Lightning).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import lightning.pytorch as L
import torch


class APTLightningModule(L.LightningModule):
    """Trains an APT (or baseline) language model: AdamW, linear warm-up then cosine decay per step.

    Logs ``train/loss``, ``lr``, ``train/tokens_per_s``, ``val/loss``, ``val/ppl`` and, for VFT
    models, ``vft/block<i>/eps_mean`` and ``vft/block<i>/over_tau``.
    """

    def __init__(self, model: torch.nn.Module, optim_cfg: Dict[str, Any], max_steps: int,
                 log_block_stats: bool = True, tokens_per_batch: int = 0,
                 loss_hooks: Optional[List[Callable[..., Dict[str, Any]]]] = None) -> None:
        super().__init__()
        self.model = model
        # plugins that replace the loss: hook(model, batch, outputs, step) -> {"loss": tensor, "<metric>": value}
        self.loss_hooks = list(loss_hooks or [])
        self.optim_cfg = dict(optim_cfg)
        self.max_steps = int(max_steps)
        self.log_block_stats = bool(log_block_stats)
        self.tokens_per_batch = int(tokens_per_batch)
        self._t_last: Optional[float] = None
        self._val_losses: List[float] = []

    def forward(self, input_ids, **kw):
        return self.model(input_ids, **kw)

    def training_step(self, batch, batch_idx):
        out = self.model(batch["input_ids"], labels=batch["labels"])
        self.log("train/loss", out.loss, prog_bar=True)
        loss = out.loss
        for hook in self.loss_hooks:  # e.g. distillation: alpha * KD + beta * cross-entropy
            terms = dict(hook(self.model, batch, out, self.global_step))
            loss = terms.pop("loss")
            for name, value in terms.items():  # full metric names, e.g. distill/soft_loss
                self.log(name, value.detach() if hasattr(value, "detach") else value)
        if getattr(out, "aux_loss", None) is not None:
            self.log("train/aux_loss", out.aux_loss)
            loss = loss + out.aux_loss
        if self.log_block_stats and out.block_stats:  # Lightning writes them every log_every_n_steps
            for i, st in enumerate(out.block_stats):
                for name, value in st.items():
                    self.log(f"vft/block{i}/{name}", value.float())
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        now = time.perf_counter()
        if self._t_last is not None and self.tokens_per_batch:
            dt = now - self._t_last
            if dt > 0:
                self.log("train/tokens_per_s", self.tokens_per_batch / dt)
        self._t_last = now
        if self.trainer.optimizers:
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])

    def validation_step(self, batch, batch_idx):
        out = self.model(batch["input_ids"], labels=batch["labels"])
        self._val_losses.append(float(out.loss))
        return out.loss

    def on_validation_epoch_start(self):
        self._val_losses = []

    def on_validation_epoch_end(self):
        if self._val_losses and not self.trainer.sanity_checking:
            loss = sum(self._val_losses) / len(self._val_losses)
            self.log("val/loss", loss, prog_bar=True, sync_dist=True)
            self.log("val/ppl", math.exp(min(loss, 50.0)), sync_dist=True)
        self._t_last = None  # validation time is not training throughput

    def configure_optimizers(self):
        cfg = self.optim_cfg
        named = list(self.model.named_parameters())
        decay = [p for n, p in named if p.dim() >= 2 and "emb" not in n]
        no_decay = [p for n, p in named if not (p.dim() >= 2 and "emb" not in n)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(cfg.get("weight_decay", 0.0))},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=float(cfg["lr"]), betas=tuple(cfg.get("betas", (0.9, 0.95))))
        warmup = int(cfg.get("warmup_steps", 0))
        floor = float(cfg.get("min_lr_ratio", 0.0))
        cosine = cfg.get("scheduler", "cosine") == "cosine"
        total = self.max_steps

        def factor(step: int) -> float:
            if warmup and step < warmup:
                return (step + 1) / warmup
            if not cosine:
                return 1.0
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class APTPluginCallback(L.Callback):
    """Calls the APT plugins' hooks with a context dict (model, step, epoch, loss, optimizer, ...)."""

    def __init__(self, manager: Any, config: Dict[str, Any], logger: Optional[Any] = None,
                 extra: Optional[Dict[str, Any]] = None) -> None:
        self.manager = manager
        self.config = config
        self.logger = logger
        self.extra = dict(extra or {})  # constant context entries (train_dataloader, output_dir, max_steps ...)

    def _context(self, trainer, pl_module, **extra) -> Dict[str, Any]:
        ctx = {"model": pl_module.model, "lightning_module": pl_module, "step": trainer.global_step,
               "epoch": trainer.current_epoch, "optimizer": trainer.optimizers[0] if trainer.optimizers else None,
               "trainer": trainer, "run": self.logger.experiment if self.logger is not None else None,
               "config": self.config, "loss": None, **self.extra}
        ctx.update(extra)
        return ctx

    def on_train_start(self, trainer, pl_module):
        self.manager.call("on_training_start", self._context(trainer, pl_module))

    def on_train_epoch_start(self, trainer, pl_module):
        self.manager.call("on_epoch_start", self._context(trainer, pl_module))

    def on_train_epoch_end(self, trainer, pl_module):
        self.manager.call("on_epoch_end", self._context(trainer, pl_module))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.manager.call("on_batch_start", self._context(trainer, pl_module, batch=batch, batch_idx=batch_idx))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        loss = float(loss.detach()) if hasattr(loss, "detach") else loss
        # the optimizer step this batch belongs to (global_step has advanced if this batch stepped)
        stepped = (batch_idx + 1) % max(int(trainer.accumulate_grad_batches), 1) == 0
        step = max(trainer.global_step - 1, 0) if stepped else trainer.global_step
        self.manager.call("on_batch_end", self._context(trainer, pl_module, batch=batch, batch_idx=batch_idx,
                                                        loss=loss, step=step, stepped=stepped))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        # optional plugin hook: gradients are complete here and not yet clipped
        ctx = None
        for plugin in list(self.manager.plugins.values()):
            hook = getattr(plugin, "on_before_optimizer_step", None)
            if hook is None:
                continue
            ctx = ctx or self._context(trainer, pl_module, optimizer=optimizer)
            try:
                hook(ctx)
            except Exception as exc:
                from seetrain.resilience import record_failure

                record_failure(f"plugin:{plugin.name}.on_before_optimizer_step", exc)
                warnings.warn(f"seetrain: APT plugin {plugin.name!r} failed in on_before_optimizer_step "
                              f"({type(exc).__name__}: {exc}); training goes on", stacklevel=2)

    def on_train_end(self, trainer, pl_module):
        self.manager.call("on_training_end", self._context(trainer, pl_module))

    def on_exception(self, trainer, pl_module, exception):
        self.manager.call("on_training_end", self._context(trainer, pl_module, exception=exception))
