"""The APT trainer's configuration: load (default + YAML + ``group=name`` + ``a.b=value``) and validate.

Validation runs before anything is created (no run directory is left behind by a config error):
unknown keys and plugin names get a "did you mean", values of the wrong type name their key, and
every plugin is built once so that it checks its own options.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from seetrain.config_overrides import all_keys, apply_overrides, parse_value, split_args

from .model_config import CONFIG_DIR, _group_options, _load_yaml, _resolve_group, build_model  # noqa: F401

GROUPS = ("model",)
OPEN_SECTIONS = ("plugins.", "model.")  # keys under these are checked by the plugin / APTConfig instead


# --- configuration -----------------------------------------------------------------------------
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
