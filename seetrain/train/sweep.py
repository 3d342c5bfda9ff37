"""``seetrain sweep hparams_search=NAME``: Optuna search over any config keys, each trial one SeeTrain
run (one ``logger.group`` per study), pruning on the validation metric, the best config printed and
saved. ``--storage sqlite:///study.db`` (or PostgreSQL) lets several workers share one study."""

from __future__ import annotations

import copy
import os
from typing import Any, Dict, List, Optional, Sequence

from seetrain.config_overrides import all_keys

from .config import check_config, compose, resolve
from .errors import TrainConfigError, did_you_mean

SEARCH_KEYS = ("study_name", "metric", "direction", "n_trials", "timeout", "sampler", "pruner", "space",
               "overrides", "output_dir")
DIST_TYPES = ("float", "int", "categorical")


def _set(cfg: Dict[str, Any], key: str, value: Any) -> None:
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def _flatten(tree: Dict[str, Any], leaf, prefix: str = "") -> Dict[str, Any]:
    """``{"trainer": {"max_epochs": 2}}`` -> ``{"trainer.max_epochs": 2}`` (a command line nests dotted keys)."""
    out: Dict[str, Any] = {}
    for k, v in (tree or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not leaf(v):
            out.update(_flatten(v, leaf, key + "."))
        else:
            out[key] = v
    return out


def _check_search(hs: Dict[str, Any], config: Dict[str, Any]) -> None:
    from omegaconf import OmegaConf

    for k in hs:
        if k not in SEARCH_KEYS:
            raise TrainConfigError(f"unknown key hparams_search.{k}{did_you_mean(k, SEARCH_KEYS)}", key=f"hparams_search.{k}")
    if hs.get("direction") not in ("maximize", "minimize"):
        raise TrainConfigError(f"hparams_search.direction must be maximize or minimize, got {hs.get('direction')!r}",
                               key="hparams_search.direction")
    space = hs.get("space") or {}
    if not isinstance(space, dict) or not space:
        raise TrainConfigError("hparams_search.space is empty: give config keys and their ranges, e.g. "
                               "optim.lr: {type: float, low: 1e-4, high: 1e-1, log: true}", key="hparams_search.space")
    known = set(all_keys(OmegaConf.create(config)))
    for key, spec in list(space.items()) + [(k, {"type": "categorical", "choices": [v]}) for k, v in (hs.get("overrides") or {}).items()]:
        where = f"hparams_search.space.{key}"
        if key not in known:
            raise TrainConfigError(f"{where}: the config has no key {key!r}{did_you_mean(key, known)}", key=where)
        if not isinstance(spec, dict) or spec.get("type") not in DIST_TYPES:
            raise TrainConfigError(f"{where} needs type: float, int or categorical", key=where)
        if spec["type"] == "categorical" and not spec.get("choices"):
            raise TrainConfigError(f"{where}: categorical needs a non-empty choices list", key=where)
        if spec["type"] != "categorical" and not (isinstance(spec.get("low"), (int, float)) and
                                                  isinstance(spec.get("high"), (int, float)) and spec["low"] < spec["high"]):
            raise TrainConfigError(f"{where} needs numbers low < high, got {spec.get('low')!r}, {spec.get('high')!r}", key=where)


def command_line_keys(argv: Sequence[str]) -> List[str]:
    """The config keys ``argv`` sets (``key=value`` overrides; the search's own keys left out)."""
    from seetrain.config_overrides import split_args

    from .config import GROUPS

    _, groups, overrides = split_args(argv, GROUPS, example="trainer.max_epochs=3", error=TrainConfigError)
    keys = [k.lstrip("+~") for k, _ in overrides] + [g for g in groups if g != "hparams_search"]
    return [k for k in keys if not k.startswith("hparams_search")]


def _given(key: str, given: Sequence[str]) -> bool:
    return any(key == g or key.startswith(g + ".") for g in given)


def _get(cfg: Dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for p in key.split("."):
        node = node.get(p) if isinstance(node, dict) else None
    return node


def precedence_lines(applied: Dict[str, Any], beaten: Dict[str, Any], config: Dict[str, Any]) -> List[str]:
    """What ``seetrain sweep`` prints at the start: the search's overrides it applies to every trial, and
    those the command line overrode (the command line always wins)."""
    out = []
    if applied:
        out.append("search overrides for every trial: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
    if beaten:
        out.append("the command line wins over the search's overrides: " + ", ".join(
            f"{k}={_get(config, k)} (the search says {v})" for k, v in beaten.items()))
    return out


def _suggest(trial, key: str, spec: Dict[str, Any]) -> Any:
    if spec["type"] == "float":
        return trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                                   step=spec.get("step"))
    if spec["type"] == "int":
        return trial.suggest_int(key, int(spec["low"]), int(spec["high"]), step=int(spec.get("step") or 1),
                                 log=bool(spec.get("log", False)))
    return trial.suggest_categorical(key, list(spec["choices"]))


def _sampler_pruner(hs: Dict[str, Any]):
    import optuna

    s = dict(hs.get("sampler") or {"name": "tpe"})
    seed = s.get("seed")
    sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed),
               "random": lambda: optuna.samplers.RandomSampler(seed=seed)}.get(s.get("name", "tpe"))
    if sampler is None:
        raise TrainConfigError(f"hparams_search.sampler.name must be tpe or random, got {s.get('name')!r}",
                               key="hparams_search.sampler.name")
    p = dict(hs.get("pruner") or {"name": "none"})
    name = p.get("name", "none")
    if name == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=int(p.get("n_startup_trials", 2)),
                                             n_warmup_steps=int(p.get("n_warmup_steps", 1)))
    elif name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner()
    elif name == "threshold":
        lower, upper = p.get("lower"), p.get("upper")
        if lower is None and upper is None:
            raise TrainConfigError("hparams_search.pruner.name=threshold needs lower and/or upper (prune a trial whose "
                                   "metric falls below lower or rises above upper)", key="hparams_search.pruner")
        pruner = optuna.pruners.ThresholdPruner(lower=None if lower is None else float(lower),
                                                upper=None if upper is None else float(upper),
                                                n_warmup_steps=int(p.get("n_warmup_steps", 0)))
    elif name == "none":
        pruner = optuna.pruners.NopPruner()
    else:
        raise TrainConfigError(f"hparams_search.pruner.name must be none, median, hyperband or threshold, got {name!r}",
                               key="hparams_search.pruner.name")
    return sampler(), pruner


