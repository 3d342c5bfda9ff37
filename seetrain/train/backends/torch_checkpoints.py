"""Checkpoints and early stopping for the PyTorch training loop.

:class:`CheckpointKeeper` keeps the best ``save_top_k`` checkpoints by the job's metric
(``epoch{E}-step{S}-val_acc{V}.ckpt``) and ``last.ckpt``; each file is written to a ``.part`` name and
renamed, so a process killed while saving leaves the previous file whole. A checkpoint holds the
model, optimizer and LR schedule, where the loop stood (epoch, batches done, optimizer steps, the
data order's random state) and the keeper's and early stopping's own state, so a resume goes on
exactly where it was saved.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..errors import TrainConfigError
from .early_stopping import improves

FORMAT = "seetrain-train/1"  # the "format" entry of every checkpoint this loop writes


def check_checkpoint(path: str) -> None:
    """Raise :class:`TrainConfigError` unless ``path`` is a checkpoint this loop wrote (a cheap look:
    the file is memory-mapped, no tensor is read)."""
    if os.path.isdir(path):  # a sharded checkpoint (FSDP, DeepSpeed): the strategy reads it
        return
    try:
        ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise TrainConfigError(f"trainer.resume={path}: cannot read it as a PyTorch checkpoint ({exc})",
                               key="trainer.resume") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        what = ("a PyTorch Lightning Trainer checkpoint" if isinstance(ckpt, dict) and "pytorch-lightning_version" in ckpt
                else "not a checkpoint written by `seetrain train`")
        raise TrainConfigError(f"trainer.resume={path}: {what}; resume from a file in a run's checkpoints/ folder, "
                               "or start from its weights with model.pretrained=PATH", key="trainer.resume")


class CheckpointKeeper:
    """The best ``save_top_k`` checkpoints by ``metric`` (-1: all, 0: none) and ``last.ckpt``."""

    def __init__(self, dirpath: str, metric: str, mode: str, save_top_k: int, save_last: bool) -> None:
        self.dirpath, self.metric, self.mode = dirpath, metric, mode
        self.save_top_k, self.save_last = int(save_top_k), bool(save_last)
        self.kept: List[Tuple[float, str]] = []  # (value, path), best first

    @property
    def best_path(self) -> Optional[str]:
        return self.kept[0][1] if self.kept else None

    @property
    def last_path(self) -> Optional[str]:
        path = os.path.join(self.dirpath, "last.ckpt")
        return path if self.save_last and os.path.isfile(path) else None

    def state_dict(self) -> Dict[str, Any]:
        return {"kept": [list(k) for k in self.kept]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.kept = [(float(v), str(p)) for v, p in state.get("kept", []) if os.path.isfile(p)]

    def _name(self, epoch: int, step: int, value: float) -> str:
        return os.path.join(self.dirpath, f"epoch{epoch}-step{step}-{self.metric.replace('/', '_')}{value:.4f}.ckpt")

    def save(self, fabric: Any, state: Dict[str, Any], epoch: int, step: int, value: Optional[float]) -> None:
        """Save into the top k when ``value`` earns it (None: no validation result), and as ``last.ckpt``."""
        evicted: List[str] = []
        new: Optional[str] = None
        if value is not None and self.save_top_k != 0:
            if self.save_top_k < 0 or len(self.kept) < self.save_top_k or improves(value, self.kept[-1][0], self.mode):
                new = self._name(epoch, step, value)
                kept = sorted([k for k in self.kept if k[1] != new] + [(value, new)], key=lambda k: k[0],
                              reverse=self.mode == "max")
                if self.save_top_k > 0:
                    kept, gone = kept[:self.save_top_k], kept[self.save_top_k:]
                    evicted = [p for _, p in gone if p != new]
                self.kept = kept
        state = {**state, "checkpoints": self.state_dict()}
        if new is not None:
            self._write(fabric, new, state)
        if self.save_last:
            self._write(fabric, os.path.join(self.dirpath, "last.ckpt"), state)
        if fabric.is_global_zero:
            for path in evicted:
                try:
                    os.remove(path)
                except OSError:
                    pass

    def _write(self, fabric: Any, path: str, state: Dict[str, Any]) -> None:
        if fabric.is_global_zero:
            os.makedirs(self.dirpath, exist_ok=True)
        part = path + ".part"
        fabric.save(part, state)  # every process takes part (sharded strategies write from each); then a barrier
        if fabric.is_global_zero and os.path.exists(part):
            os.replace(part, path)

