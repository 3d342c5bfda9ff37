"""Keras 3 callback: ``model.fit(..., callbacks=[SeeTrainCallback(project="mnist")])``.

    from seetrain.integration.callbacks.keras import SeeTrainCallback

    cb = SeeTrainCallback(project="mnist", config={"batch_size": 32}, log_batch_frequency=10)
    model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[cb])
    model.evaluate(x_test, y_test, callbacks=[cb])
    cb.finish()            # optional: runs are finished at process exit anyway

What lands in the run:
  * ``epoch/<metric>`` at ``step=epoch`` (0-based, as Keras counts): ``epoch/loss``,
    ``epoch/val_loss``, ... and ``epoch/learning_rate``;
  * with ``log_batch_frequency=N``, ``batch/<metric>`` and ``batch/learning_rate`` every N
    training batches at ``step=`` the global batch number (Keras' batch values are running means
    over the epoch);
  * ``evaluate/<metric>`` for a ``model.evaluate(..., callbacks=[cb])`` outside ``fit``;
  * config: the fit parameters (``fit/epochs``, ``fit/steps``), the optimizer's config, the model's
    parameter counts and its text summary (``model/summary``).
Works with any Keras backend (JAX, TensorFlow, PyTorch).

Model artefacts: :class:`SeeTrainModelCheckpoint` is Keras' ``ModelCheckpoint`` that also copies
each saved model into the run (``log_model=True``: the best and the last; ``"all"``: every one):

    ckpt = SeeTrainModelCheckpoint("ckpt/model-{epoch:02d}.keras", monitor="val_loss", callback=cb)
    model.fit(x, y, validation_split=0.2, callbacks=[cb, ckpt])
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import keras

import seetrain
from seetrain.integration.run_holder import RunHolder
from seetrain.integration.model_artifacts import ModelArtifacts
from seetrain.resilience import report_failure

FRAMEWORK = "keras"


def _number(value: Any) -> Optional[float]:
    """A Python number from a Keras log value (float, numpy or backend scalar), else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    try:
        arr = keras.ops.convert_to_numpy(value)
        if arr.size == 1:
            return arr.reshape(()).item()
    except Exception:
        pass
    return None


