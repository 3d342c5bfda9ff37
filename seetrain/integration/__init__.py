"""Framework integrations; the unified API lives in :mod:`seetrain.integration.main`."""

from .main import (REGISTRY, Integration, active_integrations, check_framework, enable_anthropic_autolog,
                   enable_openai_autolog, enable_zhipuai_autolog, finish, init, init_accelerate, init_keras,
                   init_mmengine, init_optuna, init_pytorch_lightning, init_transformers, init_ultralytics,
                   log, log_audio, log_image, log_scalar, log_text, update_config, with_integration)

__all__ = [
    "REGISTRY", "Integration", "active_integrations", "check_framework", "init", "log", "log_scalar", "log_image",
    "log_audio", "log_text", "update_config", "finish", "with_integration", "init_pytorch_lightning",
    "init_keras", "init_transformers", "init_ultralytics", "init_accelerate", "init_optuna", "init_mmengine",
    "enable_openai_autolog", "enable_zhipuai_autolog", "enable_anthropic_autolog",
]
