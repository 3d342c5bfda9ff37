"""Loading the trainer's config: the base file, config groups picked by name, a user YAML file,
``key=value`` overrides and environment interpolation (OmegaConf), then a strict check of every key
and value so a typo or a bad value fails before anything starts.

Order (later wins): ``configs/train.yaml`` < the user's YAML < ``experiment=<name>`` < command line.
"""

from __future__ import annotations

import os
from typing import Any, Dict, FrozenSet, List, Optional, Sequence

from seetrain.config_overrides import apply_overrides, load_yaml, split_args
from seetrain.config_overrides import group_options as _group_options

from .errors import TrainConfigError, did_you_mean

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
GROUPS = ("model", "data", "trainer", "logger", "experiment", "hparams_search")
DEFAULT_CHOICE = {"trainer": "default", "logger": "seetrain"}  # a mapping for these merges over this file
TOP_KEYS = ("task", "seed", "imports", "resume_overrides", "plugins", "optim", "scheduler", "output_dir",
            "language_model") + GROUPS
TASKS = ("classification", "regression", "language_model", "segmentation")
CHOICES = {
    "optim.name": ("adamw", "adam", "sgd"),
    "scheduler.name": ("none", "cosine", "step", "onecycle"),
    "task": TASKS,
    "trainer.precision": ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64"),
}
MINIMUM = {"trainer.max_epochs": 1, "trainer.max_steps": -1, "trainer.accumulate_grad_batches": 1,
           "trainer.num_nodes": 1, "trainer.log_every_n_steps": 1, "trainer.check_val_every_n_epoch": 1,
           "trainer.checkpoint.save_top_k": -1, "trainer.early_stopping.patience": 1, "trainer.num_threads": 1,
           "optim.lr": 0.0, "optim.weight_decay": 0.0, "scheduler.warmup_epochs": 0.0, "scheduler.warmup_steps": 0,
           "scheduler.step_size": 1, "language_model.sample.max_new_tokens": 0, "language_model.sample.top_k": 1}
AUTO_OK = {"trainer.num_threads"}
ANY_TYPE = {"trainer.devices", "trainer.val_check_interval", "trainer.limit_train_batches",
            "trainer.limit_val_batches", "trainer.gradient_clip_val", "trainer.resume", "trainer.checkpoint.dirpath",
            "logger.experiment_name", "logger.description", "logger.group", "logger.logdir", "logger.tags", "logger.mode",
            "optim.betas", "trainer.num_threads", "trainer.strategy", "trainer.accelerator",
            "trainer.check_val_every_n_epoch", "language_model.sample.top_k"}


OPEN_PREFIXES = ("data.checksums.", "data.sources.", "plugins.")  # free-form mappings and lists (plugins: checked by the plugins)


def group_options(group: str) -> List[str]:
    return _group_options(CONFIG_DIR, group)


def _load_yaml(path: str, key: Optional[str] = None):
    """A YAML mapping (``extends:`` merged in); a problem raises :class:`TrainConfigError` naming ``key``."""
    return load_yaml(path, TrainConfigError, key)


# the keys every model / dataset config has: what a builder registered by the user's module (--import),
# which has no YAML file of its own, starts from
REGISTERED_DEFAULTS = {
    "model": {"num_classes": None, "pretrained": False, "pretrained_md5": None},
    "data": {"batch_size": 32, "num_workers": 0, "val_split": None, "subset": None, "image_size": None,
             "channels": None, "normalize": True, "augment": {}},
}


def _registered_only(group: str, name: str):
    """``{name: NAME, ...defaults}`` when ``NAME`` is a registered model / dataset without a YAML file."""
    from omegaconf import OmegaConf

    if group not in REGISTERED_DEFAULTS:
        return None
    from .registry import DATASETS, MODELS

    registry = MODELS if group == "model" else DATASETS
    if name not in registry.names():
        return None
    from_data = ("in_channels", "image_size", "in_features")  # the data decides these (tasks/classification.py)
    own = {k: v for k, v in registry.defaults(name).items() if k not in from_data}
    return OmegaConf.create({"name": name, **REGISTERED_DEFAULTS[group], **own})


