"""PaddlePaddle callback: ``model.fit(train, eval, callbacks=[SeeTrainPaddleCallback(project="mnist")])``.

    import paddle
    from seetrain.integration.callbacks.paddle import SeeTrainPaddleCallback

    model = paddle.Model(net)
    model.prepare(optimizer, paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy())
    model.fit(train_ds, eval_ds, epochs=5, batch_size=64,
              callbacks=[SeeTrainPaddleCallback(project="mnist", config={"batch_size": 64})])

What lands in the run (on rank 0 only; other ranks record nothing):
  * ``train/<metric>`` (``train/loss``, ``train/acc``, ...) and ``train/lr`` for every training
    batch (or every ``log_every_n_steps``) at ``step=`` the global training step, i.e. the steps
    ``paddle.Model`` counts across epochs (``epoch * steps_per_epoch + batch``), with
    ``train/epoch``;
  * ``epoch/<metric>``: the training metrics ``paddle.Model`` reports at the end of each epoch;
  * ``eval/<metric>`` (``eval/loss``, ``eval/acc``, ...) after each evaluation, at the global step
    where it ran, with ``eval/epoch`` (a ``model.evaluate(..., callbacks=[cb])`` outside ``fit``
    logs the same keys);
  * config: ``fit/*`` (epochs, steps, batch size, metric names), the optimizer (class, learning
    rate or scheduler, weight decay, gradient clip) and the network (class, parameter counts, its
    layer structure as text in ``model/summary``); where the user's config already has ``fit``,
    ``model`` or ``optimizer``, these go to ``fit_info``, ``model_info``, ``optimizer_info``.
An exception raised out of ``fit`` ends the run as ``crashed`` (the run's exception hook); the run is
otherwise left open after ``fit`` so ``evaluate``/``predict`` continue it, and is finished at process
exit or by :meth:`SeeTrainPaddleCallback.finish` (``finish_on_train_end=True`` finishes it at once).
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional

import paddle

import seetrain
from seetrain.integration.run_holder import RunHolder

FRAMEWORK = "paddle"


def _number(value: Any) -> Optional[float]:
    """A Python number from a Paddle log value (number, 1-element list, numpy or Tensor), else None."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Number):
        return value  # type: ignore[return-value]
    try:
        size = int(getattr(value, "size", 0))
        if size == 1:
            return value.reshape([]).item() if hasattr(value, "reshape") else float(value)
    except Exception:
        pass
    return None


def _is_writer() -> bool:
    try:
        return paddle.distributed.get_rank() == 0
    except Exception:
        return True


