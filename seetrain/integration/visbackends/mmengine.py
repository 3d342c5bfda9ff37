"""MMEngine visualisation backend (also serves MMDetection, MMSegmentation, ... on MMEngine).

Importing this module registers ``SeeTrainVisBackend`` in MMEngine's ``VISBACKENDS``, so configs
can name it:

    import seetrain.integration.visbackends.mmengine  # or, in the MMEngine config file:
    # custom_imports = dict(imports=["seetrain.integration.visbackends.mmengine"], allow_failed_imports=False)
    visualizer = dict(type="Visualizer", vis_backends=[
        dict(type="SeeTrainVisBackend", init_kwargs=dict(project="det", experiment_name="retinanet"))])

The run is created on first use (MMEngine's ``force_init_env`` pattern); on non-zero ranks it is
a disabled run. Scalars keep MMEngine's steps (train: iteration; val: epoch, or iteration with
``LoggerHook(log_metric_by_epoch=False)``). ``close()`` (called by the Runner at the end) finishes it.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from mmengine.registry import VISBACKENDS
from mmengine.visualization.vis_backend import BaseVisBackend, force_init_env

import seetrain
from seetrain.integration.run_holder import RunHolder

FRAMEWORK = "mmengine"
_INIT_KEYS = ("project", "experiment_name", "description", "config", "logdir")


def _rank() -> int:
    try:
        from mmengine.dist import get_rank

        return int(get_rank())
    except Exception:
        return 0


def _runner_experiment_name() -> Optional[str]:
    """The running MMEngine Runner's experiment name (its MessageHub is named after it)."""
    try:
        from mmengine.logging import MessageHub

        if MessageHub._instance_dict:
            name = MessageHub.get_current_instance().instance_name
            return None if name == "mmengine" else name
    except Exception:
        pass
    return None


@VISBACKENDS.register_module(name="SeeTrainVisBackend", force=True)
class SeeTrainVisBackend(RunHolder, BaseVisBackend):
    """Write MMEngine's scalars, images and config to a SeeTrain run.

    Args:
        save_dir: the directory MMEngine gives every backend (recorded in the config; SeeTrain
            writes under its own ``logdir``).
        init_kwargs: :func:`seetrain.init` arguments, e.g. ``dict(project=..., experiment_name=...)``
            (default name: the Runner's experiment name).
        project, experiment_name, description, config, logdir, **kwargs: the same, given directly
            (they win over ``init_kwargs``).
    """

    FRAMEWORK, SUBJECT = FRAMEWORK, "the MMEngine backend"

    def __init__(self, save_dir: Optional[str] = None, init_kwargs: Optional[Dict[str, Any]] = None, *,
                 project: Optional[str] = None, experiment_name: Optional[str] = None,
                 description: Optional[str] = None, config: Optional[Dict[str, Any]] = None,
                 logdir: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(save_dir)  # type: ignore[arg-type]
        if init_kwargs is not None and not isinstance(init_kwargs, dict):
            raise TypeError(f"SeeTrainVisBackend(init_kwargs=...) takes a dict of seetrain.init arguments, "
                            f"got {type(init_kwargs).__name__}")
        merged = dict(init_kwargs or {})
        direct = dict(project=project, experiment_name=experiment_name, description=description,
                      config=config, logdir=logdir)
        merged.update({k: v for k, v in direct.items() if v is not None})
        merged.update(kwargs)
        self._init_kwargs = merged
        self._run: Optional["seetrain.Run"] = None

    def _init_env(self) -> None:
        """Create the run (MMEngine calls this through ``force_init_env`` on first use; calling it
        again, or before ``experiment``, keeps the one run)."""
        if self._run is None:
            self._run = self._start_run()
        self._env_initialized = True  # what force_init_env checks: a direct call counts too

    def _start_run(self) -> "seetrain.Run":
        kwargs = dict(self._init_kwargs)
        if _rank() != 0:
            return seetrain.init(mode="disabled", project=kwargs.get("project"))
        if kwargs.get("experiment_name") is None:
            kwargs["experiment_name"] = _runner_experiment_name()
        try:
            run = seetrain.init(**kwargs)
        except (TypeError, ValueError):
            raise  # wrong arguments in the backend config: say so at once
        except Exception as exc:  # e.g. an unwritable logdir: train on without tracking
            self._warn("start the run", exc)
            return seetrain.init(mode="disabled", project=kwargs.get("project"))
        extra: Dict[str, Any] = {"_framework": FRAMEWORK}
        if self._save_dir is not None:
            extra["_mmengine_save_dir"] = str(self._save_dir)
        run.config.update(extra)
        return run

    @property  # type: ignore[misc]
    @force_init_env
    def experiment(self) -> "seetrain.Run":
        """The SeeTrain run."""
        return self._run  # type: ignore[return-value]

    @force_init_env
    def add_config(self, config: Any, **kwargs: Any) -> None:
        """Store the MMEngine config (a ``Config`` or dict) in the run's config."""
        try:
            data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
            self._run.config.update(data)  # type: ignore[union-attr]
        except Exception as exc:
            self._warn("add_config", exc)

    @force_init_env
    def add_graph(self, model: Any, data_batch: Optional[Sequence[dict]] = None, **kwargs: Any) -> None:
        """Record the model's class, parameter counts and (shortened) repr in the config."""
        try:
            params = list(model.parameters())
            text = repr(model)
            self._run.config.update({"model_graph": {  # type: ignore[union-attr]
                "class": type(model).__name__,
                "num_parameters": int(sum(p.numel() for p in params)),
                "num_trainable_parameters": int(sum(p.numel() for p in params if p.requires_grad)),
                "repr": text if len(text) <= 20000 else text[:20000] + "\n...",
            }})
        except Exception as exc:
            self._warn("add_graph", exc)

    @force_init_env
    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        """Log an RGB image (HWC uint8 array) at ``step``."""
        try:
            from seetrain.media import Image

            self._run.log({name: image if isinstance(image, Image) else Image(image)}, step=int(step))  # type: ignore[union-attr]
        except Exception as exc:
            self._warn("add_image", exc)

    @force_init_env
    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        """Log one scalar (number, 0-d tensor or array) at ``step``."""
        try:
            self._run.log({name: value}, step=int(step))  # type: ignore[union-attr]
        except Exception as exc:
            self._warn("add_scalar", exc)

    @force_init_env
    def add_scalars(self, scalar_dict: Dict[str, Any], step: int = 0, file_path: Optional[str] = None,
                    **kwargs: Any) -> None:
        """Log several scalars at ``step`` (``file_path`` is MMEngine's own JSON log; not used).

        A ``step`` key in ``scalar_dict`` is the step, as in MMEngine's ``LocalVisBackend`` (it wins
        over the argument), not a metric."""
        try:
            data = dict(scalar_dict)
            if "step" in data:
                step = data.pop("step")
            self._run.log(data, step=int(step))  # type: ignore[union-attr]
        except Exception as exc:
            self._warn("add_scalars", exc)

    def close(self) -> None:
        """Finish the run (MMEngine's LoggerHook calls this after training)."""
        if self._run is None:
            return
        try:
            self._run.finish("success")
        except Exception as exc:
            self._warn("close", exc)


