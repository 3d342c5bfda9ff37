"""Which SeeTrain run a checkpoint belongs to, so that ``trainer.resume`` continues that run.

``seetrain train`` saves checkpoints in ``<logdir>/<project>/<run id>/checkpoints/``; resuming from
one of them (or from the run directory itself) continues that run, its curves going on at the
checkpoint's step, as W&B or SwanLab users expect. A checkpoint anywhere else starts a new run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .errors import TrainConfigError

_LEVELS = 3  # <run dir>/checkpoints/sub/x.ckpt at most


@dataclass(frozen=True)
class CheckpointRun:
    """The run a checkpoint was saved in: ``seetrain.init(project=, id=, logdir=, resume=True)``."""

    logdir: str
    project: str
    id: str
    name: str
    path: str


def checkpoint_run(checkpoint: str) -> Optional[CheckpointRun]:
    """The SeeTrain run whose directory holds ``checkpoint`` (a file or a run directory), or None.

    Raises :class:`TrainConfigError` when that run is still being written by a live process.
    """
    import seetrain

    d = os.path.abspath(checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint))
    for _ in range(_LEVELS + 1):
        if os.path.isfile(os.path.join(d, "run.json")):
            break
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    else:
        return None
    try:
        run = seetrain.read_run(d)
        run_id, project, name, status = run.id, run.project, run.name, run.status
    except Exception:  # not a readable run directory: resume the weights into a new run
        return None
    if os.path.basename(d) != run_id or os.path.basename(os.path.dirname(d)) != project:
        return None  # moved out of its <logdir>/<project>/<id> place: not resumable as that run
    if status == "running":
        raise TrainConfigError(f"trainer.resume={checkpoint}: its run {run_id} ({d}) is still running in another "
                               "process; wait for it to end (or stop it) before resuming it", key="trainer.resume")
    return CheckpointRun(logdir=os.path.dirname(os.path.dirname(d)), project=project, id=run_id, name=name, path=d)


def run_init_kwargs(config: Dict[str, Any], run_name: Optional[str], checkpoint: Optional[str]) -> Dict[str, Any]:
    """The :func:`seetrain.init` arguments of a training from the ``logger`` config: a new run, or
    (``checkpoint`` given and inside a run directory) that run, resumed."""
    lc = config["logger"]
    tags = list(lc.get("tags") or []) + ([f"group:{lc['group']}"] if lc.get("group") else [])
    kw: Dict[str, Any] = dict(project=lc.get("project") or "train", experiment_name=lc.get("experiment_name") or run_name,
                              description=lc.get("description"), config=config, logdir=lc.get("logdir"),
                              tags=tags or None)
    earlier = checkpoint_run(checkpoint) if checkpoint else None
    if earlier is not None:
        kw.update(project=earlier.project, experiment_name=earlier.name, logdir=earlier.logdir, id=earlier.id, resume=True)
    return kw
