"""A model trained by ``seetrain train``, rebuilt from its run: what ``evaluate``, ``predict`` and
``export`` start from.

The run's recorded config names the model (a registry name or a ``_target_``), the modules it
imported (``imports``) and what the data decided (``data_info``: classes, image size, channels,
the normalisation); the checkpoint folder holds the weights. Nothing is trained or downloaded.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import TrainConfigError

CHOICES = ("best", "last")


@dataclass
class TrainedModel:
    """A rebuilt model in eval mode with what is needed to feed it like the training data."""

    run_dir: str
    run_id: str
    config: Dict[str, Any]
    model: Any                         # torch.nn.Module, in eval mode, on the CPU
    checkpoint: str
    task: str
    classes: Optional[List[str]] = None
    image_size: Optional[int] = None
    channels: Optional[int] = None
    mean: List[float] = field(default_factory=list)
    std: List[float] = field(default_factory=list)
    info: Dict[str, Any] = field(default_factory=dict)

    def example_input(self, batch: int = 1) -> Any:
        """A zero batch of the model's input shape (for tracing and export)."""
        import torch

        if self.info.get("features"):
            return torch.zeros(batch, len(self.info["features"]))
        return torch.zeros(batch, int(self.channels or 3), int(self.image_size or 32), int(self.image_size or 32))


def checkpoint_dir(run_dir: str, config: Dict[str, Any]) -> str:
    """Where the run's checkpoints are: ``trainer.checkpoint.dirpath`` or ``<run dir>/checkpoints``."""
    where = ((config.get("trainer") or {}).get("checkpoint") or {}).get("dirpath")
    return os.path.abspath(os.path.expanduser(where)) if where else os.path.join(run_dir, "checkpoints")


def pick_checkpoint(folder: str, which: str = "best") -> str:
    """``best`` (the keeper's best-ranked file), ``last`` (``last.ckpt``), or a path; raises saying what exists."""
    import torch

    if which not in CHOICES:
        if not os.path.isfile(which):
            raise TrainConfigError(f"--checkpoint {which}: no such file (or use best / last)", key="checkpoint")
        return os.path.abspath(which)
    files = sorted(glob.glob(os.path.join(folder, "*.ckpt")), key=os.path.getmtime)
    if not files:
        raise TrainConfigError(f"no checkpoints in {folder}: the run was trained with trainer.checkpoint.enabled=false "
                               "or its files were removed; train again with checkpoints on", key="checkpoint")
    last = os.path.join(folder, "last.ckpt")
    if which == "last":
        return last if os.path.isfile(last) else files[-1]
    state = torch.load(files[-1], map_location="cpu", mmap=True, weights_only=True)
    kept = (state.get("checkpoints") or {}).get("kept") or []
    for _value, path in kept:  # best first; the folder may have moved since: look for the file by name
        here = os.path.join(folder, os.path.basename(str(path)))
        if os.path.isfile(here):
            return here
    return last if os.path.isfile(last) else files[-1]


def load(run: str, logdir: Optional[str] = None, checkpoint: str = "best") -> TrainedModel:
    """The model of ``run`` (a run directory, id or name) with the weights of ``checkpoint``."""
    import torch

    from .reproduce import config_of_run, find_run
    from .tasks.classification import from_data, model_arguments
    from .user_code import restore

    reader = find_run(run, logdir)
    config = config_of_run(reader.path, None)
    recorded = reader.config
    info = dict(recorded.get("data_info") or {})
    task = str(config.get("task", "classification"))
    if task not in ("classification", "regression", "segmentation"):
        raise TrainConfigError(f"run {reader.id} is a {task} run; evaluate, predict and export take classification, "
                               "regression and segmentation runs", key="task")
    if (config.get("trainer") or {}).get("backend", "lightning") not in ("lightning", "torch"):
        raise TrainConfigError(f"run {reader.id} was trained with trainer.backend={config['trainer']['backend']}; "
                               "evaluate, predict and export read PyTorch checkpoints (trainer.backend=lightning)",
                               key="trainer.backend")
    restore(config.get("imports"))
    entry, kwargs = model_arguments(config["model"], "torch", task=task)

    shape = (len(info["features"]),) if info.get("features") else \
        (int(info.get("channels") or len(info.get("mean") or [0, 0, 0])), info.get("image_size"), info.get("image_size"))
    if shape[-1] is None:
        raise TrainConfigError(f"run {reader.id} does not record its image size (trained before data_info had it); "
                               "train it again to evaluate, predict or export it", key="data_info")
    kwargs.update(from_data(entry, shape, int(info.get("num_classes") or 1)))
    model = entry.fn(**kwargs)
    path = pick_checkpoint(checkpoint_dir(reader.path, config), checkpoint)
    state = torch.load(path, map_location="cpu", weights_only=True)
    sd = state.get("model") if isinstance(state, dict) and "loop" in state else state
    try:
        model.load_state_dict(sd)
    except (RuntimeError, TypeError) as exc:
        raise TrainConfigError(f"{path} does not fit model {config['model'].get('name')!r} of run {reader.id}: {exc}",
                               key="checkpoint") from None
    model.eval()
    return TrainedModel(run_dir=reader.path, run_id=reader.id, config=config, model=model, checkpoint=path, task=task,
                        classes=info.get("classes"), image_size=shape[1] if len(shape) == 3 else None,
                        channels=shape[0] if len(shape) == 3 else None, mean=list(info.get("mean") or []),
                        std=list(info.get("std") or []), info=info)
