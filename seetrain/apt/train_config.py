"""The APT trainer's configuration: load (default + YAML + ``group=name`` + ``a.b=value``) and validate.

Validation runs before anything is created (no run directory is left behind by a config error):
unknown keys and plugin names get a "did you mean", values of the wrong type name their key, and
every plugin is built once so that it checks its own options.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

from seetrain.config_overrides import all_keys, apply_overrides, parse_value, split_args

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
GROUPS = ("model",)
OPEN_SECTIONS = ("plugins.", "model.")  # keys under these are checked by the plugin / APTConfig instead


# --- configuration -----------------------------------------------------------------------------
def _load_yaml(path: str):
    from omegaconf import OmegaConf

    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, dict) and not OmegaConf.is_dict(cfg):
        raise ValueError(f"{path} must hold a YAML mapping at the top level")
    return cfg


def _group_options(group: str) -> List[str]:
    folder = os.path.join(CONFIG_DIR, group)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


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


def load_config(argv: Optional[Sequence[str]] = None):
    """The training config (an OmegaConf ``DictConfig``) from the default, a YAML file and overrides."""
    from omegaconf import OmegaConf

    words = split_args(argv or [], GROUPS, example="trainer.max_steps=300")
    cfg = _load_yaml(os.path.join(CONFIG_DIR, "default.yaml"))
    if words.user_file:
        cfg = OmegaConf.merge(cfg, _load_yaml(words.user_file))
    for key, value in words.groups.items():
        cfg[key] = parse_value(value) if value.strip().startswith("{") else value
    for group in GROUPS:
        cfg[group] = _resolve_group(group, cfg.get(group))
    return apply_overrides(cfg, words.overrides, OPEN_SECTIONS)


def build_model(model_cfg: Dict[str, Any]):
    """An :class:`APTLanguageModel` or :class:`StandardLanguageModel` from the ``model`` section."""
    from .model import APTConfig, MODEL_TYPES

    spec = dict(model_cfg)
    kind = spec.pop("type", "apt")
    if kind not in MODEL_TYPES:
        raise ValueError(f"model.type={kind!r} is not known; use one of {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[kind](APTConfig.from_dict(spec))


def validate_config(cfg) -> Any:
    """Check the whole config before anything heavy starts; return the :class:`PluginManager` it describes.

    Raises ``ValueError`` naming the key: value types against the default config, the model section,
    sizes, plugin names and options (each enabled plugin is built, so it checks its own values).
    """
    from omegaconf import OmegaConf

    from .model import APTConfig, MODEL_TYPES
    from .plugins.base import PluginManager

    _check_types(cfg)
    spec = OmegaConf.to_container(cfg.model, resolve=True)
    if not isinstance(spec, dict):
        raise ValueError(f"model must be a mapping of APTConfig fields, got {spec!r}")
    kind = spec.pop("type", "apt")
    if kind not in MODEL_TYPES:
        raise ValueError(f"model.type={kind!r} is not known; use one of {sorted(MODEL_TYPES)}")
    mcfg = APTConfig.from_dict(spec)
    if int(cfg.data.seq_len) > mcfg.max_seq_len:
        raise ValueError(f"data.seq_len={cfg.data.seq_len} exceeds model.max_seq_len={mcfg.max_seq_len}")
    if int(cfg.trainer.max_steps) < 1:
        raise ValueError(f"trainer.max_steps must be >= 1, got {cfg.trainer.max_steps}")
    plugins = OmegaConf.to_container(cfg.plugins, resolve=True) if "plugins" in cfg else None
    if plugins is not None and not isinstance(plugins, dict):
        raise ValueError(f"plugins must be a mapping of plugin names to options, got {plugins!r}")
    return PluginManager.from_config(plugins)


# keys whose value may be null, and integer keys that also take a float (Lightning fractions)
_NULLABLE = {"data.max_chars", "trainer.num_threads", "trainer.gradient_clip_val", "seed"}
_INT_OR_FLOAT = {"trainer.limit_val_batches", "trainer.gradient_clip_val"}


def _check_types(cfg) -> None:
    """Every value of the default config's typed keys (outside ``model`` and ``plugins``) has that type."""
    from omegaconf import OmegaConf

    default = _load_yaml(os.path.join(CONFIG_DIR, "default.yaml"))
    for key in all_keys(default):
        if key.startswith(OPEN_SECTIONS) or key in GROUPS:
            continue
        want = OmegaConf.select(default, key)
        if OmegaConf.is_config(want) or want is None or isinstance(want, str):
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            if key in _NULLABLE:
                continue
            raise ValueError(f"{key} must not be empty (default: {want!r})")
        if isinstance(want, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(want, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
            ok = ok or (key in _INT_OR_FLOAT and isinstance(value, float))
            kind = "an integer" + (" or a float" if key in _INT_OR_FLOAT else "")
        elif isinstance(want, float):
            ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        else:
            continue
        if not ok:
            raise ValueError(f"{key} must be {kind}, got {value!r} (e.g. {key}={want})")
