"""Hugging Face Transformers callback: ``Trainer(..., callbacks=[SeeTrainCallback(project="gpt2")])``.

    from transformers import Trainer, TrainingArguments
    from seetrain.integration.callbacks.transformers import SeeTrainCallback

    args = TrainingArguments("out", report_to="none", logging_steps=10, eval_strategy="steps")
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      callbacks=[SeeTrainCallback(project="gpt2", experiment_name="baseline")])
    trainer.train()

What lands in the run, at ``step=state.global_step``:
  * training logs with a ``train/`` prefix (``loss`` -> ``train/loss``, ``learning_rate`` ->
    ``train/learning_rate``, ``grad_norm``, ``epoch``; the end-of-training summary as
    ``train/train_loss``, ``train/train_runtime`` ...);
  * evaluation logs as ``eval/<name>`` (``eval_loss`` -> ``eval/loss``), ``test_`` as ``test/``;
    keys that already contain a ``/`` are kept as they are;
  * config: every ``TrainingArguments`` field at the top level, the model config under
    ``model_config``, parameter counts under ``model``, the latest checkpoint under ``checkpoint``.

Only the world process zero records, unless ``SeeTrainCallback(all_ranks=True)``: then every
process is one writer of a shared run (labelled ``rank<N>``: its own logs and system metrics; see
docs/shared-runs.md); checkpoints are still noted by process zero alone. Unset arguments come from ``SEETRAIN_PROJECT``,
``SEETRAIN_EXPERIMENT_NAME``, ``SEETRAIN_LOGDIR`` and ``SEETRAIN_MODE``, then from
``TrainingArguments.project`` / ``run_name``. The run stays open after ``train()`` (a following
``evaluate()`` lands in it) and is finished at process exit or by :meth:`SeeTrainCallback.finish`.
:func:`register` makes ``TrainingArguments(report_to="seetrain")`` work too.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Set, Tuple

from transformers import TrainerCallback

import seetrain
from seetrain.integration.run_holder import RunHolder
from seetrain.integration.model_artifacts import ModelArtifacts

FRAMEWORK = "transformers"
_PREFIXES = (("eval_", "eval/"), ("test_", "test/"), ("predict_", "predict/"))


def rewrite_logs(logs: Dict[str, Any]) -> Dict[str, Any]:
    """``loss`` -> ``train/loss``, ``eval_loss`` -> ``eval/loss``, ``test_acc`` -> ``test/acc``; numbers only."""
    out: Dict[str, Any] = {}
    for key, value in (logs or {}).items():
        if isinstance(value, bool):
            value = int(value)
        elif not isinstance(value, (int, float)):
            item = getattr(value, "item", None)
            try:
                value = item() if callable(item) else None
            except Exception:
                value = None
            if not isinstance(value, (int, float)):
                continue
        key = str(key)
        if "/" not in key:
            for old, new in _PREFIXES:
                if key.startswith(old):
                    key = new + key[len(old):]
                    break
            else:
                key = "train/" + key
        out[key] = value
    return out


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0") or 0) == 0


def _log_model_from_env() -> Any:
    """``SEETRAIN_LOG_MODEL``: ``true``/``1`` (best and last), ``all``, else off (for ``report_to``)."""
    value = os.environ.get("SEETRAIN_LOG_MODEL", "").strip().lower()
    return "all" if value == "all" else value in ("1", "true", "yes", "on")


class SeeTrainCallback(RunHolder, TrainerCallback):
    """Record a Hugging Face ``Trainer`` run in SeeTrain (world process zero only).

    Args:
        project, experiment_name, description, config, logdir: as in :func:`seetrain.init`; unset
            ones fall back to the ``SEETRAIN_*`` environment variables, then to the
            ``TrainingArguments`` (``project``, ``run_name``).
        finish_on_train_end: finish the run when ``train()`` ends (default: keep it open).
        log_model: copy the checkpoints the Trainer saves into the run: ``False``, ``True`` (keep
            the best and the last) or ``"all"``; default from ``$SEETRAIN_LOG_MODEL``, else off.
        all_ranks: every process logs into one shared run (``id=``, else ``$SEETRAIN_RUN_ID``, else
            torchrun's job id); default: world process zero alone.
        **init_kwargs: any other :func:`seetrain.init` argument (tags, mode, id, resume, ...).
    """

    def __init__(self, project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Any = None, logdir: Optional[str] = None,
                 finish_on_train_end: bool = False, log_model: Any = None, all_ranks: bool = False,
                 **init_kwargs: Any) -> None:
        self.all_ranks = bool(all_ranks)
        self._artifacts = ModelArtifacts(_log_model_from_env() if log_model is None else log_model, FRAMEWORK)
        self._project = project
        self._experiment_name = experiment_name
        self._description = description
        self._config = config
        self._logdir = logdir
        self._init_kwargs = init_kwargs
        self.finish_on_train_end = finish_on_train_end
        self._run: Optional["seetrain.Run"] = None
        self._rank_zero: Optional[bool] = None  # from TrainerState once the Trainer tells us
        self._initialized = False
        self._logged_eval: Set[Tuple[int, str]] = set()

    # --- the run -----------------------------------------------------------------------------
    FRAMEWORK, SUBJECT = FRAMEWORK, "the Transformers callback"

    def _create_run(self, args: Any = None) -> "seetrain.Run":
        zero = self._rank_zero if self._rank_zero is not None else _is_rank_zero()
        if not zero and not self.all_ranks:
            return seetrain.init(mode="disabled", project=self._project)
        env = os.environ.get
        kwargs = dict(self._init_kwargs)
        if self.all_ranks:
            from seetrain.integration.every_rank import shared_init_kwargs

            kwargs = shared_init_kwargs(kwargs, "SeeTrainCallback")
        kwargs.setdefault("mode", env("SEETRAIN_MODE") or None)
        project = self._project or env("SEETRAIN_PROJECT") or getattr(args, "project", None)
        name = self._experiment_name or env("SEETRAIN_EXPERIMENT_NAME") or getattr(args, "run_name", None)
        run = seetrain.init(project=project, experiment_name=name, description=self._description,
                            config=self._config, logdir=self._logdir or env("SEETRAIN_LOGDIR"), **kwargs)
        run.config.update({"_framework": FRAMEWORK})
        return run

    def setup(self, args: Any, state: Any, model: Any = None, **kwargs: Any) -> None:
        """Start the run and store the ``TrainingArguments`` and the model config in it."""
        self._rank_zero = bool(getattr(state, "is_world_process_zero", True))
        if self._run is None or self._run.finished:
            self._run = self._create_run(args)
        self._initialized = True
        run = self._run
        if run.mode == "disabled":
            return
        values: Dict[str, Any] = {}
        if hasattr(args, "to_dict"):
            values.update(args.to_dict())
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            values["model_config"] = model_config.to_dict()
        if model is not None and hasattr(model, "parameters"):
            values["model"] = {"class": type(model).__name__,
                               "num_parameters": sum(p.numel() for p in model.parameters()),
                               "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}
        # what the user passed as config= wins over the TrainingArguments of the same name
        user = set((run.config.to_dict()))
        run.config.update({k: v for k, v in values.items() if k not in user})

    # --- Trainer events ----------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        try:
            if self._initialized and getattr(state, "is_hyper_param_search", False) and self._run is not None:
                self._run.finish("success")  # one run per hyperparameter-search trial
                self._run = None
                self._initialized = False
            if not self._initialized or self._run is None or self._run.finished:
                self.setup(args, state, model, **kwargs)
        except Exception as exc:
            self._warn("start the run", exc)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not (state.is_world_process_zero or self.all_ranks):
            return
        try:
            if not self._initialized:
                self.setup(args, state, kwargs.get("model"))
            data = rewrite_logs(logs or {})
            if data:
                step = int(state.global_step)
                self.experiment.log(data, step=step)
                self._logged_eval.update((step, k) for k in data if not k.startswith("train/"))
        except Exception as exc:
            self._warn("log", exc)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        """Log evaluation metrics the Trainer did not already pass to ``on_log`` at this step."""
        self._log_results(args, state, metrics, kwargs)

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        self._log_results(args, state, metrics, kwargs)

    def _log_results(self, args, state, metrics, kwargs) -> None:
        if not (state.is_world_process_zero or self.all_ranks) or not metrics:
            return
        try:
            if not self._initialized:
                self.setup(args, state, kwargs.get("model"))
            step = int(state.global_step)
            data = {k: v for k, v in rewrite_logs(metrics).items() if (step, k) not in self._logged_eval}
            if data:
                self.experiment.log(data, step=step)
                self._logged_eval.update((step, k) for k in data)
        except Exception as exc:
            self._warn("log evaluation metrics", exc)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or self._run is None:
            return
        try:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            info = {"last": os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"),
                    "step": int(state.global_step)}
            if getattr(state, "best_model_checkpoint", None):
                info["best"] = state.best_model_checkpoint
            self._run.config.update({"checkpoint": info})
            if self._artifacts.enabled and os.path.isdir(info["last"]):
                self._artifacts.saved(self._run, info["last"], info["step"], best=info.get("best"), info={
                    "metric": getattr(args, "metric_for_best_model", None),
                    "best_metric": getattr(state, "best_metric", None)})
        except Exception as exc:
            self._warn("record the checkpoint", exc)

    def on_train_end(self, args, state, control, **kwargs):
        if self._run is None:
            return
        if self.finish_on_train_end:
            self.finish("success")
            return
        try:
            self._run.flush()
        except Exception as exc:
            self._warn("flush", exc)



def register(integration_utils: Any = None) -> None:
    """Make ``TrainingArguments(report_to="seetrain")`` add a :class:`SeeTrainCallback` (built from the
    environment). ``import seetrain`` does this by itself (:mod:`seetrain.integration.native`)."""
    if integration_utils is None:
        from transformers.integrations import integration_utils
    integration_utils.INTEGRATION_TO_CALLBACK["seetrain"] = SeeTrainCallback


__all__ = ["SeeTrainCallback", "rewrite_logs", "register"]
