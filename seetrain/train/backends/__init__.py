"""Training engines, picked by ``trainer.backend``. Everything before a backend is framework-free:
the config (:mod:`seetrain.train.config`), the data (:mod:`seetrain.train.data`, NumPy batches) and
the task (:mod:`seetrain.train.tasks`, which builds a :class:`~seetrain.train.job.Job`).

A backend is a module with:

``NAME``            its ``trainer.backend`` value
``MODEL_BACKEND``   the model-registry backend it builds from (``"torch"``, ``"paddle"``)
``TASKS``           the task names it can train
``check(config)``   raise :class:`~seetrain.train.errors.TrainConfigError` for options it cannot do
``build_model(job)`` the framework model, weights loaded, one dry forward pass done (still no run)
``fit(job, model) -> FitResult``  train with SeeTrain tracking; call ``job.hooks`` after each validation

Add one with :func:`register_backend` (or a line in ``BACKENDS``).
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Dict, Optional

from ..errors import TrainConfigError, unknown

BACKENDS: Dict[str, str] = {
    "lightning": "seetrain.train.backends.lightning",
    "paddle": "seetrain.train.backends.paddle",
}


def register_backend(name: str, module: str) -> None:
    """Make ``trainer.backend=<name>`` use ``module`` (imported on first use)."""
    BACKENDS[name] = module


def get_backend(name: str):
    """The backend module for ``trainer.backend`` (imported now: it loads its framework)."""
    if name not in BACKENDS:
        raise unknown("trainer.backend", name, BACKENDS)
    try:
        return importlib.import_module(BACKENDS[name])
    except ImportError as exc:
        raise TrainConfigError(f"trainer.backend={name} needs a package that is not installed ({exc}); "
                               'install it with: pip install "seetrain[train]"', key="trainer.backend") from None


def check_common(backend, config: dict) -> None:
    """The checks every backend shares: task supported, trainer keys understood."""
    task = config["task"]
    if task not in backend.TASKS:
        others = [n for n in BACKENDS if n != backend.NAME]
        raise TrainConfigError(f"trainer.backend={backend.NAME} cannot train task={task}"
                               + (f"; use trainer.backend={others[0]}" if others else ""), key="task")


def announce(run: Any = None, checkpoints: Optional[str] = None) -> None:
    """The first lines of every training, on both backends, before any of its output: where the run is
    and how to watch it; for an untracked run (logger=none), where its checkpoints go."""
    import shlex

    if run is not None and getattr(run, "dir", None):
        logdir = os.path.dirname(os.path.dirname(os.path.abspath(run.dir)))  # <logdir>/<project>/<id>
        print(f"run dir: {run.dir}\nwatch it: seetrain ui {shlex.quote(logdir)}", flush=True)
    elif checkpoints:
        print(f"checkpoints: {checkpoints}", flush=True)


def untracked_checkpoint_dir() -> str:
    """A checkpoint folder of its own for a run without tracking: ``./seetrain_outputs/checkpoints/<run id>``
    (a new run id: two such runs never share, nor overwrite each other's ``last``)."""
    from seetrain.ids import new_id

    return os.path.abspath(os.path.join("seetrain_outputs", "checkpoints", new_id()))


def float16_on_cpu(precision: str) -> TrainConfigError:
    """The one answer of every backend to float16 (``16-mixed``, ``16-true``) on a CPU: no backend trains
    float16 there (Lightning would silently switch to bfloat16, paddle's AMP has no CPU kernels)."""
    return TrainConfigError(f"trainer.precision={precision}: float16 mixed precision needs a GPU, and this run would "
                            "train on the CPU; use 32-true, or auto (it picks what the device supports)",
                            key="trainer.precision")


def limit_batches(limit: Any, full: int, key: str) -> int:
    """Batches per epoch under ``limit`` (a fraction of the epoch, or a count)."""
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        raise TrainConfigError(f"{key} must be a fraction in (0, 1] or a number of batches, got {limit!r}", key=key)
    if limit <= 0:
        raise TrainConfigError(f"{key} must be > 0, got {limit!r}", key=key)
    if isinstance(limit, float) and limit <= 1.0:
        return max(1, int(full * limit))
    if limit < 1 or float(limit) != int(limit):
        raise TrainConfigError(f"{key} must be a fraction in (0, 1] or a whole number of batches, got {limit!r}", key=key)
    return min(full, int(limit))


def gradient_clip(t: Dict[str, Any]) -> Optional[float]:
    """``trainer.gradient_clip_val`` checked: a number >= 0 (0 or null: no clipping)."""
    clip = t.get("gradient_clip_val")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip < 0):
        raise TrainConfigError(f"trainer.gradient_clip_val must be a number >= 0 or null, got {clip!r}",
                               key="trainer.gradient_clip_val")
    return float(clip) if clip else None
