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


REWIND_ENV = "SEETRAIN_RESUME_FROM"  # set by ``seetrain train --resume-from STEP``: the step to rewind to


def checkpoint_step(checkpoint: str) -> Optional[int]:
    """The last step a checkpoint's training logged (its optimizer steps done, less one: the trainer
    logs step ``global_step - 1``), or None when the checkpoint does not say. A Lightning ``.ckpt``
    is memory-mapped, so its tensors are not read; a paddle one has a ``.json`` beside it."""
    base, ext = os.path.splitext(checkpoint)
    try:
        if ext in (".pdparams", ".pdopt"):
            import json

            with open(base + ".json", encoding="utf-8") as f:
                done = json.load(f).get("steps")
        else:
            import torch

            done = (torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True).get("loop") or {}) \
                .get("global_step")
    except Exception:  # not a checkpoint this knows: no rewind
        return None
    return done - 1 if type(done) is int and done > 0 else None


def rewind_step(checkpoint: str) -> Optional[int]:
    """The step a resumed run's history goes back to: ``--resume-from STEP`` when given, else the
    checkpoint's own (:func:`checkpoint_step`); what was logged after it is superseded."""
    given = os.environ.get(REWIND_ENV)
    if given:
        try:
            return max(int(given), 0)
        except ValueError:
            raise TrainConfigError(f"--resume-from {given!r}: give the step (an integer) to go on from",
                                   key="trainer.resume") from None
    return checkpoint_step(checkpoint)


def run_init_kwargs(config: Dict[str, Any], run_name: Optional[str], checkpoint: Optional[str]) -> Dict[str, Any]:
    """The :func:`seetrain.init` arguments of a training from the ``logger`` config: a new run, or
    (``checkpoint`` given and inside a run directory) that run, resumed from the checkpoint's step
    (``resume_from``: the steps logged after it, before an interruption, are superseded)."""
    lc = config["logger"]
    tags = list(lc.get("tags") or []) + ([f"group:{lc['group']}"] if lc.get("group") else [])
    kw: Dict[str, Any] = dict(project=lc.get("project") or "train", experiment_name=lc.get("experiment_name") or run_name,
                              description=lc.get("description"), config=config, logdir=lc.get("logdir"),
                              tags=tags or None)
    earlier = checkpoint_run(checkpoint) if checkpoint else None
    if earlier is not None:
        kw.update(project=earlier.project, experiment_name=earlier.name, logdir=earlier.logdir, id=earlier.id, resume=True)
        step = rewind_step(checkpoint) if os.path.isfile(checkpoint) else None
        if step is not None:
            kw["resume_from"] = step
    return kw
