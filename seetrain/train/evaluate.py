"""``seetrain evaluate RUN [key=value ...]``: a trained run's model on its validation data (or any
data given with overrides, e.g. ``data.root=/other/images``), with the exact metrics of training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence


@dataclass
class Evaluation:
    """Metrics of one evaluation and where they came from."""

    metrics: Dict[str, float]
    samples: int
    checkpoint: str
    tracked_in: Optional[str] = None


def evaluate(run: str, overrides: Sequence[str] = (), logdir: Optional[str] = None, checkpoint: str = "best",
             batch_size: Optional[int] = None, track: bool = True) -> Evaluation:
    """Evaluate ``run``'s model; ``overrides`` change the recorded data config (``data.*`` keys)."""
    import torch

    from .backends.torch_tasks import step_for
    from .config import load_config
    from .data import build_data
    from .errors import TrainConfigError
    from .trained import load

    trained = load(run, logdir, checkpoint)
    bad = [o for o in overrides if not o.lstrip("+").startswith("data.") and not o.startswith("data=")]
    if bad:
        raise TrainConfigError(f"evaluate takes data.* overrides only (the model is the run's), got {', '.join(bad)}")
    config = load_config(list(overrides), {**trained.config, "experiment": None, "hparams_search": None})
    dcfg = dict(config["data"])
    if batch_size:
        dcfg["batch_size"] = batch_size
    data = build_data(dcfg, seed=int(config["seed"]), task=trained.task)
    step = step_for(trained.task, trained.info)
    val = data.val
    bs = int(dcfg["batch_size"])
    sums = None
    with torch.no_grad():
        for start in range(0, len(val), bs):
            x, y = val.batch(list(range(start, min(start + bs, len(val)))))
            s = step.val_sums(trained.model, (torch.from_numpy(x), torch.from_numpy(y)))
            sums = s if sums is None else sums + s
    if sums is None:
        raise TrainConfigError("the validation set is empty; nothing to evaluate", key="data")
    metrics = step.val_metrics(sums)
    out = Evaluation(metrics=metrics, samples=len(val), checkpoint=trained.checkpoint)
    if track:
        from .linked_run import track as track_run

        out.tracked_in = track_run("evaluate", trained, {k.replace("val/", "eval/"): v for k, v in metrics.items()}
                                   | {"eval/samples": len(val)}, {"data": dcfg})
    return out