class SeeTrainCallback(RunHolder, keras.callbacks.Callback):
    """Log a Keras ``fit`` (epoch and optional batch metrics, learning rate, model summary).

    Args:
        project, experiment_name, description, config, logdir: as in :func:`seetrain.init`.
        log_batch_frequency: log batch metrics every N training batches (``None``: epochs only).
        log_learning_rate: add the optimizer's current learning rate.
        log_model_summary: put the model's text summary and parameter counts in the config.
        finish_on_train_end: finish the run when ``fit`` ends (default: keep it open so a later
            ``fit``/``evaluate`` continues it; it is finished at process exit or by :meth:`finish`).
        **init_kwargs: any other :func:`seetrain.init` argument (tags, mode, id, resume, ...).
    """

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None, logdir: Optional[str] = None,
                 log_batch_frequency: Optional[int] = None, log_learning_rate: bool = True,
                 log_model_summary: bool = True, finish_on_train_end: bool = False, **init_kwargs: Any) -> None:
        super().__init__()
        if log_batch_frequency is not None and (not isinstance(log_batch_frequency, int) or log_batch_frequency < 1):
            raise ValueError(f"log_batch_frequency must be a positive int or None, got {log_batch_frequency!r}")
        self._init = dict(project=project, experiment_name=experiment_name, description=description,
                          config=config, logdir=logdir, **init_kwargs)
        self.log_batch_frequency = log_batch_frequency
        self.log_learning_rate = log_learning_rate
        self.log_model_summary = log_model_summary
        self.finish_on_train_end = finish_on_train_end
        self._run: Optional["seetrain.Run"] = None
        self._global_batch = 0
        self._in_fit = False
        self._last_epoch = -1

    # --- the run -----------------------------------------------------------------------------
    FRAMEWORK, SUBJECT = FRAMEWORK, "the Keras callback"

    def _create_run(self) -> "seetrain.Run":
        kwargs = dict(self._init)
        kwargs.setdefault("mode", None)  # None: $SEETRAIN_MODE or "local"
        run = seetrain.init(**kwargs)
        run.config.update({"_framework": FRAMEWORK, "keras": {"version": keras.__version__,
                                                              "backend": keras.backend.backend()}})
        return run

    # --- Keras hooks -------------------------------------------------------------------------
    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._in_fit = True
        try:
            run = self.experiment
            params = {k: v for k, v in (self.params or {}).items() if v is not None}
            if params:
                run.config.update({"fit": params})
            if self.log_model_summary:
                run.config.update(self._model_info())
        except Exception as exc:
            self._warn("start the run", exc)

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        step = self._global_batch
        self._global_batch += 1
        freq = self.log_batch_frequency
        if freq is None or step % freq:
            return
        try:
            data = self._metrics("batch", logs)
            if data:
                self.experiment.log(data, step=step)
        except Exception as exc:
            self._warn("log batch metrics", exc)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._last_epoch = epoch
        try:
            data = self._metrics("epoch", logs)
            if data:
                self.experiment.log(data, step=epoch)
        except Exception as exc:
            self._warn("log epoch metrics", exc)

    def on_test_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if self._in_fit:  # validation inside fit: on_epoch_end has the val_ values
            return
        try:
            data = {f"evaluate/{k}": v for k, v in ((k, _number(v)) for k, v in (logs or {}).items())
                    if v is not None}
            if data:
                self.experiment.log(data, step=max(self._last_epoch, 0))
        except Exception as exc:
            self._warn("log evaluate metrics", exc)

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._in_fit = False
        if self.finish_on_train_end:
            self.finish("success")
        elif self._run is not None:
            try:
                self._run.flush()
            except Exception as exc:
                self._warn("flush", exc)

    # --- helpers -----------------------------------------------------------------------------
    def _metrics(self, prefix: str, logs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        data = {}
        for key, value in (logs or {}).items():
            num = _number(value)
            if num is not None:
                data[f"{prefix}/{key}"] = num
        if self.log_learning_rate and f"{prefix}/learning_rate" not in data:
            lr = self._learning_rate()
            if lr is not None:
                data[f"{prefix}/learning_rate"] = lr
        return data

    def _learning_rate(self) -> Optional[float]:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        try:
            return _number(optimizer.learning_rate)
        except Exception:
            return None

    def _model_info(self) -> Dict[str, Any]:
        model = self.model
        info: Dict[str, Any] = {"class": type(model).__name__, "name": getattr(model, "name", None)}
        try:
            info["num_parameters"] = int(model.count_params())
            info["trainable_parameters"] = sum(_size(w) for w in model.trainable_weights)
        except Exception:
            pass
        try:
            lines: list = []
            model.summary(print_fn=lambda text, **_: lines.append(str(text)))
            info["summary"] = "\n".join(lines)
        except Exception:
            pass
        out: Dict[str, Any] = {"model": info}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            try:
                out["optimizer"] = optimizer.get_config()
            except Exception:
                out["optimizer"] = {"name": type(optimizer).__name__}
        return out



def _size(weight: Any) -> int:
    n = 1
    for dim in weight.shape:
        n *= int(dim)
    return n


class SeeTrainModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ``ModelCheckpoint`` that also copies every model it saves into a SeeTrain run.

    Args:
        filepath, monitor, save_best_only, ...: as for ``keras.callbacks.ModelCheckpoint``.
        callback: the :class:`SeeTrainCallback` whose run receives the copies (default: the
            current run, ``seetrain.get_run()``).
        log_model: ``True`` keeps the best and the last copy in the run, ``"all"`` every copy.

    The best is the file saved when ``monitor`` last improved (with ``save_best_only`` every
    saved file is a new best). Copies are marked in the run config under ``model_artifacts``.
    """

    def __init__(self, filepath: str, *args: Any, callback: Optional[SeeTrainCallback] = None,
                 log_model: Union[bool, str] = True, **kwargs: Any) -> None:
        super().__init__(filepath, *args, **kwargs)
        self._seetrain_callback = callback
        self._artifacts = ModelArtifacts(log_model, FRAMEWORK)
        self._best_value: Optional[float] = None
        self._best_path: Optional[str] = None
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._batches += 1
        super().on_train_batch_end(batch, logs)

    def _save_model(self, epoch: int, batch: Optional[int], logs: Optional[Dict[str, Any]]) -> None:
        filepath = self._get_file_path(epoch, batch, logs)
        before = _mtime(filepath)
        super()._save_model(epoch, batch, logs)  # Keras' errors reach the user as they are
        after = _mtime(filepath)
        if after is None or after == before:
            return  # not saved (no improvement)
        try:
            self._copy_into_run(filepath, epoch, batch, logs)
        except Exception as exc:
            report_failure("keras.log_model", exc, "the Keras checkpoint could not be copied into the run")

    def _copy_into_run(self, filepath: str, epoch: int, batch: Optional[int], logs: Optional[Dict[str, Any]]) -> None:
        current = _number((logs or {}).get(self.monitor)) if self.monitor else None
        if self.save_best_only or (current is not None and (
                self._best_value is None or self._is_improvement(current, self._best_value))):
            self._best_value, self._best_path = current, filepath
        run = self._seetrain_callback.experiment if self._seetrain_callback is not None else seetrain.get_run()
        if run is None:
            raise RuntimeError("no SeeTrain run: pass callback=SeeTrainCallback(...) or call seetrain.init() first")
        step = epoch if batch is None else self._batches
        self._artifacts.saved(run, filepath, step, best=self._best_path,
                              info={"monitor": self.monitor, "value": current, "epoch": epoch})


def _mtime(path: str) -> Optional[float]:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


__all__ = ["SeeTrainCallback", "SeeTrainModelCheckpoint"]
