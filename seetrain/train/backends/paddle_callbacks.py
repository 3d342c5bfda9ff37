"""``paddle.Model`` callbacks of the PaddlePaddle backend: validation bookkeeping (best value, the
job's hooks, early stopping, checkpoints) and the per-optimizer-step learning-rate schedule."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import paddle

from .early_stopping import EarlyStopping, improves

CKPT_EXT = ".pdparams"


def _num(v: Any) -> Optional[float]:
    if isinstance(v, (list, tuple)):
        v = v[0] if len(v) == 1 else None
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class ValidationReport(paddle.callbacks.Callback):
    """Put it before the SeeTrain callback: it turns the evaluation's ``loss`` (paddle reports the last
    batch's) into the mean over the validation set, keeps the best value of the job's metric, calls the
    job's hooks, stops early, and saves ``last`` and the best ``save_top_k`` checkpoints."""

    def __init__(self, metric: str, mode: str, hooks: List[Any], *, accumulate: int = 1, eval_freq: int = 1,
                 start_epoch: int = 0, start_batches: int = 0, start_steps: int = 0, best: Optional[float] = None,
                 best_epoch: Optional[int] = None, early_stopping: Optional[Dict[str, Any]] = None,
                 checkpoint: Optional[Dict[str, Any]] = None, ckpt_dir: Optional[str] = None) -> None:
        super().__init__()
        self.metric, self.mode, self.hooks = metric, mode, list(hooks)
        self.accumulate, self.eval_freq = int(accumulate), int(eval_freq)
        self.start_epoch, self.epoch = int(start_epoch), int(start_epoch)
        self.batches, self.steps = int(start_batches), int(start_steps)  # batches seen; optimizer steps
        self.epochs_done = int(start_epoch)
        self.best, self.best_epoch = best, best_epoch
        self.last: Dict[str, float] = {}
        self.stop_reason: Optional[str] = None
        es = early_stopping if early_stopping and early_stopping.get("enabled") else None
        self.early = EarlyStopping(mode, int(es.get("patience", 5)), float(es.get("min_delta", 0.0))) if es else None
        self.ck = checkpoint if checkpoint and checkpoint.get("enabled") else None
        self.ckpt_dir = ckpt_dir
        self.top: List[Tuple[float, str]] = []
        self.last_checkpoint: Optional[str] = None
        self.max_steps: Optional[int] = None
        self.config: Optional[Dict[str, Any]] = None  # the run's config, saved with every checkpoint (resume restores it)
        self._loss_sum, self._loss_n = 0.0, 0

    # --- training ---------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epoch = self.start_epoch + epoch

    def on_train_batch_end(self, step: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.batches += 1
        if (step + 1) % self.accumulate == 0 or step + 1 == (self.params or {}).get("steps"):
            self.steps += 1

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epochs_done = self.epoch + 1
        if self.max_steps is not None and self.steps >= self.max_steps:
            self.model.stop_training = True  # paddle checks it after this epoch's validation
        if epoch % self.eval_freq != 0 or getattr(self.model, "_test_dataloader", None) is None:
            self._save_last()  # no validation this epoch: the checkpoint is saved now

    # --- validation -------------------------------------------------------------------------------
    def on_eval_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._loss_sum, self._loss_n = 0.0, 0

    def on_eval_batch_end(self, step: int, logs: Optional[Dict[str, Any]] = None) -> None:
        loss, n = _num((logs or {}).get("loss")), int((logs or {}).get("batch_size") or 1)
        if loss is not None:
            self._loss_sum += loss * n
            self._loss_n += n

    def on_eval_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if logs is None:
            return
        if self._loss_n:
            logs["loss"] = [self._loss_sum / self._loss_n]  # the mean, as the Lightning backend reports
        metrics = {f"val/{k}": v for k, v in ((k, _num(v)) for k, v in logs.items()
                                              if k not in ("step", "batch_size", "steps", "metrics")) if v is not None}
        self.last.update(metrics)
        value = metrics.get(self.metric)
        improved = value is not None and improves(value, self.best, self.mode)
        if improved:
            self.best, self.best_epoch = value, self.epoch
        if self.early is not None and self.early.update(value):
            self.model.stop_training = True
        for hook in self.hooks:
            reason = hook(self.epoch, self.steps, metrics)
            if reason:  # the hook asks to stop here (e.g. a pruned trial)
                self.stop_reason = str(reason)
        if self.stop_reason:
            self.model.stop_training = True
        if improved and value is not None:
            self._save_best(value)
        self._save_last()

    # --- checkpoints ------------------------------------------------------------------------------
    def state(self) -> Dict[str, Any]:
        return {"epoch": self.epochs_done, "batches": self.batches, "steps": self.steps, "best": self.best,
                "best_epoch": self.best_epoch, "metric": self.metric, "backend": "paddle", "config": self.config}

    def _save(self, name: str) -> str:
        os.makedirs(self.ckpt_dir, exist_ok=True)
        prefix = os.path.join(self.ckpt_dir, name)
        self.model.save(prefix)  # prefix.pdparams (weights) and prefix.pdopt (optimizer and LR schedule)
        with open(prefix + ".json", "w", encoding="utf-8") as f:
            json.dump(self.state(), f)
        return prefix + CKPT_EXT

    def _save_last(self) -> None:
        if self.ck and self.ck.get("save_last") and self.ckpt_dir:
            self.last_checkpoint = self._save("last")

    def _save_best(self, value: float) -> None:
        k = int(self.ck["save_top_k"]) if self.ck else 0
        if not k or not self.ckpt_dir:
            return
        path = self._save(f"epoch{self.epoch}-{self.metric.replace('/', '_')}{value:.4f}")
        self.top.append((value, path))
        self.top.sort(key=lambda t: -t[0] if self.mode == "max" else t[0])
        if k > 0:
            for _, old in self.top[k:]:
                for ext in (CKPT_EXT, ".pdopt", ".json"):
                    if os.path.exists(old[:-len(CKPT_EXT)] + ext):
                        os.remove(old[:-len(CKPT_EXT)] + ext)
            self.top = self.top[:k]

    @property
    def best_checkpoint(self) -> Optional[str]:
        return self.top[0][1] if self.top else None


class StepSchedule(paddle.callbacks.LRScheduler):
    """Steps the LR schedule once per optimizer step (after gradient accumulation), last in the list so
    the SeeTrain callback logs the rate the step used. Being an ``LRScheduler``, it replaces paddle's
    default one (which steps every batch)."""

    def __init__(self, accumulate: int = 1) -> None:
        super().__init__(by_step=False, by_epoch=False)
        self.accumulate = int(accumulate)

    def on_train_batch_end(self, step: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if (step + 1) % self.accumulate and step + 1 != (self.params or {}).get("steps"):
            return
        lr = getattr(getattr(self.model, "_optimizer", None), "_learning_rate", None)
        if isinstance(lr, paddle.optimizer.lr.LRScheduler):
            lr.step()


def tracking_callback(**kwargs: Any) -> paddle.callbacks.Callback:
    """The SeeTrain callback with the trainer's metric keys, the same on both backends: ``train/loss``,
    ``train/lr`` and ``train/epoch`` at every logged step, ``val/*`` and ``val/epoch`` after each
    validation (no ``train/acc`` of single batches, no ``epoch/*`` end-of-epoch copies)."""
    from seetrain.integration.callbacks.paddle import SeeTrainPaddleCallback

    class TrainerCallback(SeeTrainPaddleCallback):
        def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
            return None

        @staticmethod
        def _metrics(prefix: str, logs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
            data = SeeTrainPaddleCallback._metrics(prefix, logs)
            return {k: v for k, v in data.items() if k == "train/loss"} if prefix == "train" else data

    return TrainerCallback(**kwargs)


class Progress(paddle.callbacks.Callback):
    """The Lightning backend's progress bar for ``paddle.Model.fit`` (whose own output is turned off):
    ``Epoch N``, batches of the epoch, the training loss every ``log_every`` batches, the job's metric."""

    def __init__(self, enabled: bool, metric: str, log_every: int, start_epoch: int = 0) -> None:
        super().__init__()
        from .progress import ProgressBar

        self.bar, self.metric, self.log_every, self.start_epoch = ProgressBar(enabled), metric, int(log_every), start_epoch
        self.epoch = start_epoch

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epoch = self.start_epoch + epoch
        self.bar.start(self.epoch, int((self.params or {}).get("steps") or 0), 0)

    def on_train_batch_end(self, step: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.bar.update(1)
        loss = _num((logs or {}).get("loss"))
        if loss is not None and (step + 1) % self.log_every == 0:
            self.bar.show(loss=loss)

    def on_eval_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        value = _num((logs or {}).get(self.metric.split("/", 1)[-1]))
        if value is not None:
            self.bar.show(**{self.metric.split("/")[-1]: value})

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.bar.close()
