"""PyTorch Lightning logger: ``Trainer(logger=SeeTrainLogger(project="mnist"))``.

    from lightning.pytorch import Trainer
    from lightning.pytorch.loggers import CSVLogger
    from seetrain.integration.callbacks.lightning import SeeTrainLogger

    logger = SeeTrainLogger(project="mnist", experiment_name="baseline", config={"seed": 0})
    trainer = Trainer(logger=[logger, CSVLogger("csv")], max_epochs=3)
    trainer.fit(model, datamodule)      # self.log("train_loss", ...) lands in the run at global_step
    trainer.test(model, datamodule)     # same run
    logger.finish()                     # optional: runs are finished at process exit anyway

Only global rank zero records (other ranks get a disabled run from :attr:`SeeTrainLogger.experiment`)
unless ``all_ranks=True``: then every rank is one writer of a shared run (its own losses, throughput
and system metrics, labelled ``rank<N>``; see docs/shared-runs.md).
Lightning calls ``finalize("success")`` after every ``fit``/``validate``/``test``; that only flushes,
so a ``fit`` followed by a ``test`` keeps logging into one run. ``finalize("failed")`` (an exception
in the trainer) marks the run crashed; a later logging call on the same logger resumes that run,
while reading ``version`` / ``log_dir`` does not. A pickled logger (``ddp_spawn``) carries its run
id, so spawned processes resume the same run. ``log_model`` copies checkpoints into the run.
Works with the ``lightning`` package or, when only that is installed, ``pytorch_lightning``.
"""

from __future__ import annotations

import functools
import os
import sys
from argparse import Namespace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

try:
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities.rank_zero import rank_zero_only
except ImportError:  # only the standalone pytorch_lightning package is installed
    from pytorch_lightning.loggers.logger import Logger  # type: ignore[no-redef]
    from pytorch_lightning.utilities.rank_zero import rank_zero_only  # type: ignore[no-redef]

import seetrain
from seetrain.integration.model_artifacts import ModelArtifacts
from seetrain.integration.run_holder import RunHolder
from seetrain.ids import new_id
from seetrain.logdir import default_logdir

FRAMEWORK = "pytorch_lightning"


def _rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def _recording_rank(method: Any) -> Any:
    """Lightning's ``rank_zero_only``, or every rank with ``all_ranks=True``."""
    @functools.wraps(method)
    def gated(self: "SeeTrainLogger", *args: Any, **kwargs: Any) -> Any:
        if self._all_ranks or _rank() == 0:
            return method(self, *args, **kwargs)
        return None
    return gated


def _asked_by_trainer_log_dir() -> bool:
    """Whether ``Trainer.log_dir`` is reading ``save_dir``: it takes ``log_dir`` from its own
    TensorBoard/CSV loggers only and ``save_dir`` from any other, so the run directory is given there."""
    frame = sys._getframe(2)
    return frame is not None and frame.f_code.co_name == "log_dir" and "trainer" in frame.f_code.co_filename


