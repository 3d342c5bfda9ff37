"""The PyTorch Lightning backend (``trainer.backend=lightning``): mixed precision where the device
supports it, gradient accumulation, checkpoints and resume, LR schedules and DDP over the devices
present, all from the ``trainer`` config, with SeeTrain tracking.

Lightning Fabric does the device, precision, strategy and launch work; the loop itself is
:class:`~.torch_loop.TrainLoop`, which costs microseconds a step where ``lightning.Trainer``'s hooks
cost milliseconds (docs/train.md has the figures)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, Optional

import torch
from lightning.fabric import Fabric, seed_everything

from ...integration.model_artifacts import log_trained_checkpoints
from ..errors import TrainConfigError, TrainingInterrupted
from ..job import FitResult, Job
from ..resume import checkpoint_run, run_init_kwargs
from . import announce, check_common, float16_on_cpu, gradient_clip, limit_batches, untracked_checkpoint_dir
from .early_stopping import EarlyStopping
from .torch_checkpoints import CheckpointKeeper, check_checkpoint
from .torch_data import batches
from .torch_loop import Schedule, TrainLoop
from .torch_optim import build_optimizer, build_scheduler
from .torch_tasks import step_for

NAME = "lightning"
FRAMEWORK = "pytorch_lightning"  # the run's _framework, as the Lightning adapter records it
MODEL_BACKEND = "torch"
TASKS = ("classification", "regression", "language_model", "segmentation")


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
    gradient_clip(t)
    if t.get("resume"):
        ckpt = resume_path(t["resume"])
        if config["logger"].get("enabled", True):
            checkpoint_run(ckpt)  # a run still being written is refused here, before anything starts
        check_checkpoint(ckpt)
    if t["precision"] in ("16-mixed", "16-true") and on_cpu(str(t["accelerator"])):
        raise float16_on_cpu(t["precision"])


def on_cpu(accelerator: str) -> bool:
    """Does ``trainer.accelerator`` put this run on the CPU (``auto`` with no GPU)?"""
    if accelerator == "cpu":
        return True
    mps = getattr(torch.backends, "mps", None)
    return accelerator == "auto" and not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def build_model(job: Job) -> torch.nn.Module:
    from ..registry import MODELS
    from .torch_weights import load_pretrained

    entry = MODELS.get(job.model_name, MODEL_BACKEND)
    seed_everything(int(job.config["seed"]), workers=True, verbose=False)  # the same config, the same first weights
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
    want = (x.shape[0], job.info.get("num_classes")) + tuple(x.shape[2:])
    if job.task == "segmentation" and tuple(out.shape) != want:
        raise TrainConfigError(f"model {job.model_name!r} returned shape {tuple(out.shape)} for images of shape "
                               f"{tuple(x.shape)}; a segmentation model must return (batch, num_classes, height, "
                               f"width) = {want}", key="model")
    model.train()
    return model


def make_fabric(job: Job) -> Fabric:
    t = job.config["trainer"]
    precision = auto_precision(t["accelerator"]) if t["precision"] == "auto" else t["precision"]
    try:
        return Fabric(accelerator=t["accelerator"], devices=t["devices"], strategy=t["strategy"],
                      num_nodes=int(t["num_nodes"]), precision=precision)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise TrainConfigError(f"trainer settings rejected by Lightning: {exc}", key="trainer") from None


def make_schedule(t: Dict[str, Any], train_len: int, val_len: int) -> Schedule:
    """The loop's schedule from the ``trainer`` config and the batches per epoch (checked before any run)."""
    n_train = limit_batches(t["limit_train_batches"], train_len, "trainer.limit_train_batches")
    lv = t["limit_val_batches"]
    n_val = 0 if lv == 0 and not isinstance(lv, bool) else limit_batches(lv, val_len, "trainer.limit_val_batches")
    vci, per_epoch = t["val_check_interval"], t["check_val_every_n_epoch"]
    if isinstance(vci, float) and 0.0 < vci <= 1.0:
        val_every = max(1, int(n_train * vci))
    elif isinstance(vci, int) and not isinstance(vci, bool) and (1 <= vci <= n_train or per_epoch is None and vci >= 1):
        val_every = vci  # with check_val_every_n_epoch=null: every vci training batches, across epochs
    else:
        raise TrainConfigError(f"trainer.val_check_interval must be a fraction of an epoch in (0, 1] or a number of "
                               f"training batches from 1 to {n_train} (one epoch here; any number with "
                               f"trainer.check_val_every_n_epoch=null), got {vci!r}", key="trainer.val_check_interval")
    return Schedule(train_batches=n_train, val_batches=n_val, max_epochs=int(t["max_epochs"]),
                    max_steps=int(t["max_steps"]), accumulate=int(t["accumulate_grad_batches"]), val_every=val_every,
                    val_every_n_epochs=None if per_epoch is None else int(per_epoch), log_every=int(t["log_every_n_steps"]),
                    clip=gradient_clip(t))


def _start_run(job: Job, ckpt: Optional[str], extra: Dict[str, Any]):
    """The SeeTrain run: a new one, or the run ``ckpt`` was saved in (resumed, its steps going on)."""
    lc = job.config["logger"]
    if not lc.get("enabled", True):
        return None
    import seetrain

    run = seetrain.init(**run_init_kwargs(job.config, job.run_name, ckpt))
    run.config.update(extra)
    return run


