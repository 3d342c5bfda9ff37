"""MLflow bridge: mirror MLflow runs into SeeTrain live, or import them from a tracking store.

    import mlflow, seetrain
    seetrain.sync_mlflow()                    # every MLflow run from now on is also a SeeTrain run
    with mlflow.start_run(run_name="baseline"):
        mlflow.log_params({"lr": 1e-3})
        mlflow.log_metric("loss", 0.5, step=1)

    seetrain import mlflow --tracking-uri sqlite:///mlflow.db     # or file:./mlruns

Mapping (the same for the mirror and the importer): an MLflow run is the SeeTrain run
``mlflow-<run id>`` in project ``<experiment name>``, named as the MLflow run; metrics keep their key,
step (MLflow's default step 0 included) and value exactly as MLflow stores them (doubles); params
are config keys with MLflow's string values; tags are config keys ``mlflow/tags/<key>``; the MLflow
status FINISHED / FAILED / KILLED ends the run ``success`` / ``failed`` / ``killed``.

The mirror patches :class:`mlflow.MlflowClient` at class level (``create_run``, ``log_metric``,
``log_param``, ``set_tag``, ``log_batch``, ``set_terminated``), which the fluent API
(``mlflow.start_run``, ``log_metric(s)``, ``log_param(s)``, ``set_tag(s)``, ``end_run``) calls, so
both APIs and every client are covered; ``disable()`` restores the class.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import seetrain
from seetrain.integration.bridges._common import Mirror, Patches, import_or_explain

FRAMEWORK = "mlflow"
STATUS = {"FINISHED": "success", "FAILED": "failed", "KILLED": "killed"}
_PAGE = 1000


def _client_class() -> Any:
    return import_or_explain("mlflow", "mlflow", "MLflow bridge").MlflowClient


def run_id_for(mlflow_run_id: str) -> str:
    return f"mlflow-{mlflow_run_id}"


def _float(value: Any) -> Any:
    from mlflow.tracking.metric_value_conversion_utils import convert_metric_value_to_float_if_possible

    return convert_metric_value_to_float_if_possible(value)


def run_config(info: Any, experiment_name: Optional[str], params: Dict[str, str], tags: Dict[str, str]) -> Dict[str, Any]:
    """The SeeTrain config of an MLflow run."""
    config: Dict[str, Any] = dict(params)
    config.update({f"mlflow/tags/{k}": v for k, v in tags.items()})
    config.update({"_framework": FRAMEWORK, "mlflow/run_id": info.run_id, "mlflow/experiment_id": info.experiment_id,
                   "mlflow/experiment_name": experiment_name})
    return config


# --- the live mirror ------------------------------------------------------------------------------
class MLflowSync(Mirror):
    """The active mirror: one SeeTrain run per MLflow run. ``disable()`` restores ``MlflowClient``."""

    bridge = FRAMEWORK

    def __init__(self, project: Optional[str] = None, **init_kwargs: Any) -> None:
        self.project = project
        self.init_kwargs = init_kwargs
        self.runs: Dict[str, "seetrain.Run"] = {}  # MLflow run id -> its SeeTrain run
        self._lock = threading.Lock()
        self._patches = Patches(FRAMEWORK)
        cls = _client_class()
        self._patches.after(cls, "create_run", self._on_create_run)
        self._patches.after(cls, "log_metric", self._on_log_metric)
        self._patches.after(cls, "log_param", self._on_log_param)
        self._patches.after(cls, "set_tag", self._on_set_tag)
        self._patches.after(cls, "log_batch", self._on_log_batch)
        self._patches.after(cls, "set_terminated", self._on_set_terminated)

    def _open(self, client: Any, mlflow_run: Any) -> "seetrain.Run":
        info = mlflow_run.info
        with self._lock:
            run = self.runs.get(info.run_id)
            if run is None:
                experiment = client.get_experiment(info.experiment_id)
                name = experiment.name if experiment is not None else None
                kwargs = dict(self.init_kwargs)
                kwargs.setdefault("resume", True)  # start_run(run_id=...) continues the same run
                run = seetrain.init(project=self.project or name or FRAMEWORK, experiment_name=info.run_name,
                                    id=run_id_for(info.run_id),
                                    config=run_config(info, name, dict(mlflow_run.data.params),
                                                      dict(mlflow_run.data.tags)), **kwargs)
                self.runs[info.run_id] = run
        return run

    def _run(self, client: Any, run_id: str) -> "seetrain.Run":
        run = self.runs.get(run_id)
        return run if run is not None else self._open(client, client.get_run(run_id))

    def _on_create_run(self, result: Any, client: Any, *args: Any, **kwargs: Any) -> None:
        self._open(client, result)

    def _on_log_metric(self, _result: Any, client: Any, run_id: str, key: str, value: Any,
                       timestamp: Any = None, step: Optional[int] = None, *args: Any, **kwargs: Any) -> None:
        self._run(client, run_id).log({key: _float(value)}, step=int(step) if step is not None else 0)

    def _on_log_param(self, _result: Any, client: Any, run_id: str, key: str, value: Any, *args: Any,
                      **kwargs: Any) -> None:
        self._run(client, run_id).config.update({key: str(value)})

    def _on_set_tag(self, _result: Any, client: Any, run_id: str, key: str, value: Any, *args: Any,
                    **kwargs: Any) -> None:
        self._run(client, run_id).config.update({f"mlflow/tags/{key}": str(value)})

    def _on_log_batch(self, _result: Any, client: Any, run_id: str, metrics: Sequence[Any] = (),
                      params: Sequence[Any] = (), tags: Sequence[Any] = (), *args: Any, **kwargs: Any) -> None:
        run = self._run(client, run_id)
        config = {p.key: str(p.value) for p in params}
        config.update({f"mlflow/tags/{t.key}": str(t.value) for t in tags})
        if config:
            run.config.update(config)
        by_step: Dict[int, Dict[str, Any]] = {}
        for m in metrics:
            step = int(m.step) if m.step is not None else 0
            data = by_step.setdefault(step, {})
            if m.key in data:  # the same key twice at one step: keep both points, in order
                run.log(data, step=step)
                by_step[step] = data = {}
            data[m.key] = _float(m.value)
        for step, data in by_step.items():
            if data:
                run.log(data, step=step)

    def _on_set_terminated(self, _result: Any, client: Any, run_id: str, status: Optional[str] = None,
                           *args: Any, **kwargs: Any) -> None:
        with self._lock:
            run = self.runs.pop(run_id, None)
        if run is not None:
            status = status or "FINISHED"
            run.config.update({"mlflow/status": status})
            run.finish(STATUS.get(status, "success"))

    @property
    def experiment(self) -> Optional["seetrain.Run"]:
        """The SeeTrain run of the most recent MLflow run still open (None if none)."""
        return next(reversed(list(self.runs.values())), None)


def sync_mlflow(project: Optional[str] = None, **init_kwargs: Any) -> MLflowSync:
    """Mirror every MLflow run (fluent API and ``MlflowClient``) into SeeTrain; returns the handle.

    ``project`` overrides the MLflow experiment name as the SeeTrain project; ``init_kwargs`` go to
    :func:`seetrain.init` (``logdir``, ``tags``, ``mode`` ...). Calling it again replaces the earlier mirror.
    """
    return MLflowSync.start(project=project, **init_kwargs)


# --- importing from a tracking store ----------------------------------------------------------------
def _uri(tracking_uri: str) -> str:
    if "://" in tracking_uri or tracking_uri.startswith("file:"):
        if tracking_uri.startswith("sqlite:///"):
            path = tracking_uri[len("sqlite:///"):]
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no SQLite database at {path} (from --tracking-uri {tracking_uri})")
        elif tracking_uri.startswith("file:"):
            path = tracking_uri[len("file:"):]
            path = path[2:] if path.startswith("//") else path
            if not os.path.isdir(path):
                raise FileNotFoundError(f"no MLflow file store at {path} (from --tracking-uri {tracking_uri})")
            _allow_file_store()
        return tracking_uri
    if not os.path.isdir(tracking_uri):
        raise FileNotFoundError(f"{tracking_uri} is neither a tracking URI (file:..., sqlite:///..., http://...) "
                                "nor an MLflow file store directory (./mlruns)")
    _allow_file_store()
    return "file:" + os.path.abspath(tracking_uri)


def _allow_file_store() -> None:
    """MLflow 3.x refuses file stores unless MLFLOW_ALLOW_FILE_STORE is set; reading an old one is fine."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def find_runs(tracking_uri: str, experiments: Optional[Iterable[str]] = None) -> List[Any]:
    """Every run of the store (of the named experiments only, if given), oldest first."""
    client = _client_class()(tracking_uri=_uri(tracking_uri))
    wanted = set(experiments or ())
    exps = list(client.search_experiments())
    if wanted:
        missing = wanted - {e.name for e in exps}
        if missing:
            raise ValueError(f"no MLflow experiment named {', '.join(sorted(missing))}; the store has: "
                             f"{', '.join(sorted(e.name for e in exps)) or 'none'}")
        exps = [e for e in exps if e.name in wanted]
    runs: List[Any] = []
    for exp in exps:
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], max_results=_PAGE, page_token=token,
                                      order_by=["attributes.start_time ASC"])
            runs.extend(page)
            token = page.token
            if not token:
                break
    return runs


