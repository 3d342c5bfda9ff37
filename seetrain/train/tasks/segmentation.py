"""Semantic segmentation: a class for every pixel (``task=segmentation``, e.g. ``experiment=shapes_unet``);
images with masks (``data=shapes``, ``data=seg_folder``) and a per-pixel model (``model=unet``);
metric ``val/miou`` (mean intersection over union), with ``val/pixel_acc``."""

from __future__ import annotations

from typing import Any, Dict

from ..data import DataBundle, build_data
from ..errors import TrainConfigError
from ..job import Job
from .classification import from_data, model_arguments


def load_data(config: Dict[str, Any]) -> DataBundle:
    """The images and masks, split and sized (framework-free: called before the backend is imported)."""
    return build_data(config["data"], seed=int(config["seed"]), task="segmentation")


def prepare(config: Dict[str, Any], model_backend: str, data: DataBundle) -> Job:
    mcfg = config["model"]
    entry, kwargs = model_arguments(mcfg, model_backend, task="segmentation")
    nc = mcfg.get("num_classes")
    if nc is not None and nc != data.num_classes:
        raise TrainConfigError(f"model.num_classes={nc} disagrees with data {data.name!r}, which has {data.num_classes} "
                               f"classes; set model.num_classes={data.num_classes} or null (taken from the data)",
                               key="model.num_classes")
    kwargs.update(from_data(entry, tuple(data.train.shape), data.num_classes))
    check = entry.info.get("check_input")
    problem = check(**kwargs) if check else None
    if problem:
        raise TrainConfigError(f"model {entry.name!r} cannot take the {data.image_size}x{data.image_size} images of "
                               f"data {data.name!r}: {problem}", key="data.image_size")
    dcfg = config["data"]
    return Job(config=config, task="segmentation", model_name=entry.name, model_kwargs=kwargs,
               train=data.train, val=data.val, batch_size=int(dcfg["batch_size"]),
               num_workers=int(dcfg.get("num_workers") or 0), metric="val/miou", mode="max",
               pretrained=mcfg.get("pretrained", False), pretrained_md5=mcfg.get("pretrained_md5"),
               info={"num_classes": data.num_classes, "classes": data.classes, **data.info},
               run_name=f"{mcfg['name']}-{data.name}")
