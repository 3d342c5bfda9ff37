"""Framework integrations; the unified API lives in :mod:`seetrain.integration.main`.

Loaded lazily: ``import seetrain.integration`` (which ``import seetrain`` does for the native
registration hooks, :mod:`seetrain.integration.native`) costs nothing until a name is used.
"""

from typing import Any

__all__ = [
    "REGISTRY", "Integration", "active_integrations", "check_framework", "init", "log", "log_scalar", "log_image",
    "log_audio", "log_text", "update_config", "finish", "with_integration", "init_pytorch_lightning",
    "init_keras", "init_transformers", "init_ultralytics", "init_accelerate", "init_optuna", "init_mmengine",
    "enable_openai_autolog", "enable_zhipuai_autolog", "enable_anthropic_autolog",
]


_SUBMODULES = frozenset({"main", "native", "model_artifacts", "callbacks", "trackers", "visbackends", "autolog",
                         "bridges"})


def __getattr__(name: str) -> Any:
    if not name.startswith("__") and name not in _SUBMODULES:
        import importlib

        main = importlib.import_module(f"{__name__}.main")
        if hasattr(main, name):
            value = getattr(main, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'seetrain.integration' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
