"""Optuna study callback: every finished trial is recorded in SeeTrain.

    from seetrain.integration.trackers.optuna import SeeTrainOptunaCallback

    cb = SeeTrainOptunaCallback(project="hpo", metric_name="val_loss")
    study.optimize(objective, n_trials=50, callbacks=[cb])
    cb.finish()

``one_run_per_trial=False`` (default): one run for the study; trial ``n`` is logged at step ``n``
with the objective, the best value so far, the trial's parameters (``params/<name>``), its state
and duration; the best trial and the state counts go to the config.
``one_run_per_trial=True``: one run per trial, its parameters as the config, the intermediate
values reported with ``trial.report`` as ``intermediate_value`` at their steps and the objective
as ``<metric_name>``. Decorate the objective with :meth:`track_in_seetrain` to open the trial's run
before the objective starts, so ``seetrain.log`` inside the objective lands in it.

Run status: COMPLETE -> ``success``, PRUNED -> ``killed`` (stopped early on purpose), FAIL -> ``failed``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import optuna
from optuna.trial import FrozenTrial, TrialState

import seetrain
from seetrain.integration.run_holder import shield
from seetrain import SeeTrainWarning

FRAMEWORK = "optuna"
_STATUS = {TrialState.COMPLETE: "success", TrialState.PRUNED: "killed", TrialState.FAIL: "failed"}


def _study_label(study_name: str) -> Optional[str]:
    """The study's name, or None for Optuna's generated ``no-name-<uuid>`` names."""
    return None if not study_name or study_name.startswith("no-name-") else study_name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class SeeTrainOptunaCallback:
    """An Optuna callback (``study.optimize(..., callbacks=[cb])``) that records trials in SeeTrain.

    Args:
        project: SeeTrain project (default: the study name).
        experiment_name: run name (study mode) or run-name prefix (per-trial mode); default: the study name.
        description, config, logdir: as in :func:`seetrain.init`; ``config`` is added to every run.
        one_run_per_trial: one run per trial instead of one run for the whole study.
        metric_name: name of the objective value, or one name per objective of a multi-objective study.
        **init_kwargs: other :func:`seetrain.init` arguments (tags, mode, ...).
    """

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Optional[Dict[str, Any]] = None,
                 one_run_per_trial: bool = False, metric_name: Union[str, Sequence[str]] = "value",
                 logdir: Optional[str] = None, **init_kwargs: Any) -> None:
        if not isinstance(metric_name, str) and not (
                isinstance(metric_name, (list, tuple)) and metric_name and all(isinstance(m, str) for m in metric_name)):
            raise TypeError(f"metric_name must be a string or a list of strings (one per objective), got {metric_name!r}")
        self.project = project
        self.experiment_name = experiment_name
        self.description = description
        self.config = dict(config or {})
        self.one_run_per_trial = bool(one_run_per_trial)
        self.metric_name = metric_name
        self.logdir = logdir
        self.init_kwargs = init_kwargs
        self._study_run: Optional["seetrain.Run"] = None
        self._study_described = False
        self._trial_runs: Dict[Tuple[str, int], "seetrain.Run"] = {}
        self._last_trial_run: Optional["seetrain.Run"] = None
        self._placeholder: Optional["seetrain.Run"] = None
        self._counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}

    # --- names -------------------------------------------------------------------------------
    def _metric_names(self, n_values: int) -> List[str]:
        if isinstance(self.metric_name, str):
            return [self.metric_name] if n_values == 1 else [f"{self.metric_name}_{i}" for i in range(n_values)]
        if len(self.metric_name) != n_values:
            raise ValueError(f"metric_name lists {len(self.metric_name)} names but the study has {n_values} "
                             "objectives; give one name per objective")
        return list(self.metric_name)

    def _init(self, project: Optional[str], name: Optional[str], config: Dict[str, Any]) -> "seetrain.Run":
        kwargs = dict(self.init_kwargs)
        kwargs.setdefault("logdir", self.logdir)
        run = seetrain.init(project=project, experiment_name=name, description=self.description,
                            config={**self.config, **config}, **kwargs)
        run.config.update({"_framework": FRAMEWORK})
        return run

    # --- study mode --------------------------------------------------------------------------
    def _open_study_run(self, study: Optional[optuna.Study]) -> "seetrain.Run":
        if self._study_run is None:
            name = _study_label(study.study_name) if study is not None else None
            self._study_run = self._init(self.project or name or FRAMEWORK, self.experiment_name or name, {})
        if study is not None and not self._study_described:
            self._study_described = True
            self._study_run.config.update({
                "study_name": study.study_name, "directions": [d.name.lower() for d in study.directions],
                "sampler": type(study.sampler).__name__, "pruner": type(study.pruner).__name__})
        return self._study_run

    def _log_study_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run = self._open_study_run(study)
        data: Dict[str, Any] = {"trial/state": int(trial.state.value)}
        if trial.values is not None:
            for name, value in zip(self._metric_names(len(trial.values)), trial.values):
                data[name] = value
        if trial.duration is not None:
            data["trial/duration_s"] = trial.duration.total_seconds()
        for key, value in trial.params.items():
            data[f"params/{key}"] = value if _is_number(value) else str(value)
        best = self._best(study)
        if best is not None and len(best.values) == 1:
            data[f"best_{self._metric_names(1)[0]}"] = best.value
        run.log(data, step=trial.number)
        if best is not None and best.number == trial.number:
            run.config.update({"best_trial": best.number, "best_params": dict(best.params),
                               "best_values": list(best.values)})

    @staticmethod
    def _best(study: optuna.Study) -> Optional[FrozenTrial]:
        if len(study.directions) != 1:
            return None
        try:
            return study.best_trial
        except ValueError:  # no completed trial yet
            return None

    # --- per-trial mode ----------------------------------------------------------------------
    def _trial_run_name(self, study_name: str, number: int) -> str:
        prefix = self.experiment_name or _study_label(study_name)
        return f"{prefix}-trial-{number}" if prefix else f"trial-{number}"

    def _open_trial_run(self, study_name: str, number: int) -> "seetrain.Run":
        run = self._trial_runs.get((study_name, number))
        if run is None:
            run = self._init(self.project or _study_label(study_name) or FRAMEWORK,
                             self._trial_run_name(study_name, number),
                             {"study_name": study_name, "trial_number": number})
            self._trial_runs[(study_name, number)] = run
            self._last_trial_run = run
        return run

    def _record_trial_run(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run = self._open_trial_run(study.study_name, trial.number)
        self._trial_runs.pop((study.study_name, trial.number), None)  # done with it after this call
        if run.finished:
            return
        run.config.update(dict(trial.params))
        extra: Dict[str, Any] = {"trial_state": trial.state.name}
        if trial.user_attrs:
            extra["user_attrs"] = dict(trial.user_attrs)
        if trial.duration is not None:
            extra["trial_duration_s"] = trial.duration.total_seconds()
        run.config.update(extra)
        for step, value in sorted(trial.intermediate_values.items()):
            run.log({"intermediate_value": value}, step=int(step))
        if trial.values is not None:
            step = trial.last_step if trial.last_step is not None else 0
            run.log(dict(zip(self._metric_names(len(trial.values)), trial.values)), step=step)
        run.finish(_STATUS.get(trial.state, "success"))

    def track_in_seetrain(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator for the objective: its trial's run is open (and current) while it runs.

        Only for ``one_run_per_trial=True``; ``seetrain.log`` inside the objective goes to that run.
        """
        if not self.one_run_per_trial:
            raise ValueError("track_in_seetrain() needs SeeTrainOptunaCallback(one_run_per_trial=True); "
                             "in study mode log through the callback's run (callback.experiment)")

        def decorator(objective: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(objective)
            def wrapper(trial: optuna.Trial, *args: Any, **kwargs: Any) -> Any:
                run = None
                try:
                    run = self._open_trial_run(trial.study.study_name, trial.number)
                except Exception as exc:
                    self._warn("open the trial run", exc)
                try:
                    return objective(trial, *args, **kwargs)
                except optuna.TrialPruned:
                    raise  # the callback records it as pruned
                except BaseException:
                    if run is not None and not run.finished:
                        try:
                            run.config.update({**trial.params, "trial_state": "FAIL"})
                            run.finish("failed")
                        except Exception as exc:
                            self._warn("finish the failed trial run", exc)
                    raise

            return wrapper

        return decorator

    # --- the callback ------------------------------------------------------------------------
    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        try:
            if trial.state.name in self._counts:
                self._counts[trial.state.name] += 1
            if self.one_run_per_trial:
                self._record_trial_run(study, trial)
            else:
                self._log_study_trial(study, trial)
        except Exception as exc:
            self._warn(f"record trial {trial.number}", exc)

    @property
    def experiment(self) -> "seetrain.Run":
        """The study run (study mode) or the latest trial's run (per-trial mode)."""
        if not self.one_run_per_trial:
            return self._open_study_run(None)
        if self._last_trial_run is not None:
            return self._last_trial_run
        if self._placeholder is None:
            warnings.warn("seetrain: no Optuna trial has run yet, so there is no trial run; values logged now "
                          "are dropped. Log from inside the objective (see track_in_seetrain)",
                          SeeTrainWarning, stacklevel=2)
            self._placeholder = seetrain.init(mode="disabled", project=self.project)
        return self._placeholder

    def finish(self, status: str = "success") -> None:
        """Finish the study run (with the trial counts in its config) and any open trial runs."""
        try:
            if self._study_run is not None and not self._study_run.finished:
                self._study_run.config.update({"n_trials": sum(self._counts.values()),
                                               **{f"n_{k.lower()}": v for k, v in self._counts.items()}})
                self._study_run.finish(status)
            for run in self._trial_runs.values():
                if not run.finished:
                    run.finish(status)
            if self._placeholder is not None:
                self._placeholder.finish(status)
        except Exception as exc:
            self._warn("finish", exc)

    def __enter__(self) -> "SeeTrainOptunaCallback":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("crashed" if exc_type is not None else "success")

    def _warn(self, what: str, exc: BaseException) -> None:
        shield(f"optuna.{what.split()[0]}", exc, f"the Optuna callback could not {what}", "the study goes on")
