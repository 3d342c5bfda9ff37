"""``run(config)``: check everything, build the data and the model, then train on the chosen backend.

Every config, data and model error is raised as :class:`TrainConfigError` before the SeeTrain run is
created, so a mistake never leaves an empty run behind.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Sequence

from .backends import get_backend
from .config import load_config
from .job import FitResult, Job, ValidationHook
from .preflight import check_paths
from .tasks import get_task


def plan(config: Dict[str, Any], hooks: Iterable[ValidationHook] = ()):
    """(backend module, job, model): everything checked and built, nothing trained, no run yet."""
    check_paths(config)  # log, checkpoint and data folders: before any framework or user module is imported
    from .user_code import restore

    restore(config.get("imports"))  # the user's modules a run recorded (--import), before any lookup
    check_model_name(config)  # a typo in the model's name: "did you mean" from the registry, before torch
    task = get_task(config["task"])
    data = task.load_data(config)  # framework-free: data errors (a batch larger than the data) before the imports
    backend = get_backend(config["trainer"]["backend"])
    backend.check(config)
    job: Job = task.prepare(config, backend.MODEL_BACKEND, data)
    job.hooks.extend(hooks)
    model = backend.build_model(job)
    return backend, job, model


def check_model_name(config: Dict[str, Any]) -> None:
    """Raise :class:`TrainConfigError` (with "did you mean") when ``model.name`` is not registered for the
    backend; the registry's built-in builders load no framework, so this comes before any heavy import."""
    from .registry import MODELS, model_backend_of

    mcfg, backend = config.get("model") or {}, model_backend_of(str(config["trainer"]["backend"]))
    name = str(mcfg.get("name"))
    # a name no backend has; one that exists for another backend is for the backend's own checks (which
    # say what that backend cannot do, e.g. a task), and a plugin's backend checks its own names
    if backend is not None and not mcfg.get("_target_") and name not in MODELS.names():
        MODELS.get(name, backend)


def run(config: Dict[str, Any], hooks: Iterable[ValidationHook] = ()) -> FitResult:
    """Train with a config from :func:`~seetrain.train.config.load_config`."""
    backend, job, model = plan(config, hooks)
    return backend.fit(job, model)


def train(argv: Sequence[str] = (), base: Optional[Dict[str, Any]] = None) -> FitResult:
    """``seetrain train ARGV`` as a function: compose, check and train."""
    return run(load_config(argv, base))
