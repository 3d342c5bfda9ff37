"""Config files and command-line config words: YAML files that may ``extends:`` others, and
``[config.yaml] group=name a.b=value +new.key=value`` over an OmegaConf config. Shared by ``seetrain
train`` (:mod:`seetrain.train.config`) and the APT trainer (:mod:`seetrain.apt.train_config`,
:mod:`seetrain.apt.model_config`); OmegaConf and PyYAML are imported only when used.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from .errors import did_you_mean

ConfigError = Callable[[str, Optional[str]], Exception]  # (message, key at fault) -> the error to raise


def _value_error(message: str, key: Optional[str] = None) -> Exception:
    return ValueError(message)


def load_yaml(path: str, error: ConfigError = _value_error, key: Optional[str] = None, chain: Tuple[str, ...] = ()):
    """The YAML mapping in ``path`` (an OmegaConf ``DictConfig``); ``extends: FILE`` (or a list of files,
    relative to this one) merges those files first, in order, then this file over them. A missing file,
    invalid YAML, a non-mapping or an ``extends`` cycle raises ``error(message, key)``."""
    import os

    from omegaconf import OmegaConf

    if not os.path.isfile(path):
        if chain:
            raise error(f"{chain[-1]}: extends: {path} does not exist", key)
        raise error(f"config file {path!r} does not exist", key)
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:  # a YAML syntax error: say where
        raise error(f"{path} is not valid YAML: {exc}", key) from None
    if not OmegaConf.is_dict(cfg):
        raise error(f"{path} must hold a YAML mapping at the top level", key)
    if "extends" not in cfg:
        return cfg
    parents = cfg.pop("extends")
    parents = [parents] if isinstance(parents, str) else list(parents or [])
    here = os.path.abspath(path)
    out = OmegaConf.create({})
    for parent in parents:
        full = os.path.normpath(os.path.join(os.path.dirname(here), os.path.expanduser(str(parent))))
        if full in chain + (here,):
            names = " -> ".join(os.path.basename(p) for p in chain + (here, full))
            raise error(f"{here}: extends: {full} extends itself ({names})", key)
        out = OmegaConf.merge(out, load_yaml(full, error, key, chain + (here,)))
    return OmegaConf.merge(out, cfg)


def group_options(config_dir: str, group: str) -> List[str]:
    """The names of the YAML files in ``config_dir/group`` (a config group's choices), sorted."""
    import os

    folder = os.path.join(config_dir, group)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


class Words(NamedTuple):
    """The command-line words, sorted: the user's YAML file, group choices, ``key=value`` overrides."""

    user_file: Optional[str]
    groups: Dict[str, str]
    overrides: List[Tuple[str, str]]


def split_args(argv: Sequence[str], groups: Iterable[str], example: str,
               error: ConfigError = _value_error) -> Words:
    """Sort ``argv``: an optional YAML file first, then ``group=name`` (for ``groups``) and
    ``key=value`` overrides; ``example`` shows an override in the messages (``trainer.max_epochs=3``)."""
    argv, groups = list(argv), set(groups)
    user = None
    if argv and "=" not in argv[0]:
        user = argv.pop(0)
        if not user.endswith((".yaml", ".yml")):
            raise error(f"unexpected argument {user!r}: give a config file (*.yaml) first, then key=value "
                        f"overrides such as {example}", None)
    chosen: Dict[str, str] = {}
    overrides: List[Tuple[str, str]] = []
    for item in argv:
        if "=" not in item:
            raise error(f"override {item!r} is not key=value (e.g. {example})", None)
        key, value = item.split("=", 1)
        key = key.strip()
        if key in groups:
            chosen[key] = value
        else:
            overrides.append((key, value))
    return Words(user, chosen, overrides)


def parse_value(text: str) -> Any:
    """An override's value as YAML reads it (``3`` -> 3, ``[1,2]`` -> a list); an interpolation
    (``${oc.env:X}``) or text YAML cannot read stays a string."""
    import yaml

    if text.strip().startswith("${"):
        return text  # resolved later by OmegaConf
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def all_keys(cfg: Any, prefix: str = "") -> List[str]:
    """Every dotted key of an OmegaConf mapping (interpolations left unresolved)."""
    from omegaconf import OmegaConf

    out = []
    for k in cfg.keys():
        key = f"{prefix}{k}"
        out.append(key)
        v = cfg._get_node(k) if hasattr(cfg, "_get_node") else cfg[k]
        if OmegaConf.is_dict(v):
            out.extend(all_keys(v, key + "."))
    return out


def apply_overrides(cfg: Any, overrides: Sequence[Tuple[str, str]], open_prefixes: Tuple[str, ...] = (),
                    error: ConfigError = _value_error) -> Any:
    """Set each ``key=value`` on ``cfg``. A key the config does not have is refused with a "did you
    mean" unless it starts with ``+`` or with one of ``open_prefixes`` (free-form sections)."""
    from omegaconf import OmegaConf

    known = set(all_keys(cfg))
    for key, value in overrides:
        add = key.startswith("+")
        key = key.lstrip("+")
        if not add and key not in known and not key.startswith(open_prefixes):
            raise error(f"unknown config key {key!r}{did_you_mean(key, known)} (prefix it with + to add a key "
                        "the config does not have)", key)
        OmegaConf.update(cfg, key, parse_value(value), merge=True, force_add=True)
    return cfg