class SeeTrainPaddleCallback(RunHolder, paddle.callbacks.Callback):
    """Log a ``paddle.Model`` fit/evaluate: per-step and per-epoch metrics, learning rate, summaries.

    Args:
        project, experiment_name, description, config, logdir: as in :func:`seetrain.init`.
        log_every_n_steps: log training-batch metrics every N global steps (1: every batch).
        log_learning_rate: add the optimizer's current learning rate as ``train/lr``.
        log_model_summary: put the optimizer and network summary in the config.
        finish_on_train_end: finish the run when ``fit`` ends (default: keep it open).
        eval_prefix: the key prefix of evaluation metrics (``"eval"``; the trainer uses ``"val"``).
        initial_step, initial_epoch: where the step and epoch counts start (a resumed training).
        **init_kwargs: any other :func:`seetrain.init` argument (tags, mode, id, resume, ...).
    """

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None, logdir: Optional[str] = None,
                 log_every_n_steps: int = 1, log_learning_rate: bool = True, log_model_summary: bool = True,
                 finish_on_train_end: bool = False, eval_prefix: str = "eval", initial_step: int = 0,
                 initial_epoch: int = 0, **init_kwargs: Any) -> None:
        super().__init__()
        if not isinstance(log_every_n_steps, int) or isinstance(log_every_n_steps, bool) or log_every_n_steps < 1:
            raise ValueError(f"log_every_n_steps must be a positive int, got {log_every_n_steps!r}")
        self._init = dict(project=project, experiment_name=experiment_name, description=description,
                          config=config, logdir=logdir, **init_kwargs)
        self.log_every_n_steps = log_every_n_steps
        self.log_learning_rate = log_learning_rate
        self.log_model_summary = log_model_summary
        self.finish_on_train_end = finish_on_train_end
        self._run: Optional["seetrain.Run"] = None
        self.eval_prefix = str(eval_prefix)
        self.global_step = int(initial_step)    # training batches seen, across epochs and fits
        self.initial_epoch = int(initial_epoch)  # added to the epoch numbers paddle passes
        self._epoch = self.initial_epoch
        self._eval_metrics: List[str] = []
        self._summary_keys: Optional[Dict[str, str]] = None

    # --- the run -----------------------------------------------------------------------------
    FRAMEWORK, SUBJECT = FRAMEWORK, "the PaddlePaddle callback"

    def _create_run(self) -> "seetrain.Run":
        kwargs = dict(self._init)
        kwargs.setdefault("mode", None)  # None: $SEETRAIN_MODE or "local"
        run = seetrain.init(**kwargs)
        run.config.update({"_framework": FRAMEWORK,
                           "paddle": {"version": paddle.__version__, "device": paddle.device.get_device()}})
        return run


    # --- Paddle hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if not _is_writer():
            return
        try:
            run = self.experiment
            params = self.params or {}
            fit = {k: params.get(k) for k in ("epochs", "steps", "batch_size", "verbose", "metrics")
                   if params.get(k) is not None}
            info = {"fit": fit} if fit else {}
            if self.log_model_summary:
                info.update(self._model_info())
            if self._summary_keys is None:  # a key the user's config already has is not overwritten
                self._summary_keys = {k: k if k not in run.config else f"{k}_info" for k in ("fit", "model", "optimizer")}
            if info:
                run.config.update({self._summary_keys.get(k, k): v for k, v in info.items()})
        except Exception as exc:
            self._warn("start the run", exc)

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._epoch = self.initial_epoch + epoch

    def on_train_batch_end(self, step: int, logs: Optional[Dict[str, Any]] = None) -> None:
        global_step = self.global_step
        self.global_step += 1
        if not _is_writer() or global_step % self.log_every_n_steps:
            return
        try:
            data = self._metrics("train", logs)
            if self.log_learning_rate:
                lr = self._learning_rate()
                if lr is not None:
                    data["train/lr"] = lr
            if data:
                data["train/epoch"] = self._epoch
                self.experiment.log(data, step=global_step)
        except Exception as exc:
            self._warn("log training metrics", exc)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if not _is_writer():
            return
        try:
            data = self._metrics("epoch", logs)
            if data:
                data["epoch/epoch"] = self.initial_epoch + epoch
                self.experiment.log(data, step=max(self.global_step - 1, 0))
        except Exception as exc:
            self._warn("log epoch metrics", exc)

    def on_eval_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._eval_metrics = list((logs or {}).get("metrics") or [])

    def on_eval_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if not _is_writer():
            return
        try:
            data = self._metrics(self.eval_prefix, logs)
            if data:
                data[f"{self.eval_prefix}/epoch"] = self._epoch
                self.experiment.log(data, step=max(self.global_step - 1, 0))
        except Exception as exc:
            self._warn("log evaluation metrics", exc)

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if not _is_writer() or self._run is None:
            return
        if self.finish_on_train_end:
            self.finish("success")
            return
        try:
            self._run.flush()
        except Exception as exc:
            self._warn("flush", exc)

    # --- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _metrics(prefix: str, logs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        data: Dict[str, Any] = {}
        for key, value in (logs or {}).items():
            if key in ("batch_size", "steps", "metrics", "step"):
                continue  # bookkeeping, not metrics
            num = _number(value)
            if num is not None:
                data[f"{prefix}/{key}"] = num
        return data

    def _optimizer(self) -> Any:
        return getattr(self.model, "_optimizer", None)

    def _learning_rate(self) -> Optional[float]:
        opt = self._optimizer()
        if opt is None:
            return None
        try:
            return float(opt.get_lr())
        except Exception:
            return None

    def _model_info(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        net = getattr(self.model, "network", None)
        if net is not None:
            info: Dict[str, Any] = {"class": type(net).__name__}
            try:
                params = list(net.parameters())
                info["num_parameters"] = int(sum(int(p.size) for p in params))
                info["trainable_parameters"] = int(sum(int(p.size) for p in params if not p.stop_gradient))
            except Exception:
                pass
            try:
                info["summary"] = str(net)
            except Exception:
                pass
            out["model"] = info
        opt = self._optimizer()
        if opt is not None:
            desc: Dict[str, Any] = {"class": type(opt).__name__}
            lr = getattr(opt, "_learning_rate", None)
            if isinstance(lr, paddle.optimizer.lr.LRScheduler):
                desc["lr_scheduler"] = type(lr).__name__
                desc["base_lr"] = getattr(lr, "base_lr", None)
            elif isinstance(lr, numbers.Number):
                desc["lr"] = float(lr)
            wd = getattr(opt, "regularization", None) or getattr(opt, "_weight_decay", None)
            if isinstance(wd, numbers.Number):
                desc["weight_decay"] = float(wd)
            elif wd is not None:
                desc["weight_decay"] = type(wd).__name__
            clip = getattr(opt, "_grad_clip", None)
            if clip is not None:
                desc["grad_clip"] = type(clip).__name__
            out["optimizer"] = desc
        return out



__all__ = ["SeeTrainPaddleCallback"]