class SeeTrainLogger(RunHolder, Logger):
    """A Lightning logger that writes one SeeTrain run from global rank zero.

    Args:
        project, experiment_name, description, config, logdir: as in :func:`seetrain.init`.
        prefix: put before every metric key, joined with ``LOGGER_JOIN_CHAR`` (``"-"``), as
            Lightning's own loggers do: ``prefix="fold1"`` logs ``fold1-train_loss``.
        log_model: copy checkpoints saved by ``ModelCheckpoint`` into the run: ``False`` (default),
            ``True`` (keep the best and the last) or ``"all"`` (every one); see
            :mod:`seetrain.integration.model_artifacts`.
        all_ranks: every rank logs into one shared run (``id=``, else ``$SEETRAIN_RUN_ID``, else
            torchrun's job id), each as writer ``rank<N>`` with its own system metrics; default:
            rank zero alone.
        **init_kwargs: any other :func:`seetrain.init` argument (tags, mode, id, resume, ...).

    ``name`` is the project and ``version`` the run id, so with this logger first in the list
    Lightning puts checkpoints in ``<run dir>/checkpoints``; ``trainer.log_dir`` is the run directory.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None, logdir: Optional[str] = None,
                 prefix: str = "", log_model: Union[bool, str] = False, all_ranks: bool = False,
                 **init_kwargs: Any) -> None:
        super().__init__()
        self._all_ranks = bool(all_ranks)
        self._project = project or os.environ.get("SEETRAIN_PROJECT") or "default"
        self._experiment_name = experiment_name
        self._description = description
        self._config = config
        self._logdir = default_logdir(logdir)
        self._prefix = str(prefix or "")
        self._artifacts = ModelArtifacts(log_model, FRAMEWORK)
        self._run_id: Optional[str] = init_kwargs.pop("id", None) or None
        self._init_kwargs = init_kwargs
        self._run: Optional["seetrain.Run"] = None
        self._reopen = False  # finalize("failed") finished the run; the next logging call resumes it

    # --- the run -----------------------------------------------------------------------------
    FRAMEWORK, SUBJECT = "lightning", "the Lightning logger"

    @property
    def experiment(self) -> "seetrain.Run":
        """The SeeTrain run, created on first use (a disabled run on ranks other than zero)."""
        if self._run is None or self._reopen:
            self._run = self._create_run()
        return self._run

    def _create_run(self) -> "seetrain.Run":
        if _rank() > 0 and not self._all_ranks:
            return seetrain.init(mode="disabled", project=self._project)
        kwargs = dict(self._init_kwargs)
        if self._all_ranks:
            from seetrain.integration.every_rank import shared_init_kwargs

            kwargs = shared_init_kwargs(dict(kwargs, id=self._run_id or kwargs.get("id")), "SeeTrainLogger")
            self._run_id = kwargs.pop("id")
        kwargs.setdefault("mode", None)  # None: $SEETRAIN_MODE or "local"
        if self._run_id is not None:  # ours from before (a failed fit, a pickled copy) or the user's id=
            kwargs.update(id=self._run_id, resume=kwargs.get("resume") or True)
        self._reopen = False
        run = seetrain.init(project=self._project, experiment_name=self._experiment_name,
                            description=self._description, config=self._config, logdir=self._logdir, **kwargs)
        if run.mode != "disabled":
            self._run_id = run.id
            run.config.update({"_framework": FRAMEWORK})
        return run

    @property
    def name(self) -> str:
        """The project (Lightning's ``<save_dir>/<name>/<version>`` is then the run directory)."""
        return self._project

    @property
    def version(self) -> str:
        """The run id (known without reopening a finished run, or creating one a spawned process made)."""
        if self._run is not None and (self._run.mode == "disabled" or self._run_id is None):
            return self._run.id
        if self._run_id is not None:
            return self._run_id
        return self.experiment.id

    @property
    def save_dir(self) -> str:
        """The SeeTrain log directory (to ``Trainer.log_dir``: the run directory)."""
        if _asked_by_trainer_log_dir():
            return self.log_dir
        return self._logdir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._logdir, self._project)

    @property
    def log_dir(self) -> str:
        """The run directory."""
        return os.path.join(self.root_dir, str(self.version))

    # --- what Lightning calls ----------------------------------------------------------------
    @_recording_rank
    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        """Log ``self.log(...)`` values at Lightning's ``step`` (the global step)."""
        try:
            data = dict(metrics)
            if self._prefix:
                data = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{k}": v for k, v in data.items()}
            self.experiment.log(data, step=step)
        except Exception as exc:
            self._warn("log_metrics", exc)

    @_recording_rank
    def log_hyperparams(self, params: Union[Dict[str, Any], Namespace, Any],
                        metrics: Optional[Mapping[str, Any]] = None, *args: Any, **kwargs: Any) -> None:
        """Merge hyperparameters (dict, Namespace, AttributeDict, OmegaConf, nested) into the run config;
        ``metrics`` (as TensorBoard's ``hp_metric``) are logged at step 0."""
        if metrics:
            self.log_metrics(metrics, step=0)
        try:
            from seetrain.run_config import to_plain

            if params is None:
                return
            plain = to_plain(params)
            if not isinstance(plain, dict):
                raise TypeError(f"hyperparameters must be a mapping or Namespace, got {type(params).__name__}")
            config = self.experiment.config
            changed = {k: v for k, v in plain.items() if k not in config or config[k] != v}
            if changed:
                config.update(changed)
        except Exception as exc:
            self._warn("log_hyperparams", exc)

    @_recording_rank
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Record the class and parameter counts of ``model`` in the config, under flat ``model/...``
        keys so that a user's own ``model`` config section is left as it is."""
        try:
            total = sum(p.numel() for p in model.parameters())
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            self.experiment.config.update({"model/class": type(model).__name__, "model/num_parameters": total,
                                           "model/trainable_parameters": trainable})
        except Exception as exc:
            self._warn("log_graph", exc)

    @_recording_rank
    def log_image(self, key: str, images: Union[Any, Sequence[Any]], step: Optional[int] = None,
                  caption: Union[str, Sequence[str], None] = None) -> None:
        """Log one image or a list (arrays, tensors, PIL images, paths) under ``key``."""
        try:
            from seetrain.media import Image

            many = isinstance(images, (list, tuple))
            items = list(images) if many else [images]
            captions = list(caption) if isinstance(caption, (list, tuple)) else [caption] * len(items)
            if len(captions) != len(items):
                raise ValueError(f"log_image got {len(items)} images but {len(captions)} captions")
            media = [im if isinstance(im, Image) else Image(im, caption=c) for im, c in zip(items, captions)]
            self.experiment.log({key: media if many else media[0]}, step=step)
        except Exception as exc:
            self._warn("log_image", exc)

    @_recording_rank
    def log_text(self, key: str, text: Union[str, Sequence[str]], step: Optional[int] = None) -> None:
        """Log a string (or a list of strings, one record each at the same step) under ``key``."""
        try:
            from seetrain.media import Text

            for item in ([text] if isinstance(text, str) else list(text)):
                self.experiment.log({key: item if isinstance(item, Text) else Text(str(item))}, step=step)
        except Exception as exc:
            self._warn("log_text", exc)

    @_recording_rank
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Note the latest and best checkpoint paths in the config (``checkpoint/...``) and, with
        ``log_model``, copy the checkpoint into the run."""
        try:
            cb = checkpoint_callback
            saved = getattr(cb, "_last_checkpoint_saved", None) or getattr(cb, "last_model_path", None) or None
            best = getattr(cb, "best_model_path", None) or None
            info = {"last": saved, "best": best}
            info = {k: v for k, v in info.items() if v}
            if info and self._run is not None:
                self.experiment.config.update({"checkpoint": info})
            if saved and self._artifacts.enabled:
                score = getattr(cb, "best_model_score", None)
                meta = {"monitor": getattr(cb, "monitor", None),
                        "best_score": float(score) if score is not None else None}
                self._artifacts.saved(self.experiment, saved, int(getattr(cb, "_last_global_step_saved", 0) or 0),
                                      best=best, info=meta)
        except Exception as exc:
            self._warn("after_save_checkpoint", exc)

    def save(self) -> None:
        """Write what is queued (Lightning calls this now and then)."""
        if self._run is not None and (self._all_ranks or _rank() == 0):
            try:
                self._run.flush()
            except Exception as exc:
                self._warn("save", exc)

    def finalize(self, status: str) -> None:
        """Lightning calls this at the end of every stage: ``"success"`` flushes, anything else crashes the run."""
        if self._run is None or self._run.finished:
            return
        if status in ("success", "finished"):
            self.save()
            return
        self._finish("crashed")
        self._reopen = _rank() == 0 and self._run.mode != "disabled"

    def finish(self, status: str = "success") -> None:
        """Finish the run now (otherwise it is finished when the process exits)."""
        self._reopen = False
        self._finish(status)

    def _finish(self, status: str) -> None:
        RunHolder.finish(self, status)  # without touching _reopen (a hand-over to spawned processes)

    # --- pickling (ddp_spawn): the run's id travels, the open run does not -------------------
    def __getstate__(self) -> Dict[str, Any]:
        """Carry the run's id so a spawned process resumes the same run.

        The id is fixed here if no run exists yet, so this process (``logger.version`` after a
        spawned ``fit``) and every spawned copy name one run. A run open in this process is
        handed over: it is finished (to be resumed by the spawned rank zero, and by this process
        when it logs again), since a run directory has one writer at a time.
        """
        if _rank() == 0:
            if self._run_id is None:
                # chosen before the run exists, so the spawned processes and this one name one run
                self._run_id = new_id()
            if self._run is not None and not self._run.finished and self._run.mode != "disabled":
                self._finish("success")
                self._reopen = True
        state = self.__dict__.copy()
        state["_run"] = None
        state["_reopen"] = False
        return state


__all__: List[str] = ["SeeTrainLogger"]
