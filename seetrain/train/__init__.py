"""The config-driven trainer: ``seetrain train model=resnet18 data=cifar10 trainer.max_epochs=3``.

    from seetrain.train import load_config, run
    result = run(load_config(["model=small_cnn", "data=digits"]))
    print(result.best, result.run_dir)

Config, registries (models per backend, datasets as NumPy) and tasks are framework-free; the
engine is a backend module (``trainer.backend``, see :mod:`seetrain.train.backends`). Importing
this package loads no framework.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_config", "run", "train", "TrainConfigError", "MODELS", "DATASETS"]


def __getattr__(name: str) -> Any:
    if name in ("run", "train", "plan"):
        from . import runner

        return getattr(runner, name)
    if name == "load_config":
        from .config import load_config

        return load_config
    if name == "TrainConfigError":
        from .errors import TrainConfigError

        return TrainConfigError
    if name in ("MODELS", "DATASETS"):
        from . import registry

        return getattr(registry, name)
    raise AttributeError(name)
