"""LightningModules of the trainer's tasks and the callback that reports validation results."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import lightning.pytorch as L
import torch
from torch.nn import functional as F

from .torch_optim import build_optimizer, build_scheduler


class _Base(L.LightningModule):
    def __init__(self, model: torch.nn.Module, optim_cfg: Dict[str, Any], sched_cfg: Dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.optim_cfg, self.sched_cfg = dict(optim_cfg), dict(sched_cfg)

    def forward(self, x):
        return self.model(x)

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets _current_fx_name around each of the ~15 hook calls of every step; a plain
        # string needs none of nn.Module.__setattr__'s parameter/module/buffer bookkeeping
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _step_loss_wanted(self) -> bool:
        """Whether this training step's loss goes anywhere: the progress bar shows every step, a
        logger writes every ``trainer.log_every_n_steps``. ``self.log`` costs a metric entry and a
        device sync each call, so the steps in between skip it."""
        trainer = self.trainer
        if trainer.progress_bar_callback is not None:
            return True
        if not trainer.loggers:
            return False
        connector = getattr(trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True))

    def configure_optimizers(self):
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        rest = [p for p in self.model.parameters() if p.ndim < 2]
        wd = float(self.optim_cfg.get("weight_decay", 0.0))
        opt = build_optimizer([{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}], self.optim_cfg)
        total = int(self.trainer.estimated_stepping_batches)
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
        sched = build_scheduler(opt, self.sched_cfg, total, total / epochs)
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ClassifierModule(_Base):
    """Cross-entropy training; ``train/loss``, ``val/loss`` and ``val/acc``.

    Validation sums loss, correct predictions and samples over the pass (across processes under
    DDP) and logs the exact means once at its end."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.model(x), y)
        if self._step_loss_wanted():
            self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_validation_epoch_start(self):
        self._val_sums = torch.zeros(3, device=self.device)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.model(x)
        self._val_sums += torch.stack([F.cross_entropy(logits, y, reduction="sum"),
                                       (logits.argmax(1) == y).sum().float(),
                                       torch.tensor(float(y.shape[0]), device=y.device)])

    def on_validation_epoch_end(self):
        sums = self._val_sums
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        n = sums[2].clamp(min=1.0)
        self.log("val/loss", sums[0] / n)
        self.log("val/acc", sums[1] / n, prog_bar=True)


class LanguageModelModule(_Base):
    """Next-token loss (plus the model's auxiliary loss); ``train/loss``, ``val/loss``, ``val/ppl``."""

    def training_step(self, batch, batch_idx):
        x, _ = batch
        out = self.model(x, labels=x)
        if self._step_loss_wanted():
            self.log("train/loss", out.loss, prog_bar=True)
        return out.loss + out.aux_loss if getattr(out, "aux_loss", None) is not None else out.loss

    def validation_step(self, batch, batch_idx):
        x, _ = batch
        self.log("val/loss", self.model(x, labels=x).loss, batch_size=x.shape[0], prog_bar=True, sync_dist=True)

    def on_validation_epoch_end(self):
        loss = self.trainer.callback_metrics.get("val/loss")
        if loss is not None and not self.trainer.sanity_checking:
            self.log("val/ppl", torch.exp(torch.clamp(loss.detach(), max=50.0)))


class ValidationReport(L.Callback):
    """Keeps the best value of the job's metric, logs ``lr`` each epoch, and calls the job's hooks after
    every validation; a hook that returns a reason (a string) stops training there."""

    def __init__(self, metric: str, mode: str, hooks: List[Any]) -> None:
        self.metric, self.mode, self.hooks = metric, mode, list(hooks)
        self.best: Optional[float] = None
        self.best_epoch: Optional[int] = None
        self.last: Dict[str, float] = {}
        self.stop_reason: Optional[str] = None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if k.startswith("val/") and getattr(v, "numel", lambda: 1)() == 1}
        self.last.update(metrics)
        value = metrics.get(self.metric)
        if value is not None and (self.best is None or (value > self.best if self.mode == "max" else value < self.best)):
            self.best, self.best_epoch = value, trainer.current_epoch
        if trainer.is_global_zero:
            for hook in self.hooks:
                reason = hook(trainer.current_epoch, trainer.global_step, metrics)
                if reason:  # the hook asks to stop here (e.g. a pruned trial)
                    self.stop_reason = str(reason)
        if self.stop_reason or trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(bool(self.stop_reason), all=False)
            if stop:
                trainer.should_stop = True

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.optimizers:
            pl_module.log("lr", float(trainer.optimizers[0].param_groups[0]["lr"]), sync_dist=trainer.world_size > 1)
