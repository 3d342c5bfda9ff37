"""Regression on a table (``data=csv task=regression``): one numeric output; metric ``val/rmse`` (lower is better)."""

from __future__ import annotations

from typing import Any, Dict

from ..data import DataBundle, build_data
from ..errors import TrainConfigError
from ..job import Job
from .classification import from_data, model_arguments


def load_data(config: Dict[str, Any]) -> DataBundle:
    """The table's train/val sets, built and sized (framework-free: called before the backend is imported)."""
    return build_data(config["data"], seed=int(config["seed"]), task="regression")


def prepare(config: Dict[str, Any], model_backend: str, data: DataBundle) -> Job:
    mcfg = config["model"]
    entry, kwargs = model_arguments(mcfg, model_backend)
    if mcfg.get("num_classes") not in (None, 1):
        raise TrainConfigError(f"task=regression predicts one value; model.num_classes must be null or 1, got "
                               f"{mcfg.get('num_classes')!r}", key="model.num_classes")
    kwargs.update(from_data(entry, tuple(data.train.shape), 1))
    dcfg = config["data"]
    return Job(config=config, task="regression", model_name=entry.name, model_kwargs=kwargs,
               train=data.train, val=data.val, batch_size=int(dcfg["batch_size"]),
               num_workers=int(dcfg.get("num_workers") or 0), metric="val/rmse", mode="min",
               pretrained=mcfg.get("pretrained", False), pretrained_md5=mcfg.get("pretrained_md5"),
               info={"num_classes": 1, **data.info}, run_name=f"{mcfg['name']}-{data.name}")
