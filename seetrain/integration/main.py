"""The unified integration API: one way to start any framework adapter.

    from seetrain import integration
    it = integration.init("pytorch_lightning", project="mnist", config={"lr": 1e-3})
    trainer = Trainer(logger=it.get_callback())

Every adapter is one file that imports its framework lazily. Adding a framework is one line in
:data:`REGISTRY`. An adapter is built as ``factory(project=..., experiment_name=...,
description=..., config=..., **kwargs)`` and exposes ``experiment`` (its :class:`seetrain.Run`,
created on first use) and ``finish(status)``.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple


@dataclass(frozen=True)
class FrameworkSpec:
    """How to find, check and build one adapter."""

    mode: str                   # "callback" | "tracker" | "visbackend" | "autolog"
    target: str                 # "module:factory" of the adapter
    packages: Tuple[str, ...]   # distribution names, any of which satisfies the requirement
    extra: str                  # seetrain extra that installs it
    versions: str               # supported versions (PEP 440 specifier)
    aliases: Tuple[str, ...] = ()


_CB = "seetrain.integration.callbacks"
_TR = "seetrain.integration.trackers"
_VB = "seetrain.integration.visbackends"
_AL = "seetrain.integration.autolog"

REGISTRY: Dict[str, FrameworkSpec] = {
    "pytorch_lightning": FrameworkSpec("callback", f"{_CB}.lightning:SeeTrainLogger", ("lightning", "pytorch-lightning"), "lightning", ">=2.0,<3", ("lightning", "pl")),
    "keras": FrameworkSpec("callback", f"{_CB}.keras:SeeTrainCallback", ("keras",), "keras", ">=3.0,<4", ("tf.keras",)),
    "transformers": FrameworkSpec("callback", f"{_CB}.transformers:SeeTrainCallback", ("transformers",), "transformers", ">=4.40,<6", ("huggingface", "hf")),
    "ultralytics": FrameworkSpec("callback", f"{_CB}.ultralytics:SeeTrainUltralytics", ("ultralytics",), "ultralytics", ">=8.1,<9", ("yolo",)),
    "accelerate": FrameworkSpec("tracker", f"{_TR}.accelerate:SeeTrainTracker", ("accelerate",), "accelerate", ">=0.26,<2"),
    "paddle": FrameworkSpec("callback", f"{_CB}.paddle:SeeTrainPaddleCallback", ("paddlepaddle", "paddlepaddle-gpu"), "paddle", ">=2.5,<4", ("paddlepaddle",)),
    "optuna": FrameworkSpec("tracker", f"{_TR}.optuna:SeeTrainOptunaCallback", ("optuna",), "optuna", ">=3.0,<6"),
    "ray_tune": FrameworkSpec("tracker", f"{_TR}.ray_tune:SeeTrainLoggerCallback", ("ray",), "ray", ">=2.9,<3", ("ray", "tune", "raytune")),
    "mmengine": FrameworkSpec("visbackend", f"{_VB}.mmengine:SeeTrainVisBackend", ("mmengine",), "mmengine", ">=0.10,<0.11", ("mmdet", "mmdetection")),
    "openai": FrameworkSpec("autolog", f"{_AL}.openai:OpenAIAutolog", ("openai",), "openai", ">=1.0,<4"),
    "zhipuai": FrameworkSpec("autolog", f"{_AL}.zhipuai:ZhipuAIAutolog", ("zhipuai",), "zhipuai", ">=2.0,<3"),
    "anthropic": FrameworkSpec("autolog", f"{_AL}.anthropic:AnthropicAutolog", ("anthropic",), "anthropic", ">=0.30,<3"),
}


def _canonical(framework: str) -> str:
    key = str(framework).strip().lower().replace("-", "_")
    if key in REGISTRY:
        return key
    for name, spec in REGISTRY.items():
        if key in spec.aliases:
            return name
    raise ValueError(f"unknown framework {framework!r}; SeeTrain integrates: {', '.join(sorted(REGISTRY))}")


def check_framework(framework: str) -> str:
    """Raise a clear ImportError if the framework is missing or outside the supported versions.

    Returns the installed version.
    """
    from importlib import metadata

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    name = _canonical(framework)
    spec = REGISTRY[name]
    installed = None
    for dist in spec.packages:
        try:
            installed = (dist, metadata.version(dist))
            break
        except metadata.PackageNotFoundError:
            continue
    if installed is None:
        raise ImportError(f"SeeTrain's {name} integration needs {spec.packages[0]} {spec.versions}, which is "
                          f"not installed. Install it with: pip install \"seetrain[{spec.extra}]\"")
    dist, version = installed
    if Version(version) not in SpecifierSet(spec.versions):
        raise ImportError(f"SeeTrain's {name} integration supports {dist} {spec.versions}, but {version} is "
                          f"installed. Install a supported version: pip install \"seetrain[{spec.extra}]\"")
    return version


def load_adapter(framework: str) -> Callable[..., Any]:
    """The adapter factory registered for ``framework`` (after the version check)."""
    name = _canonical(framework)
    check_framework(name)
    module, attr = REGISTRY[name].target.split(":")
    return getattr(importlib.import_module(module), attr)


_GETTERS = {"callback": "get_callback", "tracker": "get_tracker", "visbackend": "get_backend", "autolog": "get_autolog"}


class Integration:
    """One active integration: the adapter object and the run it writes to."""

    def __init__(self, framework: str, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        self.framework = _canonical(framework)
        self.mode = REGISTRY[self.framework].mode
        factory = load_adapter(self.framework)
        self.adapter = factory(project=project, experiment_name=experiment_name, description=description,
                               config=config, **kwargs)
        self.finished = False
        _active.append(self)

    # --- the adapter, by mode ----------------------------------------------------------------
    def _get(self, mode: str) -> Any:
        if self.mode != mode:
            raise TypeError(f"{self.framework} is a {self.mode}-mode integration; use "
                            f"{_GETTERS[self.mode]}() instead")
        return self.adapter

    def get_callback(self) -> Any:
        """The Lightning logger / Keras / Transformers callback / Ultralytics callbacks."""
        return self._get("callback")

    def get_tracker(self) -> Any:
        """The Accelerate tracker or Optuna callback."""
        return self._get("tracker")

    def get_backend(self) -> Any:
        """The MMEngine visualisation backend."""
        return self._get("visbackend")

    def get_autolog(self) -> Any:
        """The autolog handle (``disable()`` restores the client)."""
        return self._get("autolog")

    # --- the run -----------------------------------------------------------------------------
    @property
    def run(self) -> Any:
        """The run (created now if the framework has not started it yet)."""
        return self.adapter.experiment

    def get_config(self) -> Dict[str, Any]:
        return self.run.config.to_dict()

    def get_stats(self) -> Dict[str, Any]:
        """Records logged, errors, the last error, and the error counts of guarded operations."""
        from seetrain.resilience import get_integration_error_stats

        run = self.run
        stats = run.get_stats() if hasattr(run, "get_stats") else {"records": 0, "errors": 0, "last_error": None}
        stats["framework"] = self.framework
        stats["operations"] = get_integration_error_stats()
        return stats

    def log(self, data: Dict[str, Any], step: Optional[int] = None) -> None:
        self.run.log(data, step=step)

    def update_config(self, values: Dict[str, Any]) -> None:
        self.run.config.update(values)

    def finish(self, status: str = "success") -> None:
        if self.finished:
            return
        self.finished = True
        if self in _active:
            _active.remove(self)
        self.adapter.finish(status)

    def __enter__(self) -> "Integration":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("crashed" if exc_type is not None else "success")

    def __repr__(self) -> str:
        return f"<seetrain Integration {self.framework} ({self.mode})>"


_active: List[Integration] = []


def init(framework: str, project: Optional[str] = None, experiment_name: Optional[str] = None,
         description: Optional[str] = None, config: Optional[Dict[str, Any]] = None, **kwargs: Any) -> Integration:
    """Start the adapter for ``framework`` (see :data:`REGISTRY` for names)."""
    return Integration(framework, project=project, experiment_name=experiment_name,
                       description=description, config=config, **kwargs)


def _shortcut(framework: str) -> Callable[..., Integration]:
    def start(project: Optional[str] = None, experiment_name: Optional[str] = None,
              description: Optional[str] = None, config: Optional[Dict[str, Any]] = None, **kwargs: Any) -> Integration:
        return init(framework, project=project, experiment_name=experiment_name, description=description,
                    config=config, **kwargs)

    start.__name__ = f"init_{framework}"
    start.__doc__ = f"Start the {framework} integration (``init({framework!r}, ...)``)."
    return start


def _autolog_shortcut(framework: str) -> Callable[..., Any]:
    def enable(project: Optional[str] = None, experiment_name: Optional[str] = None, **kwargs: Any) -> Any:
        return init(framework, project=project, experiment_name=experiment_name, **kwargs).get_autolog()

    enable.__name__ = f"enable_{framework}_autolog"
    enable.__doc__ = f"Patch the {framework} client classes so every call is recorded; returns a handle with disable()."
    return enable


init_pytorch_lightning = _shortcut("pytorch_lightning")
init_keras = _shortcut("keras")
init_transformers = _shortcut("transformers")
init_ultralytics = _shortcut("ultralytics")
init_accelerate = _shortcut("accelerate")
init_optuna = _shortcut("optuna")
init_ray_tune = _shortcut("ray_tune")
init_mmengine = _shortcut("mmengine")
enable_openai_autolog = _autolog_shortcut("openai")
enable_zhipuai_autolog = _autolog_shortcut("zhipuai")
enable_anthropic_autolog = _autolog_shortcut("anthropic")


# --- module-level helpers acting on every active integration --------------------------------
def active_integrations() -> List[Integration]:
    return list(_active)


def _each(action: Callable[[Integration], None], what: str) -> None:
    if not _active:
        from seetrain import SeeTrainWarning

        warnings.warn(f"seetrain.integration.{what}() with no active integration; call integration.init(...) first",
                      SeeTrainWarning, stacklevel=3)
    for it in list(_active):
        action(it)


def log(data: Dict[str, Any], step: Optional[int] = None) -> None:
    _each(lambda it: it.log(data, step), "log")


def log_scalar(name: str, value: float, step: Optional[int] = None) -> None:
    log({name: value}, step)


def log_image(name: str, image: Any, caption: Optional[str] = None, step: Optional[int] = None) -> None:
    from seetrain.media import Image

    log({name: image if isinstance(image, Image) else Image(image, caption=caption)}, step)


def log_audio(name: str, audio: Any, sample_rate: Optional[int] = None, caption: Optional[str] = None,
              step: Optional[int] = None) -> None:
    from seetrain.media import Audio

    log({name: audio if isinstance(audio, Audio) else Audio(audio, sample_rate=sample_rate, caption=caption)}, step)


def log_text(name: str, text: Any, step: Optional[int] = None) -> None:
    from seetrain.media import Text

    log({name: text if isinstance(text, Text) else Text(text)}, step)


def update_config(values: Dict[str, Any]) -> None:
    _each(lambda it: it.update_config(values), "update_config")


def finish(status: str = "success") -> None:
    for it in list(_active):
        it.finish(status)


@contextlib.contextmanager
def with_integration(framework: str, **kwargs: Any) -> Iterator[Integration]:
    """``with with_integration("keras", project=...) as it:`` finishes on exit, crashed on an exception."""
    it = init(framework, **kwargs)
    try:
        yield it
    except BaseException:
        it.finish("crashed")
        raise
    it.finish("success")
