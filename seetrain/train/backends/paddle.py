"""The PaddlePaddle backend (``trainer.backend=paddle``): the same configs, data registry and model
names as the Lightning backend, trained by ``paddle.Model.fit`` with the models of
:mod:`seetrain.train.models.paddle_zoo`; checkpoints and resume, LR schedules, gradient accumulation
and clipping, early stopping, and mixed precision where PaddlePaddle supports it on the device;
SeeTrain tracking through :class:`~seetrain.integration.callbacks.paddle.SeeTrainPaddleCallback`.

Tasks: classification and segmentation. What it does not do (each gives a clear error naming the
alternative): the language-model and regression tasks,
several devices or nodes in one command, ``trainer.val_check_interval`` other than once per epoch,
float64, and mixed precision on a CPU where PaddlePaddle has none (``32-true`` is used for ``auto``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from typing import Any, Dict, Optional, Tuple

from ...integration.model_artifacts import log_trained_checkpoints
from ..errors import TrainConfigError, TrainingInterrupted
from ..job import FitResult, Job
from ..resume import checkpoint_run, run_init_kwargs
from . import announce, check_common, gradient_clip, limit_batches, untracked_checkpoint_dir

try:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ccache.*")  # paddle's note about compiling extensions
        import paddle
except ImportError as exc:  # get_backend reports a TrainConfigError as it is
    raise TrainConfigError(f"trainer.backend=paddle needs PaddlePaddle ({exc}); install it with: "
                           'pip install "seetrain[train,paddle]"', key="trainer.backend") from None

from .paddle_callbacks import CKPT_EXT, Progress, StepSchedule, ValidationReport
from .paddle_data import Batches
from .paddle_optim import build_optimizer, build_schedule
from .paddle_precision import ALT, precision_of

NAME = "paddle"
MODEL_BACKEND = "paddle"
TASKS = ("classification", "segmentation")


# --- device -------------------------------------------------------------------------------
def _has_gpu() -> bool:
    return bool(paddle.device.is_compiled_with_cuda()) and paddle.device.cuda.device_count() > 0


def device_of(accelerator: str) -> str:
    if accelerator in ("gpu", "cuda"):
        if not _has_gpu():
            raise TrainConfigError(f"trainer.accelerator={accelerator}: this PaddlePaddle build sees no GPU (a CPU "
                                   "build, or no CUDA device); install paddlepaddle-gpu, or use trainer.accelerator=cpu",
                                   key="trainer.accelerator")
        return "gpu"
    if accelerator == "cpu" or (accelerator == "auto" and not _has_gpu()):
        return "cpu"
    if accelerator == "auto":
        return "gpu"
    raise TrainConfigError(f"trainer.accelerator={accelerator} is not available with trainer.backend=paddle (cpu, gpu "
                           f"or auto); use {ALT} for it", key="trainer.accelerator")


# --- resume ---------------------------------------------------------------------------------------
def resume_prefix(value: Any) -> str:
    """The checkpoint prefix (``.../last``) from ``trainer.resume``: a run directory, a ``.pdparams`` file or its prefix."""
    path = os.path.abspath(os.path.expanduser(str(value)))
    if path.endswith(".ckpt"):
        raise TrainConfigError(f"trainer.resume={value} is a Lightning checkpoint; trainer.backend=paddle resumes from its "
                               f"own (*.pdparams); resume this one with {ALT}", key="trainer.resume")
    if os.path.isdir(path):
        for cand in (os.path.join(path, "checkpoints", "last"), os.path.join(path, "last")):
            if os.path.isfile(cand + CKPT_EXT):
                return cand
        raise TrainConfigError(f"trainer.resume={value}: no checkpoints/last.pdparams in that directory (a run of "
                               f"trainer.backend=paddle with checkpoints on has one)", key="trainer.resume")
    prefix = path[:-len(CKPT_EXT)] if path.endswith(CKPT_EXT) else path
    if not os.path.isfile(prefix + CKPT_EXT):
        raise TrainConfigError(f"trainer.resume={value}: no such checkpoint file", key="trainer.resume")
    return prefix


def _resume_state(prefix: str) -> Dict[str, Any]:
    try:
        with open(prefix + ".json", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


# --- the backend interface ------------------------------------------------------------------------
def check(config: Dict[str, Any]) -> None:
    check_common(sys.modules[__name__], config)
    t = config["trainer"]
    device = device_of(str(t["accelerator"]))
    precision_of(str(t["precision"]), device)
    devices = t["devices"]
    if not (devices in ("auto", 1, "1") or (isinstance(devices, list) and len(devices) == 1)):
        raise TrainConfigError(f"trainer.devices={devices}: the paddle backend trains on one device per command; use "
                               f"{ALT} for several devices (DDP)", key="trainer.devices")
    if str(t["strategy"]) != "auto" or int(t["num_nodes"]) != 1:
        key = "trainer.strategy" if str(t["strategy"]) != "auto" else "trainer.num_nodes"
        raise TrainConfigError(f"{key}={t[key.split('.')[1]]}: distributed strategies are not available with "
                               f"trainer.backend=paddle; use {ALT}", key=key)
    if t["check_val_every_n_epoch"] is None:
        raise TrainConfigError(f"trainer.check_val_every_n_epoch=null (validation every val_check_interval batches "
                               f"across epochs) is not available with trainer.backend=paddle; give a number of "
                               f"epochs, or use {ALT}", key="trainer.check_val_every_n_epoch")
    if t["val_check_interval"] not in (1, 1.0):
        raise TrainConfigError(f"trainer.val_check_interval={t['val_check_interval']}: the paddle backend validates at "
                               f"the end of an epoch (1.0); use trainer.check_val_every_n_epoch, or {ALT}",
                               key="trainer.val_check_interval")
    gradient_clip(t)
    for key in ("limit_train_batches", "limit_val_batches"):
        limit_batches(t[key], 1, f"trainer.{key}")
    if t.get("resume"):
        prefix = resume_prefix(t["resume"])
        if config["logger"].get("enabled", True):
            checkpoint_run(prefix + CKPT_EXT)  # a run still being written is refused here, before anything starts


def _load_pretrained(net: Any, job: Job) -> None:
    from ..download import cache_dir, fetch

    source = job.pretrained
    if source is True:
        raise TrainConfigError(f"model {job.model_name!r} has no published PaddlePaddle weights; give model.pretrained a "
                               f"URL or a file of a paddle state dict (*.pdparams), or use {ALT} for the PyTorch weights",
                               key="model.pretrained")
    source = str(source)
    if source.startswith(("http://", "https://", "file://")):
        path = fetch(source, os.path.join(cache_dir(None, "weights"), source.rsplit("/", 1)[-1]), job.pretrained_md5,
                     what=f"pretrained weights for {job.model_name}", key="model.pretrained")
    else:
        path = os.path.abspath(os.path.expanduser(source))
        if not os.path.isfile(path):
            raise TrainConfigError(f"model.pretrained={source}: no such file", key="model.pretrained")
    try:
        sd = paddle.load(path)
    except Exception as exc:
        raise TrainConfigError(f"model.pretrained: {path} is not a PaddlePaddle state dict ({exc})", key="model.pretrained") from None
    own = net.state_dict()
    usable = {k: v for k, v in sd.items() if k in own and list(getattr(v, "shape", [])) == list(own[k].shape)}
    if not usable:
        raise TrainConfigError(f"model.pretrained={source}: none of its tensors fit model {job.model_name!r} "
                               "(different architecture?)", key="model.pretrained")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skip loading for")
        net.set_state_dict(usable)
    skipped = sorted({k.rsplit(".", 1)[0] for k in own if k not in usable})
    if skipped:
        warnings.warn(f"seetrain train: pretrained weights loaded except {', '.join(skipped[:6])}"
                      f"{' ...' if len(skipped) > 6 else ''} (shapes differ: trained from scratch)", stacklevel=2)


def build_model(job: Job) -> "paddle.nn.Layer":
    from ..registry import MODELS

    t = job.config["trainer"]
    paddle.set_device(device_of(str(t["accelerator"])))
    paddle.seed(int(job.config["seed"]))
    entry = MODELS.get(job.model_name, MODEL_BACKEND)
    try:
        with paddle.utils.unique_name.guard():  # the same parameter names in every build (checkpoints match)
            net = entry.fn(**job.model_kwargs)
    except TypeError as exc:
        raise TrainConfigError(f"model {job.model_name!r}: {exc}", key="model") from None
    if job.pretrained:
        _load_pretrained(net, job)
    x, _ = job.val.batch(list(range(min(2, len(job.val)))))
    net.eval()
    try:
        with paddle.no_grad():
            out = net(paddle.to_tensor(x))
    except (RuntimeError, ValueError) as exc:
        raise TrainConfigError(f"model {job.model_name!r} cannot take inputs of shape {tuple(x.shape[1:])} from the "
                               f"data: {str(exc).strip().splitlines()[0]}", key="data.image_size") from None
    if job.task == "segmentation":
        want = (x.shape[0], job.model_kwargs["num_classes"]) + tuple(x.shape[2:])
        if tuple(out.shape) != want:
            raise TrainConfigError(f"model {job.model_name!r} returned shape {tuple(out.shape)} for images of shape "
                                   f"{tuple(x.shape)}; a segmentation model must return (batch, num_classes, height, "
                                   f"width) = {want}", key="model")
    elif tuple(out.shape) != (x.shape[0], job.model_kwargs["num_classes"]):
        raise TrainConfigError(f"model {job.model_name!r} returned shape {tuple(out.shape)} for a batch of "
                               f"{x.shape[0]}; a classifier must return (batch, num_classes)", key="model")
    threads = t.get("num_threads")
    if threads == "auto":  # as the Lightning backend: one thread for models under 1M parameters on CPU
        threads = 1 if device_of(str(t["accelerator"])) == "cpu" and num_parameters(net) < 1_000_000 else None
    if threads:
        paddle.base.core.set_num_threads(int(threads))
    net.train()
    return net


def num_parameters(net: "paddle.nn.Layer") -> int:
    """Trainable parameters (batch-norm statistics are parameters in paddle, buffers in torch: not counted)."""
    return int(sum(int(p.size) for p in net.parameters() if not p.stop_gradient))


def _callback(job: Job, t: Dict[str, Any], start: Dict[str, Any], prefix: Optional[str]):
    """The SeeTrain callback: a new run, or the run the checkpoint at ``prefix`` was saved in (resumed)."""
    lc = job.config["logger"]
    if not lc.get("enabled", True):
        return None
    from .paddle_callbacks import tracking_callback

    return tracking_callback(
        log_every_n_steps=int(t["log_every_n_steps"]), eval_prefix="val", initial_step=int(start.get("batches", 0)),
        initial_epoch=int(start.get("epoch", 0)), **run_init_kwargs(job.config, job.run_name, prefix and prefix + CKPT_EXT))


def _plan_steps(t: Dict[str, Any], per_epoch_batches: int, start: Dict[str, Any]) -> Tuple[int, int, Optional[int]]:
    """(optimizer steps in the whole training, epochs to run now, batches to run now or None)."""
    acc = int(t["accumulate_grad_batches"])
    per_epoch = -(-per_epoch_batches // acc)
    total = per_epoch * int(t["max_epochs"])
    if int(t["max_steps"]) > 0:
        total = min(total, int(t["max_steps"]))
    done_epochs, done_steps = int(start.get("epoch", 0)), int(start.get("steps", 0))
    epochs = max(int(t["max_epochs"]) - done_epochs, 0)
    iters = None
    if int(t["max_steps"]) > 0:
        iters = max((int(t["max_steps"]) - done_steps) * acc, 0)
    return total, epochs, iters


def _loss_and_metric(job: Job):
    """The task's loss and validation metric (names as the Lightning backend's: ``acc``; ``miou``, ``pixel_acc``)."""
    if job.task == "segmentation":
        from .paddle_metrics import SegmentationMetric

        ignore = int(job.info.get("ignore_index", 255))
        return (paddle.nn.CrossEntropyLoss(ignore_index=ignore, axis=1),
                SegmentationMetric(int(job.info["num_classes"]), ignore))
    return paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy()


def fit(job: Job, net: "paddle.nn.Layer") -> FitResult:
    """Train ``net`` on ``job`` with ``paddle.Model.fit``; the SeeTrain run is created when training starts."""
    with paddle.utils.unique_name.guard():  # optimizer state names as in the checkpoint, also within one process
        return _fit(job, net)


def _fit(job: Job, net: "paddle.nn.Layer") -> FitResult:
    t, seed = job.config["trainer"], int(job.config["seed"])
    device = device_of(str(t["accelerator"]))
    prefix = resume_prefix(t["resume"]) if t.get("resume") else None
    start = _resume_state(prefix) if prefix else {}
    train = Batches(job.train, job.batch_size, True, seed, t["limit_train_batches"])
    val = Batches(job.val, job.batch_size, False, seed, t["limit_val_batches"], key="trainer.limit_val_batches")
    train.epoch = int(start.get("epoch", 0))
    total, epochs, iters = _plan_steps(t, len(train), start)
    train.remaining = iters  # max_steps: the loader ends the epoch there (paddle's num_iters also counts eval batches)
    acc = int(t["accumulate_grad_batches"])
    schedule = build_schedule(float(job.config["optim"]["lr"]), job.config["scheduler"], total, len(train) / acc)
    precision = precision_of(str(t["precision"]), device)
    optimizer = build_optimizer(net, job.config["optim"], schedule, t.get("gradient_clip_val"))
    precision.apply(net, optimizer)
    model = paddle.Model(net)
    model.prepare(optimizer, *_loss_and_metric(job), amp_configs=precision.hapi_amp_configs)
    if prefix:
        model.load(prefix)
        if isinstance(schedule, paddle.optimizer.lr.LRScheduler):  # its step count restored: the rate from this
            schedule.last_lr = schedule.get_lr()                      # config's schedule (max_epochs may have grown)
    cb = _callback(job, t, start, prefix)
    ck = t["checkpoint"]
    ckpt_dir = ck.get("dirpath")
    report = ValidationReport(job.metric, job.mode, job.hooks, accumulate=acc, eval_freq=int(t["check_val_every_n_epoch"]),
                              start_epoch=int(start.get("epoch", 0)), start_batches=int(start.get("batches", 0)),
                              start_steps=int(start.get("steps", 0)), best=start.get("best"), best_epoch=start.get("best_epoch"),
                              early_stopping=t["early_stopping"], checkpoint=ck)
    report.max_steps = int(t["max_steps"]) if int(t["max_steps"]) > 0 else None
    report.config = job.config
    progress = Progress(bool(t["enable_progress_bar"]), job.metric, int(t["log_every_n_steps"]), int(start.get("epoch", 0)))
    callbacks = [report] + ([cb] if cb is not None else []) + [StepSchedule(acc), progress]
    status, t0 = "crashed", time.perf_counter()
    try:
        if cb is not None:
            run = cb.experiment
            run.config.update({"data_info": job.info, "num_parameters": num_parameters(net),
                               "backend": NAME, "precision": precision.dtype})
            ckpt_dir = ckpt_dir or os.path.join(run.dir, "checkpoints")
        report.ckpt_dir = os.path.abspath(os.path.expanduser(ckpt_dir or untracked_checkpoint_dir()))
        announce(cb.experiment if cb is not None else None, report.ckpt_dir if ck["enabled"] else None)
        if epochs > 0 and iters != 0:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*always track global mean and variance.*")
                model.fit(train, val, epochs=epochs, eval_freq=int(t["check_val_every_n_epoch"]),
                          log_freq=int(t["log_every_n_steps"]), verbose=0,  # the progress bar: Progress
                          accumulate_grad_batches=acc, callbacks=callbacks)
        status = "killed" if report.stop_reason else "success"
    except KeyboardInterrupt:
        status = "killed"  # Ctrl-C: stopped on purpose, not a crash
        last = report.last_checkpoint
        run = cb.experiment if cb is not None else None
        if last is not None and run is not None and os.path.dirname(last) == os.path.abspath(os.path.join(run.dir, "checkpoints")):
            last = os.path.abspath(run.dir)  # resuming the run directory continues the run
        raise TrainingInterrupted(report.steps, last) from None
    finally:
        progress.bar.close()
        if cb is not None:
            if status == "success":  # best and last checkpoints: model artifacts (issue 26), as on lightning
                log_trained_checkpoints(cb.experiment, report.best_checkpoint, report.last_checkpoint, report.steps,
                                        NAME)
            cb.finish(status)
    run = cb.experiment if cb is not None else None
    return FitResult(
        metric=job.metric, best=report.best, best_epoch=report.best_epoch, last=dict(report.last), steps=report.steps,
        epochs=report.epochs_done, seconds=time.perf_counter() - t0, run_dir=getattr(run, "dir", None),
        run_id=getattr(run, "id", None), best_checkpoint=report.best_checkpoint, last_checkpoint=report.last_checkpoint,
        stop_reason=report.stop_reason)