def metric_points(client: Any, run_id: str, keys: Iterable[str]) -> List[Tuple[int, int, str, float]]:
    """All metric points of a run as (timestamp, step, key, value), in logging-time order."""
    points = []
    for key in keys:
        for m in client.get_metric_history(run_id, key):
            points.append((int(m.timestamp), int(m.step), key, m.value))
    points.sort(key=lambda p: (p[0], p[1]))
    return points


def import_run(tracking_uri: str, mlflow_run: Any, project: Optional[str] = None,
               logdir: Optional[str] = None) -> Tuple[str, int]:
    """Write one SeeTrain run from an MLflow run; returns (run directory, metric records)."""
    client = _client_class()(tracking_uri=_uri(tracking_uri))
    info = mlflow_run.info
    experiment = client.get_experiment(info.experiment_id)
    exp_name = experiment.name if experiment is not None else None
    try:
        run = seetrain.init(project=project or exp_name or FRAMEWORK, experiment_name=info.run_name,
                            id=run_id_for(info.run_id), logdir=logdir, system_metrics=False,
                            config={**run_config(info, exp_name, dict(mlflow_run.data.params),
                                                 dict(mlflow_run.data.tags)), "imported": True})
    except ValueError as exc:
        if "already exists" in str(exc):
            raise FileExistsError(f"MLflow run {info.run_id} was imported before (SeeTrain run "
                                  f"{run_id_for(info.run_id)}); delete it to import again") from exc
        raise
    n = 0
    try:
        batch: Dict[str, Any] = {}
        at: Optional[Tuple[int, int]] = None
        for timestamp, step, key, value in metric_points(client, info.run_id, mlflow_run.data.metrics):
            if batch and ((timestamp, step) != at or key in batch):
                run.log(batch, step=at[1])
                n += 1
                batch = {}
            at = (timestamp, step)
            batch[key] = value
        if batch:
            run.log(batch, step=at[1])
            n += 1
    except BaseException:
        run.finish("failed")
        raise
    run.config.update({"mlflow/status": info.status})
    run.finish(STATUS.get(info.status, "crashed"))  # RUNNING: its process never ended it
    return run.dir, n


__all__ = ["sync_mlflow", "MLflowSync", "find_runs", "import_run", "metric_points", "run_id_for"]
