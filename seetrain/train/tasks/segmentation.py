"""Semantic segmentation: a class for every pixel (``task=segmentation``, e.g. ``experiment=shapes_unet``);
images with masks (``data=shapes``, ``data=seg_folder``) and a per-pixel model (``model=unet``);
metric ``val/miou`` (mean intersection over union), with ``val/pixel_acc``."""

from __future__ import annotations

from typing import Any, Dict

from ..data import DataBundle, build_data
from ..job import Job
from .classification import check_num_classes, labelled_job, model_arguments


def load_data(config: Dict[str, Any]) -> DataBundle:
    """The images and masks, split and sized (framework-free: called before the backend is imported)."""
    return build_data(config["data"], seed=int(config["seed"]), task="segmentation")


def prepare(config: Dict[str, Any], model_backend: str, data: DataBundle) -> Job:
    entry, kwargs = model_arguments(config["model"], model_backend, task="segmentation")
    check_num_classes(config["model"], data)
    return labelled_job(config, data, entry, kwargs, task="segmentation", metric="val/miou")
