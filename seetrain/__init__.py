"""SeeTrain: experiment tracking that stays out of the training loop's way.

    import seetrain
    run = seetrain.init(project="mnist", config={"lr": 1e-3})
    for step in range(100):
        seetrain.log({"loss": 1.0 / (step + 1)})
    seetrain.finish()

Importing this package loads no framework, no NumPy and no torch; everything heavy is imported
the first time it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Union

from .version import __version__

__all__ = [
    "init", "log", "finish", "alert", "config", "Run", "Image", "Audio", "Text", "Histogram", "Table",
    "read_run", "list_runs", "get_run", "use_artifact", "Api", "SeeTrainWarning", "SeeTrainError", "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from .run_config import Config
    from .media import Audio, Histogram, Image, Table, Text
    from .rundir.reader import RunReader, list_runs, read_run
    from .errors import SeeTrainError, SeeTrainWarning
    from .run import Run


def init(project: Optional[str] = None, experiment_name: Optional[str] = None,
         description: Optional[str] = None, config: Any = None, tags: Optional[Sequence[str]] = None,
         mode: str = "local", logdir: Optional[str] = None, id: Optional[str] = None,
         resume: Union[bool, str, None] = None, strict: bool = False, system_metrics: bool = True,
         console: Union[str, bool] = "on", host: Optional[str] = None, api_key: Optional[str] = None,
         upload_timeout: float = 30.0, resume_from: Optional[int] = None, fork_from: Any = None,
         shared: Optional[bool] = None, writer: Optional[str] = None, **settings: Any) -> "Run":
    """Start a run and make it the current one (``seetrain.log`` writes to it).

    ``mode``: ``"local"`` writes ``<logdir>/<project>/<id>/``; ``"online"`` also ships it to the
    server at ``host`` (``$SEETRAIN_HOST``) with ``api_key`` (``$SEETRAIN_API_KEY``), waiting up to
    ``upload_timeout`` seconds at finish; ``"disabled"`` makes every call a no-op.
    ``logdir`` defaults to ``$SEETRAIN_LOGDIR`` or ``./seetrain_logs``. ``resume=True`` with ``id=``
    continues an earlier run; ``resume_from=STEP`` (with ``id=``) continues it from ``STEP``: the
    records logged after that step are superseded (kept in the log, hidden by every reader, listed
    with ``scalars(key, superseded=True)``). ``fork_from=(RUN, STEP)`` starts a new run whose history
    is ``RUN``'s up to ``STEP`` (a run id, ``"project/id"`` or a run directory), linked to it both
    ways (docs/history.md). ``console="off"`` stops capturing stdout/stderr into the run.
    ``shared=True`` (with ``id=``, the same in every process; default ``$SEETRAIN_SHARED``) makes
    this process one writer of a run many processes write (DDP ranks, nodes, workers), labelled
    ``writer`` (default ``rank<RANK>`` under a launcher, else ``<host>-<pid>``): docs/shared-runs.md.
    Extra settings: ``flush_interval`` (seconds, default 1.0), ``heartbeat_interval`` (seconds,
    default 5), ``system_interval`` (seconds, default 10), ``max_queue`` (records, default 100000),
    ``max_queue_bytes`` (bytes of media waiting to be written, default 256 MiB), ``alert_webhook``
    (a URL that gets a Slack-style POST per :func:`alert`; default ``$SEETRAIN_ALERT_WEBHOOK``).
    """
    from .run import Run

    return Run(project=project, experiment_name=experiment_name, description=description,
               config=config, tags=tags, mode=mode, logdir=logdir, id=id, resume=resume,
               strict=strict, system_metrics=system_metrics, console=console, host=host, api_key=api_key,
               upload_timeout=upload_timeout, resume_from=resume_from, fork_from=fork_from, shared=shared,
               writer=writer, **settings)


def log(data: Dict[str, Any], step: Optional[int] = None) -> None:
    """Log ``data`` to the current run (see :meth:`Run.log`)."""
    from .run import _active

    if _active:
        _active[-1].log(data, step)
    else:
        _no_run("log")


def finish(status: str = "success", exit_code: Optional[int] = None) -> None:
    """Finish the current run."""
    from .run import _active

    if _active:
        _active[-1].finish(status, exit_code)


def alert(title: str, text: str = "", level: str = "info") -> None:
    """Record an alert on the current run (see :meth:`Run.alert`): shown by the dashboard, read
    by the API and ``seetrain mcp``, posted to ``init(alert_webhook=URL)`` if set."""
    from .run import _active

    if _active:
        _active[-1].alert(title, text, level)
    else:
        _no_run("alert")


def use_artifact(ref: str, root: Optional[str] = None, project: Optional[str] = None,
                 logdir: Optional[str] = None, host: Optional[str] = None, api_key: Optional[str] = None) -> Any:
    """Use artifact version ``ref`` (``"name:vN"``, ``"name:alias"``, ``"name"`` = ``name:latest``):
    its files are put under ``root`` (hard links to the local store, no copy; default
    ``<logdir>/.artifacts/checkouts/...``) and the returned version's ``path`` says where. The local
    store answers first (no network); otherwise the server at ``host`` (``$SEETRAIN_HOST``, or the
    current online run's). The current run, if any, records the input edge (see
    :meth:`Run.use_artifact`). Project and logdir default to the current run's."""
    from .run import _active

    if _active:
        return _active[-1].use_artifact(ref, root=root, host=host, api_key=api_key)
    import os

    from .artifacts.api import use_version
    from .logdir import default_logdir

    return use_version(default_logdir(logdir), project or os.environ.get("SEETRAIN_PROJECT") or "default", ref,
                       root=root, host=host, api_key=api_key)


