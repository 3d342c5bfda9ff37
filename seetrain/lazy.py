"""Lazy imports of optional dependencies, with a message that names the extra to install."""

from __future__ import annotations

import importlib
import types
from typing import Any, Optional

# import name -> seetrain extra that provides it
EXTRAS = {
    "numpy": "media",
    "PIL": "media",
    "torch": "apt",
    "lightning": "lightning",
    "pytorch_lightning": "lightning",
    "keras": "keras",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "optuna": "optuna",
    "mmengine": "mmengine",
    "ultralytics": "ultralytics",
    "openai": "openai",
    "zhipuai": "zhipuai",
    "anthropic": "anthropic",
    "omegaconf": "apt",
    "safetensors": "apt",
    "fastapi": "server",
    "sqlalchemy": "server",
    "pynvml": "gpu",
    "duckdb": "query",
    "pyarrow": "query",
    "pandas": "query",
    "polars": "query",
}


def install_hint(module: str, extra: Optional[str] = None) -> str:
    extra = extra or EXTRAS.get(module.split(".")[0], "all")
    return f'pip install "seetrain[{extra}]"'


def require(module: str, extra: Optional[str] = None, purpose: str = "") -> types.ModuleType:
    """Import ``module`` or raise an ImportError that says which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        raise ImportError(
            f"SeeTrain needs the optional package '{module.split('.')[0]}'{what}, which is not "
            f"installed (or failed to import: {exc}). Install it with: {install_hint(module, extra)}"
        ) from exc


class LazyModule(types.ModuleType):
    """A module proxy that imports the real module on first attribute access."""

    def __init__(self, name: str, extra: Optional[str] = None, purpose: str = "") -> None:
        super().__init__(name)
        self._lazy_extra = extra
        self._lazy_purpose = purpose
        self._lazy_module: Optional[types.ModuleType] = None

    def _load(self) -> types.ModuleType:
        if self._lazy_module is None:
            self._lazy_module = require(self.__name__, self._lazy_extra, self._lazy_purpose)
        return self._lazy_module

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_lazy_"):
            raise AttributeError(item)
        return getattr(self._load(), item)

    def __dir__(self):
        return dir(self._load())
