"""Ultralytics YOLO callbacks: one SeeTrain run per ``model.train(...)``.

    from ultralytics import YOLO
    from seetrain.integration.callbacks.ultralytics import add_seetrain_callback

    model = YOLO("yolov8n.yaml")
    add_seetrain_callback(model, project="shapes", config={"dataset": "v3"})
    model.train(data="data.yaml", epochs=10)

What lands in the run, one point per epoch at ``step = epoch + 1`` (the ``epoch`` column of
Ultralytics' ``results.csv``):

- ``train/box_loss``, ``train/cls_loss``, ... (epoch-mean training losses) and ``lr/pg0``, ``lr/pg1``,
  ... at the end of each training epoch;
- ``metrics/precision(B)``, ``metrics/mAP50(B)``, ... and ``val/*_loss`` after each validation
  (epochs that were not validated, ``val=False``, log no stale metrics);
- ``best/metrics/...``: the final validation of ``best.pt``, at the last epoch's step. Ultralytics
  reports it through one more ``on_fit_epoch_end`` with ``epoch + 1``; logging it there as a
  normal epoch would add a phantom epoch to every curve, so it gets its own keys;
- ``plots/<name>``: the PNG/JPG plots Ultralytics wrote in its save dir (``results.png``,
  ``confusion_matrix.png``, ``train_batch0.jpg`` ...), as images, when training ends.

The config holds the trainer arguments (``epochs``, ``imgsz``, ``lr0``, ...), the model size
(``model/parameters``, ``model/GFLOPs``) and ``_framework: ultralytics``. Only the main process
(``RANK`` -1 or 0) records. Multi-GPU DDP workers are fresh processes that do not inherit callbacks
added in Python, so, as with every Ultralytics callback, only single-process training is recorded.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import seetrain
from seetrain.resilience import record_call, record_failure
from seetrain.errors import SeeTrainWarning, testing
from seetrain.run_config import to_plain

FRAMEWORK = "ultralytics"
PLOT_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_PROJECT = "ultralytics"


def _rank() -> int:
    """The process rank as Ultralytics sees it (``RANK`` env var, -1 when not distributed)."""
    try:
        return int(os.environ.get("RANK", -1))
    except ValueError:
        return -1


def _is_main_process() -> bool:
    return _rank() in (-1, 0)


def _guarded(event: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Run a callback so that any SeeTrain error becomes a warning, never a dead training run."""

    def deco(func: Callable[..., None]) -> Callable[..., None]:
        op = f"ultralytics.{event}"

        @functools.wraps(func)
        def wrapper(self: "SeeTrainUltralytics", trainer: Any) -> None:
            if not _is_main_process():
                return
            record_call(op)
            try:
                func(self, trainer)
            except Exception as exc:  # the user's training must go on
                if testing():
                    raise
                record_failure(op, exc)
                if event not in self._warned:
                    self._warned.add(event)
                    warnings.warn(f"seetrain: the Ultralytics {event} callback failed ({type(exc).__name__}: "
                                  f"{exc}); training goes on without it", SeeTrainWarning, stacklevel=2)

        return wrapper

    return deco