def get_run() -> Optional["Run"]:
    """The current run, or ``None``."""
    from .run import current_run

    return current_run()


_warned_no_run = False


def _no_run(what: str) -> None:
    global _warned_no_run
    if not _warned_no_run:
        _warned_no_run = True
        import warnings

        from .errors import SeeTrainWarning

        warnings.warn(f"seetrain.{what}() was called before seetrain.init(); nothing was recorded. "
                      "Call seetrain.init(project=...) first", SeeTrainWarning, stacklevel=3)


_LAZY = {
    "Run": ("run", "Run"),
    "SeeTrainWarning": ("errors", "SeeTrainWarning"),
    "SeeTrainError": ("errors", "SeeTrainError"),
    "Image": ("media", "Image"),
    "Audio": ("media", "Audio"),
    "Text": ("media", "Text"),
    "Histogram": ("media", "Histogram"),
    "Table": ("media", "Table"),
    "read_run": ("rundir.reader", "read_run"),
    "list_runs": ("rundir.reader", "list_runs"),
    "RunReader": ("rundir.reader", "RunReader"),
    "Config": ("run_config", "Config"),
    "Api": ("api", "Api"),
    "sync_wandb": ("integration.bridges.wandb", "sync_wandb"),
    "sync_tensorboard": ("integration.bridges.tensorboard", "sync_tensorboard"),
    "sync_mlflow": ("integration.bridges.mlflow", "sync_mlflow"),
}


def __getattr__(name: str) -> Any:
    if name == "config":
        from .run import _active, _pending_config

        return _active[-1].config if _active else _pending_config
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{mod}", __name__), attr)
        globals()[name] = value
        return value
    if name == "integration":
        import importlib

        return importlib.import_module(".integration", __name__)
    raise AttributeError(f"module 'seetrain' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"integration"})


# report_to="seetrain" (Transformers) and log_with="seetrain" (Accelerate) without a register()
# call: a post-import hook that imports no framework (seetrain/integration/native.py)
from .integration.native import install as _install_native  # noqa: E402

_install_native()