def _threads(t: Dict[str, Any], model: torch.nn.Module) -> None:
    threads = t.get("num_threads")
    if threads == "auto":
        on_cpu = t["accelerator"] == "cpu" or not torch.cuda.is_available()
        threads = 1 if on_cpu and sum(p.numel() for p in model.parameters()) < 1_000_000 else None
    if threads:
        torch.set_num_threads(int(threads))


def fit(job: Job, model: torch.nn.Module) -> FitResult:
    """Train ``model`` on ``job``; the SeeTrain run is created here, after every check has passed."""
    fabric = make_fabric(job)  # Lightning's own checks of the device settings, still no run
    return fabric.launch(_fit, job, model)  # DDP: the other processes start here and run _fit too


def _fit(fabric: Fabric, job: Job, model: torch.nn.Module) -> FitResult:
    t, seed = job.config["trainer"], int(job.config["seed"])
    _threads(t, model)
    seed_everything(seed, workers=True, verbose=False)
    train = batches(job.train, job.batch_size, True, job.num_workers, seed, fabric.world_size)
    val = batches(job.val, job.batch_size, False, job.num_workers, seed, fabric.world_size)
    order_rng = getattr(train, "gen", None) or getattr(train, "generator", None)  # the data order's generator
    loaders = fabric.world_size > 1 or job.num_workers > 0
    if loaders:  # DataLoaders: a distributed sampler, batches moved to the device by Fabric
        train, val = fabric.setup_dataloaders(train, val)
    schedule = make_schedule(t, len(train), len(val))
    per_epoch = -(-schedule.train_batches // schedule.accumulate)
    total = per_epoch * schedule.max_epochs
    total = min(total, schedule.max_steps) if schedule.max_steps > 0 else total
    module = fabric.setup_module(model)
    wd = float(job.config["optim"].get("weight_decay", 0.0))
    decays = [p.ndim >= 2 and not any(s in n for s in job.no_weight_decay) for n, p in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    raw = build_optimizer([{"params": [p for p, d in zip(params, decays) if d], "weight_decay": wd},
                           {"params": [p for p, d in zip(params, decays) if not d], "weight_decay": 0.0}],
                          job.config["optim"])
    scheduler = build_scheduler(raw, job.config["scheduler"], total, per_epoch)
    optimizer = fabric.setup_optimizers(raw)
    precision = str(fabric.strategy.precision.precision)  # what Lightning settled on ("bf16-mixed", "32-true")
    ckpt = resume_path(t["resume"]) if t.get("resume") else None
    run = None
    if fabric.is_global_zero:
        run = _start_run(job, ckpt, {"data_info": job.info, "num_parameters": sum(p.numel() for p in model.parameters()),
                                     "backend": NAME, "_framework": FRAMEWORK, "world_size": fabric.world_size, "precision_used": precision})
    keeper = early = None
    ck, es = t["checkpoint"], t["early_stopping"]
    if ck["enabled"]:
        where = ck.get("dirpath") or (os.path.join(run.dir, "checkpoints") if run is not None and run.dir
                                      else untracked_checkpoint_dir())
        where = fabric.broadcast(os.path.abspath(os.path.expanduser(where)))
        keeper = CheckpointKeeper(where, job.metric, job.mode, int(ck["save_top_k"]), bool(ck["save_last"]))
    if fabric.is_global_zero:
        announce(run, keeper.dirpath if keeper is not None else None)
    if es["enabled"]:
        early = EarlyStopping(job.mode, int(es["patience"]), float(es["min_delta"]))
    loop = TrainLoop(fabric, step_for(job.task, job.info, job.loss_hooks), module, optimizer, scheduler, train, val, schedule, metric=job.metric,
                     mode=job.mode, hooks=job.hooks, run=run, keeper=keeper, early=early,
                     progress=bool(t["enable_progress_bar"]), mixed="mixed" in precision, config=job.config,
                     order_rng=order_rng, move_batches=not loaders and fabric.device.type != "cpu",
                     loop_hooks=job.loop_hooks)
    deterministic_before = torch.are_deterministic_algorithms_enabled()  # restored after training
    if t["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    status, t0 = "crashed", time.perf_counter()
    try:
        if ckpt:
            loop.restore(ckpt)
        pos = loop.fit()
        status = "killed" if loop.stop_reason else "success"
        if loop.stop_reason and run is not None:
            run.summary["stop_reason"] = loop.stop_reason  # e.g. "pruned" (a sweep's bad trial)
    except KeyboardInterrupt:
        status = "killed"
        last = keeper.last_path if keeper else None
        if last is not None and run is not None and os.path.dirname(last) == os.path.abspath(os.path.join(run.dir, "checkpoints")):
            last = os.path.abspath(run.dir)  # resuming the run directory continues the run
        raise TrainingInterrupted(loop.pos.global_step, last) from None
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        if run is not None:
            if status == "success" and keeper is not None:  # best and last checkpoints: model artifacts (issue 26)
                log_trained_checkpoints(run, keeper.best_path, keeper.last_path, loop.pos.global_step, NAME)
            run.finish(status)
    return FitResult(
        metric=job.metric, best=pos.best, best_epoch=pos.best_epoch, last=dict(pos.last), steps=pos.global_step,
        epochs=pos.epochs_done, seconds=time.perf_counter() - t0, run_dir=getattr(run, "dir", None),
        run_id=getattr(run, "id", None), best_checkpoint=keeper.best_path if keeper else None,
        last_checkpoint=keeper.last_path if keeper else None, is_global_zero=fabric.is_global_zero,
        stop_reason=loop.stop_reason)