def load_group(group: str, value: Any):
    """The mapping for ``group``: a name in ``configs/<group>/``, a path to a YAML file, or a mapping
    (with ``name``: merged over that group file)."""
    from omegaconf import OmegaConf

    if value is None:
        return None
    if OmegaConf.is_dict(value) or isinstance(value, dict):
        value = OmegaConf.create(value)
        name = value.get("name") if group in ("model", "data") else DEFAULT_CHOICE.get(group)
        if name and os.path.isfile(os.path.join(CONFIG_DIR, group, f"{name}.yaml")):
            return OmegaConf.merge(load_group(group, name), value)
        return value
    value = str(value)
    if value.endswith((".yaml", ".yml")) or os.sep in value:
        cfg = _load_yaml(value, key=group)
    else:
        path = os.path.join(CONFIG_DIR, group, value + ".yaml")
        if not os.path.isfile(path):
            registered = _registered_only(group, value)
            if registered is not None:
                return registered
            options = group_options(group)
            yours = (f"; your own {group}: --import MODULE that registers it, or {group}._target_=package.Class in "
                     "a YAML file" if group in REGISTERED_DEFAULTS else "")
            raise TrainConfigError(f"unknown {group} config {value!r}{did_you_mean(value, options)} "
                                   f"(known: {', '.join(options)}; or give a path to a YAML file{yours})", key=group)
        cfg = _load_yaml(path, key=group)
    base = cfg.pop("defaults_from", None) if "defaults_from" in cfg else None
    return OmegaConf.merge(load_group(group, base), cfg) if base else cfg


def compose(argv: Sequence[str] = (), base: Any = None):
    """The config (OmegaConf ``DictConfig``, unresolved) from ``argv``; ``base`` replaces the user file
    (``--from-run``: a recorded config)."""
    from omegaconf import OmegaConf

    user_path, cli_groups, overrides = split_args(argv, GROUPS, example="trainer.max_epochs=3",
                                                  error=TrainConfigError)
    cfg = _load_yaml(os.path.join(CONFIG_DIR, "train.yaml"))
    layers = []
    if base is not None:
        layers.append(OmegaConf.create(base))
    if user_path:
        layers.append(_load_yaml(user_path))
    choices = {g: cfg.get(g) for g in GROUPS}
    for layer in layers:
        for g in GROUPS:
            if g in layer and not OmegaConf.is_dict(layer[g]):
                choices[g] = layer[g]
    exp = None
    exp_name = cli_groups.get("experiment", choices["experiment"])
    if exp_name not in (None, "null", "none", ""):
        exp = load_group("experiment", exp_name)
        choices["experiment"] = exp_name
        for g in GROUPS:
            if g in exp and g != "experiment" and not OmegaConf.is_dict(exp[g]):
                choices[g] = exp[g]
    for g, v in cli_groups.items():
        choices[g] = None if v in ("null", "none", "") and g in ("experiment", "hparams_search") else v
    for g in GROUPS:
        if g == "experiment":
            cfg[g] = choices[g]
        else:
            cfg[g] = load_group(g, choices[g])
    for layer in layers + ([exp] if exp is not None else []):
        for k in list(layer.keys()):
            v = layer[k]
            if k in GROUPS and not OmegaConf.is_dict(v):
                continue
            if k in ("model", "data") and OmegaConf.is_dict(v) and (v.get("name") or v.get("_target_")) \
                    and cfg[k] is not None and k not in cli_groups \
                    and (v.get("name") != cfg[k].get("name") or v.get("_target_") != cfg[k].get("_target_")):
                cfg[k] = load_group(k, v)  # another model/dataset (or your own class): start from its own file
            elif k in cli_groups:
                continue  # the command line picked this group; a file's mapping does not add to it
            else:
                cfg[k] = OmegaConf.merge(cfg[k], v) if OmegaConf.is_dict(cfg.get(k)) and OmegaConf.is_dict(v) else v
    return apply_overrides(cfg, overrides, OPEN_PREFIXES, error=TrainConfigError)


