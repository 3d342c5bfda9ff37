"""Name -> builder registries of the trainer, keyed by backend.

Models are framework code, so a model is registered per backend (``"torch"`` for the Lightning
backend; a PaddlePaddle backend registers its own builders under ``"paddle"`` with the same names
and parameters, so one YAML file serves both). Datasets are backend-neutral (NumPy arrays) and are
registered once.

    from seetrain.train.registry import MODELS

    @MODELS.register("my_net", backend="torch")
    def my_net(num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 32): ...

plus ``seetrain/train/configs/model/my_net.yaml`` with ``name: my_net`` and its defaults.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import TrainConfigError, unknown


TRAINER_BACKEND = {"torch": "lightning", "paddle": "paddle"}  # a model backend -> the trainer.backend that trains it


def model_backend_of(trainer_backend: str) -> Optional[str]:
    """The registry backend ``trainer.backend`` builds from (None for a backend a plugin added)."""
    return {v: k for k, v in TRAINER_BACKEND.items()}.get(trainer_backend)


@dataclass
class Entry:
    """One registered builder and what is known about it."""

    name: str
    backend: str
    fn: Callable[..., Any]
    info: Dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> List[str]:
        """The keyword arguments the builder takes (the config keys it accepts)."""
        return [p.name for p in inspect.signature(self.fn).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


class Registry:
    """A registry of builders by ``(name, backend)``; ``backend=None`` means backend-neutral."""

    def __init__(self, kind: str, providers: Tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: Dict[Tuple[str, Optional[str]], Entry] = {}
        self._providers = providers  # modules whose import registers the built-in entries
        self._loaded = False

    def register(self, name: str, backend: Optional[str] = None, **info: Any) -> Callable[[Callable], Callable]:
        """Decorator: register ``fn`` as ``name`` (for ``backend``); ``info`` is free metadata."""
        def deco(fn: Callable) -> Callable:
            self._entries[(name, backend)] = Entry(name, backend or "any", fn, dict(info))
            return fn
        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._providers:
                importlib.import_module(mod)
            from .user_code import load_entry_points

            load_entry_points()

    def names(self, backend: Optional[str] = None) -> List[str]:
        self._load()
        return sorted({n for (n, b) in self._entries if b is None or backend is None or b == backend})

    def get(self, name: str, backend: Optional[str] = None) -> Entry:
        """The entry for ``name`` (and ``backend``), or a :class:`TrainConfigError` with "did you mean"."""
        self._load()
        entry = self._entries.get((name, backend)) or self._entries.get((name, None))
        if entry is not None:
            return entry
        others = sorted(b for (n, b) in self._entries if n == name and b is not None)
        if others:
            raise TrainConfigError(f"{self.kind} {name!r} is not available for backend {backend!r}; it exists for "
                                   f"{', '.join(others)} (set trainer.backend={TRAINER_BACKEND.get(others[0], others[0])})",
                                   key=self.kind)
        raise unknown(self.kind, name, self.names(backend),
                      f"; your own {self.kind}: `--import MODULE` (its @{self.kind.upper()}S.register builders) or "
                      f"{self.kind}._target_=package.module.Name in a YAML file (see docs/train.md)")

    def defaults(self, name: str) -> Dict[str, Any]:
        """The keyword defaults of ``name``'s builder (the first registered for any backend): the
        config keys a builder without a YAML file of its own takes."""
        self._load()
        for (n, _b), entry in self._entries.items():
            if n == name:
                return {p.name: p.default for p in inspect.signature(entry.fn).parameters.values()
                        if p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        return {}

    def target(self, target: str, backend: Optional[str], key: str) -> Entry:
        """The entry for a ``_target_`` import path (``pkg.mod.Class``), registered under that path."""
        from .user_code import resolve_target

        entry = self._entries.get((target, backend))
        if entry is None:
            fn = resolve_target(target, key)
            self.register(target, backend, user=True)(fn)
            entry = self._entries[(target, backend)]
        return entry


# the providers import no framework (each builder imports its network when called): the names are known,
# and a typo answered with "did you mean", before torch or paddle is loaded
MODELS = Registry("model", providers=("seetrain.train.models.torch_zoo", "seetrain.train.models.apt_lm",
                                      "seetrain.train.models.paddle_zoo", "seetrain.train.models.mlp"))
DATASETS = Registry("dataset", providers=("seetrain.train.data.builtin", "seetrain.train.data.mnist",
                                          "seetrain.train.data.folder", "seetrain.train.data.tabular",
                                          "seetrain.train.data.cifar", "seetrain.train.data.segmentation"))
