"""Hugging Face Accelerate tracker: ``Accelerator(log_with=[SeeTrainTracker(...)])``.

    from accelerate import Accelerator
    from seetrain.integration.trackers.accelerate import SeeTrainTracker

    accelerator = Accelerator(log_with=[SeeTrainTracker(experiment_name="baseline")])
    accelerator.init_trackers("my-project", config={"lr": 1e-3})
    accelerator.log({"train/loss": loss.item()}, step=step)
    accelerator.end_training()

Only the main process records (``main_process_only = True``); other processes get a disabled run
from :attr:`SeeTrainTracker.experiment`, unless ``SeeTrainTracker(project=..., all_ranks=True)``:
then every process is one writer of a shared run (labelled ``rank<N>``, with its own system
metrics). Accelerate calls trackers from the main process only (``accelerator.log``), so log a
process's own values with the tracker itself: ``tracker.log({...}, step=step)`` on every process.
``register()`` also makes ``log_with="seetrain"`` work.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional

from accelerate.tracking import GeneralTracker, on_main_process

import seetrain
from seetrain.integration.run_holder import RunHolder

FRAMEWORK = "accelerate"


def _is_main_process() -> bool:
    """Whether this is the main process, without forcing Accelerate's state into existence."""
    try:
        from accelerate.state import PartialState

        if PartialState._shared_state:  # already initialised by an Accelerator
            return bool(PartialState().is_main_process)
    except Exception:
        pass
    return int(os.environ.get("RANK", "0") or 0) == 0


def _project_from_init_trackers() -> Optional[str]:
    """The ``project_name`` given to ``Accelerator.init_trackers`` if we are being called from it.

    Accelerate hands custom tracker instances no project name, so ``start()`` looks for it on
    the calling ``init_trackers`` frame (a few frames up, through the main-process decorators).
    """
    frame = sys._getframe(1)
    for _ in range(12):
        if frame is None:
            return None
        if frame.f_code.co_name == "init_trackers" and "project_name" in frame.f_locals:
            name = frame.f_locals["project_name"]
            return str(name) if name else None
        frame = frame.f_back
    return None