def _floats(values: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Keep the numeric entries of a metrics dict as plain floats (ints stay ints)."""
    out: Dict[str, Any] = {}
    for key, value in (values or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            out[str(key)] = value
            continue
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class SeeTrainUltralytics:
    """Ultralytics callbacks that write one SeeTrain run; attach them with :meth:`attach`.

    Args:
        project, experiment_name, description, config: as in :func:`seetrain.init`. The project
            defaults to ``$SEETRAIN_PROJECT`` or ``"ultralytics"``, the experiment name to the
            trainer's run name (``train``, ``train2``, ...).
        log_plots: log the plot images of the save dir when training ends (default True).
        finish_on_train_end: finish the run when training ends (default True); with False the run
            stays open (log more, then call :meth:`finish`). Either way each ``model.train()`` gets
            its own run: a later training closes the earlier run and starts a new one.
        **init_kwargs: any other :func:`seetrain.init` argument (tags, logdir, mode, id, ...).
    """

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None, log_plots: bool = True,
                 finish_on_train_end: bool = True, **init_kwargs: Any) -> None:
        self.project = project
        self.experiment_name = experiment_name
        self.description = description
        self.user_config = config
        self.log_plots = log_plots
        self.finish_on_train_end = finish_on_train_end
        self.init_kwargs = init_kwargs
        self._run: Optional["seetrain.Run"] = None
        self._run_trained = False  # a training has written to self._run
        self._warned: set = set()
        self._reset_epoch_state()
        self.callbacks: Dict[str, Callable[[Any], None]] = {
            "on_pretrain_routine_start": self.on_pretrain_routine_start,
            "on_train_epoch_end": self.on_train_epoch_end,
            "on_fit_epoch_end": self.on_fit_epoch_end,
            "on_train_end": self.on_train_end,
            "teardown": self.on_teardown,
        }

    def _reset_epoch_state(self) -> None:
        self._last_epoch: Optional[int] = None   # trainer.epoch of the last training epoch that ended
        self._metrics_at_train_end: Any = None   # trainer.metrics then (validation replaces the object)
        self._model_info_logged = False
        self._train_ended = False

    # --- the run -----------------------------------------------------------------------------
    @property
    def experiment(self) -> "seetrain.Run":
        """The SeeTrain run, created on first use (a disabled run outside the main process)."""
        if self._run is None:
            self._run = self._create_run(None)
        return self._run

    def _create_run(self, trainer: Any) -> "seetrain.Run":
        if not _is_main_process():
            return seetrain.init(mode="disabled", project=self.project or DEFAULT_PROJECT)
        name = self.experiment_name
        if name is None and trainer is not None:
            name = str(getattr(trainer.args, "name", "") or "") or None
        config = dict(to_plain(self.user_config) or {}) if self.user_config is not None else {}
        config["_framework"] = FRAMEWORK
        project = self.project or os.environ.get("SEETRAIN_PROJECT") or DEFAULT_PROJECT
        try:
            run = seetrain.init(project=project, experiment_name=name, description=self.description,
                                config=config, **self.init_kwargs)
        except Exception as exc:  # a bad logdir or argument must not stop training
            record_failure("ultralytics.init", exc)
            warnings.warn(f"seetrain: could not start the run ({type(exc).__name__}: {exc}); this training "
                          "is not recorded", SeeTrainWarning, stacklevel=3)
            return seetrain.init(mode="disabled", project=project)
        run.config.update({"_framework": FRAMEWORK})
        return run

    def finish(self, status: str = "success") -> None:
        """Finish the run (a no-op when there is none or it is already finished)."""
        if self._run is not None and not self._run.finished:
            self._run.finish(status)

    def attach(self, model: Any) -> "SeeTrainUltralytics":
        """Register the callbacks on a ``YOLO`` model (or a trainer); returns ``self``."""
        add = getattr(model, "add_callback", None)
        if not callable(add):
            raise TypeError(f"attach() takes an Ultralytics model such as YOLO('yolov8n.yaml') (anything with "
                            f"add_callback), got {type(model).__name__}")
        registered = getattr(model, "callbacks", None) or {}
        for event, func in self.callbacks.items():
            if func not in registered.get(event, ()):  # attaching twice must not log twice
                add(event, func)
        return self

    # --- callbacks ---------------------------------------------------------------------------
    @_guarded("on_pretrain_routine_start")
    def on_pretrain_routine_start(self, trainer: Any) -> None:
        """Start the run (one per ``model.train()``) and record the trainer args."""
        if self._run is not None and not self._run.finished and self._run_trained:
            # An earlier training wrote this run (and left it open): close it, start a fresh one.
            self._run.finish("success" if self._train_ended else "crashed")
        self._reset_epoch_state()
        if self._run is None or self._run.finished:
            self._run = self._create_run(trainer)
        self._run_trained = True
        args = getattr(trainer, "args", None)
        if args is not None:
            self._run.config.update(vars(args))
            self._run.config.update({"_framework": FRAMEWORK})

    @_guarded("on_train_epoch_end")
    def on_train_epoch_end(self, trainer: Any) -> None:
        """Epoch-mean training losses and the learning rate of each parameter group."""
        self._last_epoch = int(trainer.epoch)
        self._metrics_at_train_end = getattr(trainer, "metrics", None)
        data: Dict[str, float] = {}
        tloss = getattr(trainer, "tloss", None)
        if tloss is not None:
            data.update(_floats(trainer.label_loss_items(tloss, prefix="train")))
        data.update(_floats(getattr(trainer, "lr", None)))
        if data:
            self.experiment.log(data, step=self._last_epoch + 1)

    @_guarded("on_fit_epoch_end")
    def on_fit_epoch_end(self, trainer: Any) -> None:
        """Validation metrics of the epoch; the extra call after training becomes ``best/...``."""
        run = self.experiment
        metrics = getattr(trainer, "metrics", None)
        if self._last_epoch is None or int(trainer.epoch) != self._last_epoch:
            # No training epoch ended for this epoch number: Ultralytics' final validation of best.pt.
            best = {f"best/{k}": v for k, v in _floats(metrics).items()}
            if best:
                run.log(best, step=(self._last_epoch + 1) if self._last_epoch is not None else None)
            return
        if metrics is not None and metrics is not self._metrics_at_train_end:  # validation ran this epoch
            run.log(_floats(metrics), step=self._last_epoch + 1)
        if not self._model_info_logged:
            self._model_info_logged = True
            run.config.update(self._model_info(trainer))

    @staticmethod
    def _model_info(trainer: Any) -> Dict[str, float]:
        try:
            from ultralytics.utils.torch_utils import model_info_for_loggers

            return _floats(model_info_for_loggers(trainer))
        except Exception as exc:  # older/newer Ultralytics without it: not worth a warning
            record_failure("ultralytics.model_info", exc)
            return {}

    @_guarded("on_train_end")
    def on_train_end(self, trainer: Any) -> None:
        """Log the plot images of the save dir, then finish the run (unless told not to)."""
        self._train_ended = True
        run = self.experiment
        if self.log_plots:
            save_dir = getattr(trainer, "save_dir", None)
            step = (self._last_epoch + 1) if self._last_epoch is not None else None
            plots = {}
            if save_dir is not None and Path(save_dir).is_dir():
                for path in sorted(Path(save_dir).iterdir()):
                    if path.is_file() and path.suffix.lower() in PLOT_SUFFIXES:
                        plots[f"plots/{path.stem}"] = seetrain.Image(str(path), caption=path.name)
            if plots:
                run.log(plots, step=step)
        if self.finish_on_train_end:
            run.finish("success")

    @_guarded("teardown")
    def on_teardown(self, trainer: Any) -> None:
        """Training raised before it ended: mark the run crashed."""
        if not self._train_ended and self._run is not None and not self._run.finished:
            self._run.finish("crashed")


def add_seetrain_callback(model: Any, project: Optional[str] = None, experiment_name: Optional[str] = None,
                          description: Optional[str] = None, config: Any = None,
                          **init_kwargs: Any) -> SeeTrainUltralytics:
    """Record ``model.train(...)`` in SeeTrain: build :class:`SeeTrainUltralytics` and attach it."""
    return SeeTrainUltralytics(project=project, experiment_name=experiment_name, description=description,
                               config=config, **init_kwargs).attach(model)