def storage_for(url: Optional[str]):
    """Optuna storage for ``url`` (None: in memory). SQLite waits for locks instead of failing at once."""
    if not url:
        return None
    import optuna

    from tenacity import retry, stop_after_attempt, wait_random

    if url.startswith(("postgresql://", "postgres://")):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            url = "postgresql+psycopg://" + url.split("://", 1)[1]  # SQLAlchemy's default driver is psycopg2
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    # workers that start together race to create the schema; the loser finds it made on the next try
    connect = retry(stop=stop_after_attempt(5), wait=wait_random(0.2, 1.5), reraise=True)(optuna.storages.RDBStorage)
    try:
        return connect(url, engine_kwargs=kwargs)
    except Exception as exc:
        raise TrainConfigError(f"--storage {url}: cannot open the study database ({type(exc).__name__}: {exc})") from None


def run_sweep(argv: Sequence[str], storage: Optional[str] = None, study_name: Optional[str] = None,
              n_trials: Optional[int] = None) -> Dict[str, Any]:
    """Run this worker's trials; return the study's best value, params and config (also saved as YAML)."""
    import optuna
    from seetrain.lazy import require

    require("optuna", "optuna", "seetrain sweep")
    config = resolve(compose(argv))
    hs = config.pop("hparams_search", None)
    if not isinstance(hs, dict):
        raise TrainConfigError("seetrain sweep needs hparams_search=NAME (a file in configs/hparams_search/ or a YAML path)",
                               key="hparams_search")
    config["hparams_search"] = None
    config["experiment"] = None  # already applied; the saved best config must not apply it again
    hs["space"] = _flatten(hs.get("space") or {}, lambda v: "type" in v)
    hs["overrides"] = _flatten(hs.get("overrides") or {}, lambda v: False)
    _check_search(hs, config)
    given = command_line_keys(argv)
    beaten = {k: v for k, v in hs["overrides"].items() if _given(k, given)}
    applied = {k: v for k, v in hs["overrides"].items() if k not in beaten}
    for k, v in applied.items():
        _set(config, k, v)
    for line in precedence_lines(applied, beaten, config):
        print(line, flush=True)
    check_config(config)
    from .runner import plan

    name = study_name or hs.get("study_name") or "sweep"
    metric = hs.get("metric")
    sampler, pruner = _sampler_pruner(hs)
    study = optuna.create_study(study_name=name, storage=storage_for(storage), direction=hs["direction"],
                                sampler=sampler, pruner=pruner, load_if_exists=True)

    def objective(trial) -> float:
        cfg = copy.deepcopy(config)
        for key, spec in hs["space"].items():
            _set(cfg, key, _suggest(trial, key, spec))
        cfg["logger"]["group"] = name
        cfg["logger"]["experiment_name"] = f"{name}-trial{trial.number}"
        check_config(cfg)
        trial.set_user_attr("config", cfg)
        backend, job, model = plan(cfg)
        target = metric or job.metric
        best: List[float] = []  # the objective: the best validation value of `target` (by direction)

        def report(epoch: int, step: int, metrics: Dict[str, float]) -> Optional[str]:
            if target in metrics:
                value = float(metrics[target])
                if not best or (value > best[0] if hs["direction"] == "maximize" else value < best[0]):
                    best[:] = [value]
                trial.report(value, epoch)
                if trial.should_prune():
                    return "pruned"
            return None

        job.hooks.append(report)
        result = backend.fit(job, model)
        if result.run_dir:
            trial.set_user_attr("run_dir", result.run_dir)
        if result.stop_reason == "pruned":
            raise optuna.TrialPruned()
        value = best[0] if best else None
        if value is None:
            raise TrainConfigError(f"hparams_search.metric={target!r} was never reported; the task reports "
                                   f"{', '.join(sorted(result.last)) or 'nothing'}", key="hparams_search.metric")
        return float(value)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = int(n_trials if n_trials is not None else hs.get("n_trials", 10))
    study.optimize(objective, n_trials=trials, timeout=hs.get("timeout"), catch=())
    return _report(study, name, hs)