class SeeTrainTracker(RunHolder, GeneralTracker):
    """An Accelerate tracker that writes one SeeTrain run from the main process.

    Args:
        run_name / experiment_name: the run's display name.
        project: the SeeTrain project; defaults to the ``project_name`` of ``init_trackers``.
        description, config, logdir: as in :func:`seetrain.init`.
        all_ranks: every process logs into one shared run (``id=``, else ``$SEETRAIN_RUN_ID``, else
            torchrun's job id); needs ``project=`` (only the main process sees ``init_trackers``).
        **init_kwargs: any other :func:`seetrain.init` argument (tags, mode, id, resume, ...).
    """

    FRAMEWORK, SUBJECT = FRAMEWORK, "the Accelerate tracker"
    name = "seetrain"
    requires_logging_directory = False
    main_process_only = True

    def __init__(self, run_name: Optional[str] = None, *, experiment_name: Optional[str] = None,
                 project: Optional[str] = None, description: Optional[str] = None,
                 config: Optional[Dict[str, Any]] = None, logdir: Optional[str] = None, all_ranks: bool = False,
                 **init_kwargs: Any) -> None:
        super().__init__()
        if all_ranks and not project:
            raise ValueError("SeeTrainTracker(all_ranks=True) needs project=...: the processes other than the main "
                             "one never see the project name given to accelerator.init_trackers")
        self.all_ranks = bool(all_ranks)
        self.main_process_only = not all_ranks  # Accelerate's on_main_process reads it per instance
        if run_name is not None and experiment_name is not None and run_name != experiment_name:
            raise ValueError("SeeTrainTracker got both run_name and experiment_name; pass only one of them")
        self.run_name = experiment_name if experiment_name is not None else run_name
        self.project = project
        self.description = description
        self.init_config = dict(config or {})
        self.logdir = logdir
        self.init_kwargs = init_kwargs
        self._run: Optional["seetrain.Run"] = None

    # --- run creation ------------------------------------------------------------------------
    def _create_run(self) -> "seetrain.Run":
        if not _is_main_process() and not self.all_ranks:
            self._run = seetrain.init(mode="disabled", project=self.project)
            return self._run
        kwargs = dict(self.init_kwargs)
        if self.all_ranks:
            from seetrain.integration.every_rank import shared_init_kwargs

            kwargs = shared_init_kwargs(kwargs, "SeeTrainTracker")
        kwargs.setdefault("logdir", self.logdir)
        run = seetrain.init(project=self.project, experiment_name=self.run_name, description=self.description,
                            config=self.init_config or None, **kwargs)
        run.config.update({"_framework": FRAMEWORK})
        self._run = run
        return run

    @on_main_process
    def start(self) -> None:
        """Create the run (Accelerate calls this from ``init_trackers`` on the main process)."""
        if self._run is not None:
            return
        if self.project is None:
            self.project = _project_from_init_trackers()
        try:
            self._create_run()
        except (TypeError, ValueError):
            raise  # bad arguments: the user must hear about them
        except Exception as exc:  # e.g. an unwritable logdir: train on without tracking
            self._warn("start", exc)
            self._run = seetrain.init(mode="disabled", project=self.project)

    @property
    def tracker(self) -> "seetrain.Run":
        """The SeeTrain run (created on first use)."""
        return self.experiment

    # --- logging -----------------------------------------------------------------------------
    @on_main_process
    def store_init_configuration(self, values: Dict[str, Any]) -> None:
        """Store ``values`` (the ``config`` of ``init_trackers``) in the run's config."""
        try:
            self.experiment.config.update(dict(values or {}))
        except Exception as exc:
            self._warn("store_init_configuration", exc)

    @on_main_process
    def log(self, values: Dict[str, Any], step: Optional[int] = None, **kwargs: Any) -> None:
        """Log numbers (strings become text, nested dicts are flattened to ``a/b`` keys)."""
        try:
            self.experiment.log(values, step=step)
        except Exception as exc:
            self._warn("log", exc)

    @on_main_process
    def log_images(self, values: Dict[str, Any], step: Optional[int] = None, **kwargs: Any) -> None:
        """Log images: ``{"samples": [array_or_pil, ...]}`` or a single image per key."""
        try:
            from seetrain.media import Image

            data = {}
            for key, images in values.items():
                if isinstance(images, (list, tuple)):
                    data[key] = [im if isinstance(im, Image) else Image(im) for im in images]
                else:
                    data[key] = images if isinstance(images, Image) else Image(images)
            self.experiment.log(data, step=step)
        except Exception as exc:
            self._warn("log_images", exc)


class _RegisteredSeeTrainTracker(SeeTrainTracker):
    """What ``log_with="seetrain"`` builds: Accelerate passes ``project_name`` first."""

    def __init__(self, project_name: Optional[str] = None, **kwargs: Any) -> None:
        kwargs.setdefault("project", project_name)
        super().__init__(**kwargs)


def register(tracking: Any = None) -> None:
    """Let ``Accelerator(log_with="seetrain")`` build a SeeTrain tracker (Accelerate >= 1.12).

    Keyword arguments for it go in ``init_trackers(..., init_kwargs={"seetrain": {...}})``.
    ``import seetrain`` does this by itself (:mod:`seetrain.integration.native`).
    """
    if tracking is None:
        from accelerate import tracking

    if not hasattr(tracking, "register_tracker_class"):
        raise ImportError("Accelerator(log_with='seetrain') needs an Accelerate version with "
                          "register_tracker_class; pass log_with=[SeeTrainTracker(...)] instead")
    if tracking.LOGGER_TYPE_TO_CLASS.get(SeeTrainTracker.name) is not _RegisteredSeeTrainTracker:
        tracking.register_tracker_class(_RegisteredSeeTrainTracker)
