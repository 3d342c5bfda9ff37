"""The APT model configs: ``configs/<group>/<name>.yaml`` (or a YAML path, or a mapping) and the model
they build. Used by the trainer's config (:mod:`.train_config`) and by plugins that build a second
model (the distillation teacher), so plugins never import the trainer's config."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from seetrain.config_overrides import group_options, load_yaml

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def _load_yaml(path: str):
    """A YAML mapping (``extends:`` merged in, as for ``seetrain train``); a problem raises ``ValueError``."""
    return load_yaml(path)


def _group_options(group: str) -> List[str]:
    return group_options(CONFIG_DIR, group)


def _resolve_group(group: str, value: Any):
    """A mapping for ``group``: a name in ``configs/<group>/``, a YAML path, or already a mapping."""
    from omegaconf import OmegaConf

    if value is None or OmegaConf.is_dict(value) or isinstance(value, dict):
        return OmegaConf.create(value or {})
    value = str(value)
    if value.endswith((".yaml", ".yml")) or os.sep in value:
        return _load_yaml(value)
    path = os.path.join(CONFIG_DIR, group, value + ".yaml")
    if not os.path.isfile(path):
        raise ValueError(f"unknown {group} config {value!r}; choose one of {_group_options(group)} "
                         f"or give a path to a YAML file")
    return _load_yaml(path)


def build_model(model_cfg: Dict[str, Any]):
    """An :class:`APTLanguageModel` or :class:`StandardLanguageModel` from the ``model`` section."""
    from .model import APTConfig, MODEL_TYPES

    spec = dict(model_cfg)
    kind = spec.pop("type", "apt")
    if kind not in MODEL_TYPES:
        raise ValueError(f"model.type={kind!r} is not known; use one of {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[kind](APTConfig.from_dict(spec))