def _report(study, name: str, hs: Dict[str, Any]) -> Dict[str, Any]:
    import yaml
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    out: Dict[str, Any] = {"study": name, "trials": len(study.trials), "complete": len(done),
                           "pruned": sum(t.state == TrialState.PRUNED for t in study.trials), "best_value": None}
    if not done:
        print(f"study {name}: no complete trial yet ({out['trials']} trials)")
        return out
    best = study.best_trial
    folder = os.path.abspath(hs.get("output_dir") or os.path.join("seetrain_sweeps", name))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "best_config.yaml")
    best_cfg = copy.deepcopy(best.user_attrs.get("config") or {})
    if isinstance(best_cfg.get("trainer"), dict):  # trained again, the best config keeps its checkpoints
        best_cfg["trainer"].setdefault("checkpoint", {})["enabled"] = True
    if isinstance(best_cfg.get("logger"), dict):    # and is a run of its own name, not trial N's
        best_cfg["logger"]["experiment_name"] = f"{name}-best"
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# best of study {name!r}: trial {best.number}, value {best.value}\n")
        f.write(f"# train it again: seetrain train {path}\n")
        yaml.safe_dump(best_cfg, f, sort_keys=False)
    out.update(best_value=best.value, best_params=best.params, best_trial=best.number, best_config=best_cfg,
               best_config_path=path, best_run_dir=best.user_attrs.get("run_dir"))
    print(f"\nstudy {name}: {out['trials']} trials ({out['complete']} complete, {out['pruned']} pruned)")
    print(f"best trial {best.number}: value {best.value:.4f}, params {best.params}")
    print(f"best run dir: {out['best_run_dir'] or '(tracking disabled)'}")
    print(f"best config saved to {path}:\n" + yaml.safe_dump(best_cfg, sort_keys=False))
    return out