def resolve(cfg) -> Dict[str, Any]:
    """A plain dict with every interpolation resolved (``${oc.env:NAME,default}``)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise TrainConfigError(f"cannot resolve {key or 'the config'}: {exc.msg if hasattr(exc, 'msg') else exc}", key=key) from None


def load_config(argv: Sequence[str] = (), base: Any = None) -> Dict[str, Any]:
    """The checked, resolved config for ``seetrain train ARGV`` (raises :class:`TrainConfigError`)."""
    cfg = compose(argv, base)
    config = resolve(cfg)
    check_config(config, interpolated(cfg))
    return config


def interpolated(cfg) -> FrozenSet[str]:
    """The dotted keys whose whole value is one interpolation (``${oc.env:BS,32}``): their resolved
    strings are read as YAML scalars where a number is expected, as a value written in YAML would be."""
    from omegaconf import OmegaConf

    out = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        elif isinstance(node, str) and node.startswith("${") and node.endswith("}") and node.count("${") == 1:
            out.add(prefix[:-1])

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return frozenset(out)


# --- checking -------------------------------------------------------------------------------------
def _reference() -> Dict[str, Any]:
    from omegaconf import OmegaConf

    ref = OmegaConf.to_container(_load_yaml(os.path.join(CONFIG_DIR, "train.yaml")), resolve=False)
    for g, name in DEFAULT_CHOICE.items():
        ref[g] = OmegaConf.to_container(load_group(g, name), resolve=False)
    return ref


def _coerce(value: Any, default: Any) -> Any:
    """A string where a number or bool is expected (an environment variable) read as YAML: "0.25" -> 0.25."""
    if isinstance(value, str) and isinstance(default, (bool, int, float)) and not isinstance(default, str):
        import yaml

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, (bool, int, float)):
            return parsed
    return value


def _check_value(key: str, value: Any, default: Any) -> Any:
    """``value`` checked (and a numeric string from the environment converted); raises naming ``key``."""
    if key in AUTO_OK and value == "auto":
        return value
    value = _coerce(value, default if default is not None else MINIMUM.get(key))
    if key in CHOICES and value not in CHOICES[key]:
        raise TrainConfigError(f"{key}={value!r} is not allowed{did_you_mean(value, CHOICES[key])} "
                               f"(choose one of {', '.join(map(str, CHOICES[key]))})", key=key)
    if key in ANY_TYPE and not (key in MINIMUM and value is not None):
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TrainConfigError(f"{key} must be true or false, got {value!r}", key=key)
    elif isinstance(default, int) or key in MINIMUM and isinstance(MINIMUM[key], int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TrainConfigError(f"{key} must be a whole number, got {value!r}", key=key)
    elif isinstance(default, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TrainConfigError(f"{key} must be a number, got {value!r}", key=key)
    elif isinstance(default, str) and key not in CHOICES and not isinstance(value, str):
        raise TrainConfigError(f"{key} must be a string, got {value!r}", key=key)
    if key in MINIMUM and isinstance(value, (int, float)) and value < MINIMUM[key]:
        raise TrainConfigError(f"{key} must be >= {MINIMUM[key]}, got {value!r}", key=key)
    return value


def _check_section(section: Dict[str, Any], ref: Dict[str, Any], prefix: str) -> None:
    for k, v in section.items():
        key = f"{prefix}{k}"
        if k not in ref:
            raise TrainConfigError(f"unknown config key {key!r}{did_you_mean(key, [prefix + r for r in ref])} "
                                   f"(known under {prefix.rstrip('.')}: {', '.join(sorted(ref))})", key=key)
        if isinstance(ref[k], dict):
            if not isinstance(v, dict):
                raise TrainConfigError(f"{key} must be a mapping, got {v!r}", key=key)
            _check_section(v, ref[k], key + ".")
        else:
            section[k] = _check_value(key, v, ref[k])


def _coerce_group(group: str, section: Dict[str, Any], from_env: FrozenSet[str]) -> None:
    """Numeric strings in ``model``/``data`` (an environment variable) read as numbers: where the group's
    own file has a number there, or the value was one whole interpolation and is no string by default."""
    from omegaconf import OmegaConf

    name = section.get("name")
    path = os.path.join(CONFIG_DIR, group, f"{name}.yaml")
    ref = OmegaConf.to_container(load_group(group, name), resolve=False) if name and os.path.isfile(path) else {}

    def walk(node: Dict[str, Any], ref_node: Any, prefix: str) -> None:
        for k, v in node.items():
            r = ref_node.get(k) if isinstance(ref_node, dict) else None
            if isinstance(v, dict):
                walk(v, r, f"{prefix}{k}.")
            elif isinstance(v, str):
                if isinstance(r, (bool, int, float)):
                    node[k] = _coerce(v, r)
                elif r is None and f"{prefix}{k}" in from_env:
                    node[k] = _coerce(v, 0.0)

    walk(section, ref, f"{group}.")


def check_config(config: Dict[str, Any], from_env: FrozenSet[str] = frozenset()) -> None:
    """Every key known (with "did you mean"), every value of the right type and range; ``from_env``: the
    keys whose value was one interpolation (:func:`interpolated`)."""
    ref = _reference()
    for k in config:
        if k not in TOP_KEYS:
            raise TrainConfigError(f"unknown config key {k!r}{did_you_mean(k, TOP_KEYS)} (top-level keys: "
                                   f"{', '.join(TOP_KEYS)})", key=k)
    for k in ("task", "seed"):
        config[k] = _check_value(k, config.get(k), ref[k])
    if not isinstance(config.setdefault("imports", []), list):
        raise TrainConfigError(f"imports must be a list of modules (--import MODULE adds one), got {config['imports']!r}",
                               key="imports")
    plugins = config.setdefault("plugins", {})
    if not isinstance(plugins, dict):
        raise TrainConfigError(f"plugins must be a mapping of APT plugin names to options (plugins.NAME.enabled=true), "
                               f"got {plugins!r}", key="plugins")
    from .apt_plugins import enabled

    if enabled(plugins) and config["task"] != "language_model":
        raise TrainConfigError(f"plugins.{enabled(plugins)[0]}: the APT plugins join the language-model task "
                               f"(experiment=apt_lm), not task={config['task']}", key="plugins")
    resumes = config.setdefault("resume_overrides", [])
    if not isinstance(resumes, list) or not all(isinstance(r, dict) and isinstance(r.get("overrides"), list)
                                                for r in resumes):
        raise TrainConfigError("resume_overrides is written by resume (a list of {checkpoint, overrides}); got "
                               f"{resumes!r}: leave it out of your config", key="resume_overrides")
    out_dir = config.setdefault("output_dir", None)
    if out_dir is not None and not isinstance(out_dir, str):
        raise TrainConfigError(f"output_dir must be a folder path, got {out_dir!r}", key="output_dir")
    config.setdefault("language_model", ref["language_model"])
    for k in ("optim", "scheduler", "trainer", "logger", "language_model"):
        if config.get(k) is None:
            raise TrainConfigError(f"{k} is missing", key=k)
        if not isinstance(config[k], dict):
            raise TrainConfigError(f"{k} must be a mapping, got {config[k]!r}", key=k)
        _check_section(config[k], ref[k], k + ".")
    for k in ("model", "data"):
        if isinstance(config.get(k), dict) and config[k].get("_target_") and not config[k].get("name"):
            config[k]["name"] = str(config[k]["_target_"]).rpartition(".")[2]  # a user class: named after it
        if not isinstance(config.get(k), dict) or not config[k].get("name"):
            raise TrainConfigError(f"{k} must name a {k} (e.g. {k}={'small_cnn' if k == 'model' else 'digits'})", key=k)
        _coerce_group(k, config[k], from_env)
