"""Image classification: a registered model over a registered (or mixed) dataset; metric ``val/acc``."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from ..data import DataBundle, build_data
from ..errors import TrainConfigError, did_you_mean
from ..job import Job
from ..registry import MODELS

MODEL_COMMON = ("name", "_target_", "num_classes", "pretrained", "pretrained_md5")
FROM_DATA = ("in_channels", "image_size", "in_features")
DATA_KEY = {"in_channels": "data.channels", "image_size": "data.image_size", "in_features": "data.features"}


def model_arguments(mcfg: Dict[str, Any], model_backend: str, task: str = "classification"):
    """(registry entry, builder kwargs) with every key checked against the builder's parameters; the
    model must be one for ``task`` (classification and regression share their models)."""
    mcfg = dict(mcfg)
    name = str(mcfg.pop("name"))
    target = mcfg.get("_target_")
    entry = MODELS.target(str(target), model_backend, "model._target_") if target else MODELS.get(name, model_backend)
    kind = entry.info.get("task", "classification")
    if not entry.info.get("user") and kind != ("classification" if task == "regression" else task):
        raise TrainConfigError(f"model {name!r} is a {kind} model; use it with task={kind}"
                               + (f" (task={task} takes model={'unet' if task == 'segmentation' else 'small_cnn'} "
                                  "or your own)" if task in ("segmentation", "classification") else ""),
                               key="model.name")
    params = [p for p in entry.parameters() if p not in ("num_classes",) + FROM_DATA]
    kwargs = {}
    for k, v in mcfg.items():
        if k in MODEL_COMMON:
            continue
        if k in FROM_DATA:
            raise TrainConfigError(f"model.{k} comes from the data; set {DATA_KEY[k]} instead", key=f"model.{k}")
        if k not in params:
            raise TrainConfigError(f"unknown key model.{k} for model {name!r}{did_you_mean(k, params + list(MODEL_COMMON))}"
                                   f" (it takes: {', '.join(list(MODEL_COMMON[1:]) + params)})", key=f"model.{k}")
        kwargs[k] = v
    return entry, kwargs


def from_data(entry, shape: Tuple[int, ...], num_classes: int) -> Dict[str, Any]:
    """The builder arguments the data decides from one example's ``shape`` (``num_classes``,
    ``in_channels``, ``image_size``; tabular data: ``in_features``), limited to those a user's
    ``_target_`` class takes."""
    given: Dict[str, Any] = {"num_classes": int(num_classes)}
    if len(shape) == 1:
        given["in_features"] = int(shape[0])
    else:
        given.update(in_channels=int(shape[0]), image_size=int(shape[1]))
    if not entry.info.get("user"):
        return given
    import inspect

    params = inspect.signature(entry.fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return given
    return {k: v for k, v in given.items() if k in params}


def load_data(config: Dict[str, Any]) -> DataBundle:
    """The train/val sets, built and sized (framework-free: called before the backend is imported)."""
    return build_data(config["data"], seed=int(config["seed"]))


def prepare(config: Dict[str, Any], model_backend: str, data: DataBundle) -> Job:
    mcfg = config["model"]
    entry, kwargs = model_arguments(mcfg, model_backend)
    check_num_classes(mcfg, data)
    if len(data.train.shape) == 1 and "in_features" not in entry.parameters() and not entry.info.get("user"):
        raise TrainConfigError(f"data {data.name!r} gives feature vectors ({data.train.shape[0]} features) but model "
                               f"{entry.name!r} takes images; use model=mlp (or your own model taking in_features)",
                               key="model.name")
    return labelled_job(config, data, entry, kwargs, task="classification", metric="val/acc")


def check_num_classes(mcfg: Dict[str, Any], data: DataBundle) -> None:
    """``model.num_classes``, when given, is a positive whole number that agrees with the data."""
    nc = mcfg.get("num_classes")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise TrainConfigError(f"model.num_classes must be a positive whole number or null (from the data), got {nc!r}",
                               key="model.num_classes")
    if nc is not None and nc != data.num_classes:
        raise TrainConfigError(f"model.num_classes={nc} disagrees with data {data.name!r}, which has {data.num_classes} "
                               f"classes; set model.num_classes={data.num_classes} or null (taken from the data)",
                               key="model.num_classes")


def labelled_job(config: Dict[str, Any], data: DataBundle, entry: Any, kwargs: Dict[str, Any], task: str,
                 metric: str) -> Job:
    """The job of a task that learns class labels (per example or per pixel): the model's arguments
    completed from the data and checked against its images, best by ``metric`` (higher is better)."""
    mcfg = config["model"]
    kwargs.update(from_data(entry, tuple(data.train.shape), data.num_classes))
    check = entry.info.get("check_input")
    problem = check(**kwargs) if check else None
    if problem:
        raise TrainConfigError(f"model {entry.name!r} cannot take the {data.image_size}x{data.image_size} images of "
                               f"data {data.name!r}: {problem}", key="data.image_size")
    dcfg = config["data"]
    return Job(config=config, task=task, model_name=entry.name, model_kwargs=kwargs,
               train=data.train, val=data.val, batch_size=int(dcfg["batch_size"]),
               num_workers=int(dcfg.get("num_workers") or 0), metric=metric, mode="max",
               pretrained=mcfg.get("pretrained", False), pretrained_md5=mcfg.get("pretrained_md5"),
               info={"num_classes": data.num_classes, "classes": data.classes, **data.info},
               run_name=f"{mcfg['name']}-{data.name}")
