"""The PyTorch Lightning backend (``trainer.backend=lightning``): mixed precision where the device
supports it, gradient accumulation, checkpoints and resume, LR schedules and DDP over the devices
present, all from the ``trainer`` config; SeeTrain tracking through the Lightning adapter."""

from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Any, Dict, List, Optional

import lightning.pytorch as L
import torch

from ..errors import TrainConfigError
from ..job import FitResult, Job
from ..resume import checkpoint_run
from . import check_common
from .lit_modules import ClassifierModule, LanguageModelModule, ValidationReport
from .torch_data import batches

NAME = "lightning"
MODEL_BACKEND = "torch"
TASKS = ("classification", "language_model")


def auto_precision(accelerator: str) -> str:
    """``bf16-mixed`` on GPUs with bfloat16, ``16-mixed`` on other CUDA GPUs, ``32-true`` otherwise."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def resume_path(value: Any) -> str:
    """A checkpoint file from ``trainer.resume``: a ``.ckpt`` path or a run directory (its last.ckpt)."""
    path = os.path.abspath(os.path.expanduser(str(value)))
    if os.path.isdir(path):
        for cand in (os.path.join(path, "checkpoints", "last.ckpt"), os.path.join(path, "last.ckpt")):
            if os.path.isfile(cand):
                return cand
        raise TrainConfigError(f"trainer.resume={value}: no checkpoints/last.ckpt in that directory", key="trainer.resume")
    if not os.path.isfile(path):
        raise TrainConfigError(f"trainer.resume={value}: no such checkpoint file", key="trainer.resume")
    return path


def check(config: Dict[str, Any]) -> None:
    check_common(sys.modules[__name__], config)
    t = config["trainer"]
    if t.get("resume"):
        ckpt = resume_path(t["resume"])
        if config["logger"].get("enabled", True):
            checkpoint_run(ckpt)  # a run still being written is refused here, before anything starts
    if t["precision"] in ("16-mixed", "16-true") and t["accelerator"] == "cpu":
        raise TrainConfigError("trainer.precision=16-mixed needs a GPU; on CPU use bf16-mixed or 32-true (or auto)",
                               key="trainer.precision")


def build_model(job: Job) -> torch.nn.Module:
    from ..registry import MODELS
    from .torch_weights import load_pretrained

    entry = MODELS.get(job.model_name, MODEL_BACKEND)
    try:
        model = entry.fn(**job.model_kwargs)
    except TypeError as exc:
        raise TrainConfigError(f"model {job.model_name!r}: {exc}", key="model") from None
    if job.pretrained:
        load_pretrained(model, job.pretrained, job.pretrained_md5, entry)
    x, _ = job.val.batch(list(range(min(2, len(job.val)))))
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.from_numpy(x))
    except RuntimeError as exc:
        raise TrainConfigError(f"model {job.model_name!r} cannot take inputs of shape {tuple(x.shape[1:])} from the "
                               f"data: {exc}", key="data.image_size") from None
    if job.task == "classification" and tuple(out.shape) != (x.shape[0], job.model_kwargs["num_classes"]):
        raise TrainConfigError(f"model {job.model_name!r} returned shape {tuple(out.shape)} for a batch of "
                               f"{x.shape[0]}; a classifier must return (batch, num_classes)", key="model")
    model.train()
    return model


def _callbacks(job: Job, t: Dict[str, Any], report: ValidationReport) -> List[Any]:
    cbs: List[Any] = [report]
    ck = t["checkpoint"]
    if ck["enabled"]:
        cbs.append(L.callbacks.ModelCheckpoint(
            dirpath=ck.get("dirpath"), monitor=job.metric, mode=job.mode, save_top_k=int(ck["save_top_k"]),
            save_last=bool(ck["save_last"]), filename="epoch{epoch}-" + job.metric.replace("/", "_") + "{" + job.metric + ":.4f}",
            auto_insert_metric_name=False))
    es = t["early_stopping"]
    if es["enabled"]:
        cbs.append(L.callbacks.EarlyStopping(monitor=job.metric, mode=job.mode, patience=int(es["patience"]),
                                             min_delta=float(es["min_delta"])))
    return cbs


def _logger(job: Job, ckpt: Optional[str]):
    """The SeeTrain logger: a new run, or the run ``ckpt`` was saved in (resumed, its steps going on)."""
    lc = job.config["logger"]
    if not lc.get("enabled", True):
        return None
    from seetrain.integration.callbacks.lightning import SeeTrainLogger

    tags = list(lc.get("tags") or []) + ([f"group:{lc['group']}"] if lc.get("group") else [])
    earlier = checkpoint_run(ckpt) if ckpt else None
    if earlier is not None:
        return SeeTrainLogger(project=earlier.project, experiment_name=earlier.name, description=lc.get("description"),
                              config=job.config, logdir=earlier.logdir, tags=tags or None, id=earlier.id, resume=True)
    return SeeTrainLogger(project=lc.get("project") or "train", experiment_name=lc.get("experiment_name") or job.run_name,
                          description=lc.get("description"), config=job.config, logdir=lc.get("logdir"),
                          tags=tags or None)


def make_trainer(job: Job, callbacks: List[Any], logger: Any) -> "L.Trainer":
    t = job.config["trainer"]
    precision = auto_precision(t["accelerator"]) if t["precision"] == "auto" else t["precision"]
    ck = t["checkpoint"]
    try:
        return L.Trainer(
            max_epochs=int(t["max_epochs"]), max_steps=int(t["max_steps"]), accelerator=t["accelerator"],
            devices=t["devices"], strategy=t["strategy"], num_nodes=int(t["num_nodes"]), precision=precision,
            accumulate_grad_batches=int(t["accumulate_grad_batches"]), gradient_clip_val=t["gradient_clip_val"],
            val_check_interval=t["val_check_interval"], check_val_every_n_epoch=int(t["check_val_every_n_epoch"]),
            limit_train_batches=t["limit_train_batches"], limit_val_batches=t["limit_val_batches"],
            log_every_n_steps=int(t["log_every_n_steps"]), enable_progress_bar=bool(t["enable_progress_bar"]),
            deterministic=bool(t["deterministic"]), enable_checkpointing=bool(ck["enabled"]),
            logger=logger if logger is not None else False, callbacks=callbacks, num_sanity_val_steps=0,
            enable_model_summary=False, default_root_dir=os.path.abspath("seetrain_outputs"),
        )
    except (ValueError, TypeError, L.utilities.exceptions.MisconfigurationException) as exc:
        raise TrainConfigError(f"trainer settings rejected by Lightning: {exc}", key="trainer") from None


def fit(job: Job, model: torch.nn.Module) -> FitResult:
    """Train ``model`` on ``job``; the SeeTrain run is created here, after every check has passed."""
    t = job.config["trainer"]
    threads = t.get("num_threads")
    if threads == "auto":
        on_cpu = t["accelerator"] == "cpu" or not torch.cuda.is_available()
        threads = 1 if on_cpu and sum(p.numel() for p in model.parameters()) < 1_000_000 else None
    if threads:
        torch.set_num_threads(int(threads))
    L.seed_everything(int(job.config["seed"]), workers=True, verbose=False)
    report = ValidationReport(job.metric, job.mode, job.hooks)
    ckpt = resume_path(t["resume"]) if t.get("resume") else None
    logger = _logger(job, ckpt)
    trainer = make_trainer(job, _callbacks(job, t, report), logger)  # Lightning's own checks, still no run
    module_cls = ClassifierModule if job.task == "classification" else LanguageModelModule
    module = module_cls(model, job.config["optim"], job.config["scheduler"])
    seed = int(job.config["seed"])
    train_dl = batches(job.train, job.batch_size, True, job.num_workers, seed, trainer.world_size)
    val_dl = batches(job.val, job.batch_size, False, job.num_workers, seed, trainer.world_size)
    status, t0 = "crashed", time.perf_counter()
    try:
        if logger is not None and trainer.is_global_zero:
            logger.experiment.config.update({"data_info": job.info, "num_parameters": sum(p.numel() for p in model.parameters()),
                                             "backend": NAME, "world_size": trainer.world_size,
                                             "precision_used": str(trainer.precision)})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
            trainer.fit(module, train_dataloaders=train_dl, val_dataloaders=val_dl, ckpt_path=ckpt)
        status = "killed" if report.stop_reason else "success"
        if report.stop_reason and logger is not None and trainer.is_global_zero:
            logger.experiment.summary["stop_reason"] = report.stop_reason  # e.g. "pruned" (a sweep's bad trial)
    finally:
        if logger is not None:
            logger.finish(status)
    ckcb = trainer.checkpoint_callback if t["checkpoint"]["enabled"] else None
    run = logger.experiment if logger is not None and trainer.is_global_zero else None
    return FitResult(
        metric=job.metric, best=report.best, best_epoch=report.best_epoch, last=dict(report.last),
        steps=int(trainer.global_step), epochs=int(trainer.current_epoch), seconds=time.perf_counter() - t0,
        run_dir=getattr(run, "dir", None), run_id=getattr(run, "id", None),
        best_checkpoint=(getattr(ckcb, "best_model_path", None) or None) if ckcb else None,
        last_checkpoint=(getattr(ckcb, "last_model_path", None) or None) if ckcb else None,
        is_global_zero=trainer.is_global_zero, stop_reason=report.stop_reason)
