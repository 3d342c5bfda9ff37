"""The training loop of the ``lightning`` backend, written on Lightning Fabric.

Fabric supplies what depends on the hardware (device placement, mixed precision, DDP and the other
strategies, process launch, collective ops, checkpoint I/O); this loop supplies the schedule:
gradient accumulation and clipping, the per-step LR schedule, validation every
``val_check_interval`` and ``check_val_every_n_epoch``, ``max_steps`` / ``max_epochs``, logging every
``log_every_n_steps``, the progress bar, checkpoints, early stopping, the job's validation hooks and
loop hooks (:mod:`seetrain.train.loop_hooks`: the APT plugins), and resuming mid-epoch. A step costs its arithmetic plus a few microseconds of Python: Lightning's
``Trainer`` spends about 1.8 ms a step on hook dispatch on this project's CPU benchmark
(``benchmarks/bench_train.py``), which is 10 % of a small CNN's step.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

from ..loop_hooks import LoopState
from .early_stopping import EarlyStopping, improves
from .progress import ProgressBar
from .torch_checkpoints import FORMAT, CheckpointKeeper


@dataclass
class Schedule:
    """How long to train and when to validate, log and stop (all counted before the run starts)."""

    train_batches: int                  # per epoch, after limit_train_batches
    val_batches: int                    # per validation pass, after limit_val_batches (0: no validation)
    max_epochs: int
    max_steps: int                      # -1: until max_epochs
    accumulate: int = 1
    val_every: int = 0                  # validate after every this many training batches of an epoch
    val_every_n_epochs: Optional[int] = 1  # None: val_every counts training batches across epochs (Lightning's
                                           # check_val_every_n_epoch=None), so it may exceed one epoch
    log_every: int = 10                 # optimizer steps
    clip: Optional[float] = None


@dataclass
class Position:
    """Where the loop stands; saved in every checkpoint."""

    epoch: int = 0                      # the epoch in progress (or just finished)
    batches: int = 0                    # training batches done in it
    global_step: int = 0                # optimizer steps done
    best: Optional[float] = None
    best_epoch: Optional[int] = None
    last: Dict[str, float] = field(default_factory=dict)
    epochs_done: int = 0


class TrainLoop:
    """Trains ``module`` with ``optimizer`` (both set up by ``fabric``) on the job's task."""

    def __init__(self, fabric: Any, step: Any, module: Any, optimizer: Any, scheduler: Any, train: Any, val: Any,
                 schedule: Schedule, *, metric: str, mode: str, hooks: List[Any], run: Any = None,
                 keeper: Optional[CheckpointKeeper] = None, early: Optional[EarlyStopping] = None,
                 progress: bool = False, mixed: bool = False, config: Optional[Dict[str, Any]] = None,
                 order_rng: Optional[torch.Generator] = None, move_batches: bool = False,
                 loop_hooks: Sequence[Any] = ()) -> None:
        self.fabric, self.step, self.module, self.optimizer, self.scheduler = fabric, step, module, optimizer, scheduler
        self.train, self.val, self.s = train, val, schedule
        self.metric, self.mode, self.hooks, self.run = metric, mode, list(hooks), run
        self.keeper, self.early, self.config = keeper, early, config
        self.pos = Position()
        self.stop_reason: Optional[str] = None
        self.should_stop = False
        self.bar = ProgressBar(progress and fabric.is_global_zero)
        self.autocast = fabric.autocast if mixed else contextlib.nullcontext
        self.move = move_batches            # batches come on the CPU: move each to the device
        self.gen = order_rng                # draws each epoch's data order; saved so a resume repeats it
        self._epoch_rng: Optional[torch.Tensor] = None
        self._validated_at = -1  # global step of the last validation
        self._loss_sum: Optional[torch.Tensor] = None
        self._loss_n = 0
        self.loop_hooks = list(loop_hooks)  # LoopHook objects; none: the loop pays nothing for them

    def _state(self, step: Optional[int] = None) -> LoopState:
        """What the loop hooks see (the user's model and optimizer, not Fabric's wrappers)."""
        s, p = self.s, self.pos
        total = s.max_steps if s.max_steps >= 0 else s.max_epochs * -(-s.train_batches // s.accumulate)
        return LoopState(model=getattr(self.module, "module", self.module),
                         optimizer=getattr(self.optimizer, "optimizer", self.optimizer),
                         step=p.global_step if step is None else step, epoch=p.epoch, max_steps=int(total),
                         run=self.run, config=self.config or {}, is_global_zero=self.fabric.is_global_zero,
                         checkpoint_dir=self.keeper.dirpath if self.keeper is not None else None)

    def _call(self, event: str, *args: Any, step: Optional[int] = None) -> None:
        state = self._state(step)
        for hook in self.loop_hooks:
            getattr(hook, event)(state, *args)

    # --- checkpoint state ----------------------------------------------------------------------
    def state(self) -> Dict[str, Any]:
        p = self.pos
        loop = {"epoch": p.epoch, "batches": p.batches, "global_step": p.global_step, "best": p.best,
                "best_epoch": p.best_epoch, "epochs_done": p.epochs_done, "epoch_rng": self._epoch_rng,
                "rng": self.gen.get_state() if self.gen is not None else None, "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "loss_window": [float(self._loss_sum) if self._loss_sum is not None else 0.0, self._loss_n]}
        out: Dict[str, Any] = {"format": FORMAT, "model": self.module, "optimizer": self.optimizer, "loop": loop,
                               "config": self.config}
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler
        if self.early is not None:
            out["early_stopping"] = self.early
        return out

    def restore(self, path: str) -> None:
        """Load ``path`` (written by :meth:`state`) and go on where it was saved."""
        state: Dict[str, Any] = {"model": self.module, "optimizer": self.optimizer}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler
        rest = self.fabric.load(path, state, weights_only=True)
        if self.early is not None and "early_stopping" in rest:
            self.early.load_state_dict(rest["early_stopping"])
        if self.keeper is not None and "checkpoints" in rest:
            self.keeper.load_state_dict(rest["checkpoints"])
        loop = rest["loop"]
        p = self.pos
        p.epoch, p.batches, p.global_step = int(loop["epoch"]), int(loop["batches"]), int(loop["global_step"])
        p.best, p.best_epoch, p.epochs_done = loop.get("best"), loop.get("best_epoch"), int(loop.get("epochs_done", 0))
        self._validated_at = p.global_step
        mid_epoch = 0 < p.batches < self.s.train_batches
        rng = loop.get("epoch_rng") if mid_epoch else loop.get("rng")
        if self.gen is not None and rng is not None:
            self.gen.set_state(rng)
        total, n = loop.get("loss_window") or (0.0, 0)
        if n:  # the logged mean that spans the stop covers the same steps as without it
            self._loss_sum, self._loss_n = torch.tensor(total, device=self.fabric.device), int(n)
        if loop.get("torch_rng") is not None:  # dropout and other random layers draw as they would have
            torch.set_rng_state(loop["torch_rng"])
        if loop.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(loop["cuda_rng"])
        if not mid_epoch:  # saved at the end of an epoch (or of training): the next one starts afresh
            p.epoch = p.epoch + 1 if p.batches >= self.s.train_batches else max(p.epoch, p.epochs_done)
            p.batches, p.epochs_done = 0, p.epoch

    # --- the loop ------------------------------------------------------------------------------
    def fit(self) -> Position:
        s, p = self.s, self.pos
        if self.loop_hooks:
            self._call("on_train_start")
        try:
            for epoch in range(p.epoch, s.max_epochs):
                if self.should_stop or (s.max_steps >= 0 and p.global_step >= s.max_steps):
                    break
                p.epoch = epoch
                self._train_epoch(epoch, p.batches)
                p.epochs_done = epoch + 1
                if p.batches >= s.train_batches:
                    p.batches = 0
            if s.val_batches and self._validated_at != p.global_step and p.global_step > 0:
                self.validate()  # the final model's figure (training stopped between validations)
            elif self.keeper is not None and self._validated_at != p.global_step:
                self.keeper.save(self.fabric, self.state(), p.epoch, p.global_step, None)
        except BaseException as exc:
            if self.loop_hooks:
                self._call("on_train_end", exc)
            raise
        finally:
            self.bar.close()
        if self.loop_hooks:  # after the last validation and checkpoint
            self._call("on_train_end", None)
        return p

    def _train_epoch(self, epoch: int, skip: int) -> None:
        s, p, fabric, step, module, opt = self.s, self.pos, self.fabric, self.step, self.module, self.optimizer
        if hasattr(self.train, "_num_iter_calls"):  # Fabric's loader: DistributedSampler.set_epoch(epoch)
            self.train._num_iter_calls = epoch
        self._epoch_rng = self.gen.get_state() if self.gen is not None else None
        it = iter(self.train)
        for _ in range(skip):  # resuming mid-epoch: the same order, the batches already done skipped
            next(it)
        bar = self.bar.start(epoch, s.train_batches, skip)
        wanted = self.run is not None or bar is not None  # does the training loss go anywhere?
        across = s.val_every_n_epochs is None  # val_every counts the batches of the whole training
        validate_here = s.val_batches > 0 and (across or (epoch + 1) % s.val_every_n_epochs == 0)
        done_before = epoch * s.train_batches  # training batches of the epochs before this one
        sync = fabric.world_size > 1 and s.accumulate > 1
        hooks = bool(self.loop_hooks)
        if hooks:
            self._call("on_epoch_start")
        module.train()
        for i in range(skip, s.train_batches):
            batch = next(it)
            if self.move:
                batch = fabric.to_device(batch)
            if hooks:
                self._call("on_batch_start", batch, i)
            boundary = (i + 1) % s.accumulate == 0 or i + 1 == s.train_batches
            with fabric.no_backward_sync(module, enabled=not boundary) if sync else contextlib.nullcontext():
                with self.autocast():
                    loss, shown = step.loss(module, batch)
                fabric.backward(loss / s.accumulate if s.accumulate > 1 else loss)
            if wanted:
                shown = shown.detach()
                self._loss_sum = shown if self._loss_sum is None else self._loss_sum + shown
                self._loss_n += 1
            if boundary:
                if hooks:  # gradients complete, not yet clipped
                    self._call("on_before_optimizer_step")
                if s.clip:
                    fabric.clip_gradients(module, opt, max_norm=s.clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
                if self.scheduler is not None:
                    self.scheduler.step()
                p.global_step += 1
                if wanted and p.global_step % s.log_every == 0:
                    self._log_train()
            p.batches = i + 1
            if hooks:  # the step this batch belonged to
                self._call("on_batch_end", batch, i, float(shown.detach()), boundary,
                           step=p.global_step - 1 if boundary else p.global_step)
            if bar is not None:
                bar.update(1)
            if validate_here and ((done_before if across else 0) + i + 1) % s.val_every == 0:
                self.validate()
            if self.should_stop or (s.max_steps >= 0 and p.global_step >= s.max_steps):
                break
        if hooks:
            self._call("on_epoch_end")

    def lr(self) -> float:
        return float(self.optimizer.optimizer.param_groups[0]["lr"])

    def _log_train(self) -> None:
        if self._loss_sum is None:
            return
        loss = float(self._loss_sum) / self._loss_n  # the mean over the steps since the last log
        self._loss_sum, self._loss_n = None, 0
        if self.run is not None:
            self.run.log({"train/loss": loss, "train/lr": self.lr(), "train/epoch": self.pos.epoch},
                         step=self.pos.global_step - 1)
        self.bar.show(loss=loss)

    # --- validation ----------------------------------------------------------------------------
    def validate(self) -> Dict[str, float]:
        """One pass over the validation batches: exact means, reported, hooks called, checkpoints saved."""
        fabric, p, module = self.fabric, self.pos, self.module
        sums = torch.zeros(self.step.n_sums, device=fabric.device)
        module.eval()
        with torch.no_grad(), self.autocast():
            for batch in itertools.islice(self.val, self.s.val_batches):
                if self.move:
                    batch = fabric.to_device(batch)
                sums += self.step.val_sums(module, batch)
        module.train()
        if fabric.world_size > 1:
            sums = fabric.all_reduce(sums, reduce_op="sum")
        metrics = self.step.val_metrics(sums)
        p.last.update(metrics)
        self._validated_at = p.global_step
        value = metrics.get(self.metric)
        if value is not None and improves(value, p.best, self.mode):
            p.best, p.best_epoch = value, p.epoch
        if self.run is not None:
            self.run.log({**metrics, "val/epoch": p.epoch}, step=max(p.global_step - 1, 0))  # keys as on paddle
        self.bar.show(**{k.split("/")[-1]: v for k, v in metrics.items() if k == self.metric})
        if fabric.is_global_zero:
            for hook in self.hooks:
                reason = hook(p.epoch, p.global_step, metrics)
                if reason:  # the hook asks to stop here (e.g. a pruned trial)
                    self.stop_reason = str(reason)
        stop = bool(self.stop_reason) or (self.early is not None and self.early.update(value))
        if fabric.world_size > 1:  # every process stops together
            stop = bool(fabric.all_reduce(torch.tensor(float(stop), device=fabric.device), reduce_op="sum") > 0)
        self.should_stop = self.should_stop or stop
        if self.keeper is not None:
            self.keeper.save(fabric, self.state(), p.epoch, p.global_step, value)
        return metrics
