"""Ray Tune logger callback: one SeeTrain run per trial, grouped by experiment.

    from ray import tune
    from seetrain.integration.trackers.ray_tune import SeeTrainLoggerCallback

    tuner = tune.Tuner(trainable, param_space={"lr": tune.loguniform(1e-4, 1e-1)},
                       run_config=tune.RunConfig(callbacks=[SeeTrainLoggerCallback(project="hpo")]))
    tuner.fit()

The callback lives in the Tune driver, so runs are written by the driver process (trial workers
need no SeeTrain set-up). Each trial's run has the trial's config (plus ``group``, the
experiment's name, and ``ray/trial_id``, ``ray/trial_name``), every numeric value of every
reported result (nested dicts flattened to ``a/b``) at ``step = training_iteration``, and ends
``success`` when Tune terminates the trial (``ray/stopped_early`` tells whether a scheduler or
stopper ended it, rather than the trainable returning) or ``crashed`` when it errored (with the
error in ``ray/error``).
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence

from ray.tune.logger import LoggerCallback

import seetrain
from seetrain.integration.run_holder import shield
from seetrain import SeeTrainWarning

FRAMEWORK = "ray_tune"

#: result keys that are bookkeeping, not measurements (``config`` is the trial's config again)
_EXCLUDE = frozenset({"done", "should_checkpoint", "config", "training_iteration", "checkpoint_dir_name"})
#: result keys that describe the trial's process: recorded once in the config (``ray/<key>``)
_TO_CONFIG = ("trial_id", "experiment_tag", "node_ip", "hostname", "pid", "date", "experiment_id")


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)  # numpy / torch scalars, without importing either
    if callable(item) and getattr(value, "size", 1) == 1:
        try:
            value = item()
        except Exception:
            return None
        return value if isinstance(value, (int, float)) else None
    return None


def flatten_result(result: Dict[str, Any], excludes: Iterable[str] = ()) -> Dict[str, float]:
    """The numeric values of a Tune result, nested dicts flattened to ``a/b`` keys."""
    skip = _EXCLUDE | set(_TO_CONFIG) | set(excludes)
    out: Dict[str, float] = {}

    def walk(prefix: str, data: Dict[str, Any]) -> None:
        for key, value in data.items():
            name = f"{prefix}{key}"
            if not prefix and key in skip or name in skip:
                continue
            if isinstance(value, dict):
                walk(f"{name}/", value)
                continue
            num = _number(value)
            if num is not None:
                out[name] = num

    walk("", result)
    return out


def _clean_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """The trial config without what cannot be a config value (callbacks, objects)."""
    out: Dict[str, Any] = {}
    for key, value in config.items():
        if key == "callbacks":
            continue
        if isinstance(value, dict):
            out[str(key)] = _clean_config(value)
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[str(key)] = value
        elif isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
            out[str(key)] = list(value)
        else:
            num = _number(value)
            out[str(key)] = num if num is not None else repr(value)
    return out


class SeeTrainLoggerCallback(LoggerCallback):
    """A Tune ``LoggerCallback`` (``RunConfig(callbacks=[...])``) that records every trial in SeeTrain.

    Args:
        project: SeeTrain project (default: the experiment's name).
        experiment_name: prefix of the run names (``<prefix>-<trial id>``); default: Tune's trial name.
        description, config, logdir: as in :func:`seetrain.init`; ``config`` is added to every run.
        group: the runs' group (default: the Tune experiment's name); in the config as ``group`` and
            in the tags.
        tags: tags of every run (the group is added).
        excludes: result keys not to log.
        **init_kwargs: other :func:`seetrain.init` arguments (mode, strict, system_metrics ...).
            System metrics are off by default: the runs live in the driver, not in the trial's worker.
    """

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Optional[Dict[str, Any]] = None,
                 group: Optional[str] = None, tags: Optional[Sequence[str]] = None,
                 excludes: Sequence[str] = (), logdir: Optional[str] = None, **init_kwargs: Any) -> None:
        self.project = project
        self.experiment_name = experiment_name
        self.description = description
        self.config = dict(config or {})
        self.group = group
        self.tags = list(tags or [])
        self.excludes = tuple(excludes)
        self.logdir = logdir
        self.init_kwargs = init_kwargs
        self._runs: Dict[str, "seetrain.Run"] = {}       # trial id -> its open run
        self._last_done: Dict[str, bool] = {}            # trial id -> "done" of its latest result
        self._last_run: Optional["seetrain.Run"] = None
        self._placeholder: Optional["seetrain.Run"] = None

    # Tune pickles its run config (tuner.pkl, experiment state): open runs stay behind.
    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_runs={}, _last_done={}, _last_run=None, _placeholder=None)
        return state

    # --- runs --------------------------------------------------------------------------------
    def _group(self, trial: Any) -> Optional[str]:
        if self.group:
            return self.group
        try:
            return trial.experiment_dir_name
        except Exception:
            return None

    def _open(self, trial: Any) -> "seetrain.Run":
        run = self._runs.get(trial.trial_id)
        if run is not None:
            return run
        group = self._group(trial)
        name = f"{self.experiment_name}-{trial.trial_id}" if self.experiment_name else str(trial)
        kwargs = dict(self.init_kwargs)
        kwargs.setdefault("logdir", self.logdir)
        kwargs.setdefault("system_metrics", False)
        kwargs.setdefault("id", f"ray-{trial.trial_id}")
        kwargs.setdefault("resume", True)  # a restored experiment (Tuner.restore) continues its trials' runs
        tags = list(self.tags) + ([group] if group and group not in self.tags else [])
        config = {**self.config, **_clean_config(dict(trial.config or {})), "group": group,
                  "ray/trial_id": trial.trial_id, "ray/trial_name": str(trial), "_framework": FRAMEWORK}
        run = seetrain.init(project=self.project or group or FRAMEWORK, experiment_name=name,
                            description=self.description, config=config, tags=tags, **kwargs)
        self._runs[trial.trial_id] = run
        self._last_run = run
        return run

    # --- LoggerCallback ----------------------------------------------------------------------
    def log_trial_start(self, trial: Any) -> None:
        try:
            self._open(trial)
        except Exception as exc:
            self._warn("start", trial, exc)

    def log_trial_restore(self, trial: Any) -> None:
        self.log_trial_start(trial)

    def log_trial_result(self, iteration: int, trial: Any, result: Dict[str, Any]) -> None:
        try:
            run = self._open(trial)
            extra = {f"ray/{k}": result[k] for k in _TO_CONFIG
                     if k in result and k != "trial_id" and f"ray/{k}" not in run.config}
            if extra:
                run.config.update(extra)
            data = flatten_result(result, self.excludes)
            step = result.get("training_iteration")
            step = int(step) if isinstance(step, int) and step >= 0 else None
            # Tune sets ``done`` on the result it stops a trial at (scheduler, stopper); a trainable that
            # returns on its own is ended after its last result, which came without ``done``.
            self._last_done[trial.trial_id] = bool(result.get("done", False))
            if data:
                run.log(data, step=step)
        except Exception as exc:
            self._warn("log a result of", trial, exc)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        try:
            run = self._open(trial)
            info: Dict[str, Any] = {"ray/status": "ERROR" if failed else "TERMINATED",
                                    "ray/stopped_early": (not failed) and self._last_done.get(trial.trial_id, False)}
            if failed:
                info["ray/error"] = _error_text(trial)
            run.config.update(info)
            run.finish("crashed" if failed else "success")
        except Exception as exc:
            self._warn("finish", trial, exc)
        finally:
            self._runs.pop(trial.trial_id, None)
            self._last_done.pop(trial.trial_id, None)

    def on_experiment_end(self, trials: List[Any], **info: Any) -> None:
        """Runs of trials Tune never ended (an interrupted experiment) are marked ``killed``."""
        self.finish("killed")

    # --- unified integration API ---------------------------------------------------------------
    @property
    def experiment(self) -> "seetrain.Run":
        """The run of the latest trial that started (a disabled run before any trial)."""
        if self._last_run is not None:
            return self._last_run
        if self._placeholder is None:
            warnings.warn("seetrain: no Ray Tune trial has started yet, so there is no trial run; values logged "
                          "now are dropped", SeeTrainWarning, stacklevel=2)
            self._placeholder = seetrain.init(mode="disabled", project=self.project)
        return self._placeholder

    def finish(self, status: str = "success") -> None:
        """Finish every trial run still open (they are normally finished as their trials end)."""
        for trial_id, run in list(self._runs.items()):
            try:
                if not run.finished:
                    run.config.update({"ray/status": "UNFINISHED"})
                    run.finish(status)
            except Exception as exc:
                shield("ray_tune.finish", exc, f"the Ray Tune callback could not finish trial {trial_id}",
                       "the experiment goes on")
        self._runs.clear()
        if self._placeholder is not None:
            self._placeholder.finish(status)

    def _warn(self, what: str, trial: Any, exc: BaseException) -> None:
        shield(f"ray_tune.{what.split()[0]}", exc,
               f"the Ray Tune callback could not {what} trial {getattr(trial, 'trial_id', trial)}",
               "the experiment goes on")


def _error_text(trial: Any) -> str:
    """The trial's error as Tune wrote it (the trial's local ``error.txt``; storage is synced later)."""
    try:
        path = trial.error_file
        if path:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read().strip()[-4000:]
    except Exception:
        pass
    try:
        error = trial.get_error()
        if error is not None:
            return str(error).strip()[-4000:]
    except Exception:
        pass
    return "the trial raised an error"


__all__ = ["SeeTrainLoggerCallback", "flatten_result"]
