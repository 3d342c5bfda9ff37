"""``trainer.precision`` on the paddle backend: which dtype and AMP level a run trains in, and how.

float16 goes through ``paddle.Model.prepare(amp_configs={"level": ...})`` (hapi's own AMP: ``auto_cast``
with its default float16 and a ``GradScaler``). hapi has no dtype option, so bfloat16 wraps the
network's forward in ``paddle.amp.auto_cast(dtype="bfloat16")`` (plus ``paddle.amp.decorate`` for the
``-true`` level O2); bfloat16 needs no loss scaling. Parameter names are unchanged, so checkpoints
move between precisions.

Where mixed precision runs is decided by :func:`amp_supported`, the one capability query (tests
replace it to exercise both branches on any machine). PaddlePaddle's ``auto_cast`` takes effect only
on GPU, XPU and custom devices (on a CPU it warns "makes no effect" and computes float32), so a CPU
never qualifies, even where ``paddle.amp.is_bfloat16_supported("cpu")`` is True (AVX-512): a run must
not claim a precision it does not train in.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Dict, NamedTuple, Optional

import paddle

from ..errors import TrainConfigError

ALT = "trainer.backend=lightning"


def amp_supported(dtype: str, device: str) -> bool:
    """Does PaddlePaddle train in ``dtype`` ("float16" or "bfloat16") mixed precision on ``device``?"""
    if device == "cpu":
        return False  # paddle.amp.auto_cast is a no-op on CPUPlace, whatever the CPU's features
    if dtype == "bfloat16":
        return bool(paddle.amp.is_bfloat16_supported(device))
    return bool(paddle.amp.is_float16_supported(device))


class PaddlePrecision(NamedTuple):
    """How one run trains: ``dtype`` is what the run records, ``level`` paddle's AMP level."""

    dtype: str = "float32"   # float32 | float16 | bfloat16
    level: str = "O0"        # O0 (no AMP) | O1 (mixed) | O2 (low-precision weights, float32 master copy)

    @property
    def hapi_amp_configs(self) -> Optional[Dict[str, Any]]:
        """``amp_configs`` for ``paddle.Model.prepare``: hapi's float16 AMP only (its keys allow no dtype)."""
        return {"level": self.level} if self.dtype == "float16" else None

    def apply(self, net: "paddle.nn.Layer", optimizer: "paddle.optimizer.Optimizer") -> None:
        """Make ``net`` compute in bfloat16 (float16 is left to hapi); outputs come back as float32."""
        if self.dtype != "bfloat16":
            return
        if self.level == "O2":
            paddle.amp.decorate(models=net, optimizers=optimizer, level="O2", dtype="bfloat16", master_weight=True)
        net.forward = _autocast_forward(net.forward, self.level)


def _autocast_forward(forward, level: str):
    """``forward`` (a bound method) under bfloat16 ``auto_cast``. hapi reads the forward's argument names
    with ``inspect.getfullargspec`` (which ignores ``__wrapped__``) to split a batch into inputs and labels,
    so the wrapper carries the original signature, ``self`` included."""
    @functools.wraps(forward)
    def run(*args, **kwargs):
        with paddle.amp.auto_cast(level=level, dtype="bfloat16"):
            out = forward(*args, **kwargs)
        return _to_float32(out)

    run.__signature__ = inspect.signature(getattr(forward, "__func__", forward))  # type: ignore[attr-defined]
    return run


def _to_float32(out: Any) -> Any:
    if isinstance(out, paddle.Tensor):
        return out.astype("float32") if out.dtype == paddle.bfloat16 else out
    if isinstance(out, (list, tuple)):
        return type(out)(_to_float32(o) for o in out)
    return out


def precision_of(precision: str, device: str) -> PaddlePrecision:
    """The plan for ``trainer.precision`` on ``device`` ("cpu" or "gpu"); a clear error where paddle cannot."""
    if precision in ("64-true", "64"):
        raise TrainConfigError(f"trainer.precision={precision}: the paddle backend trains in float32 or mixed precision; "
                               f"use {ALT} for float64", key="trainer.precision")
    if precision in ("32-true", "32"):
        return PaddlePrecision()
    if precision == "auto":
        for dtype in ("bfloat16", "float16"):
            if amp_supported(dtype, device):
                return PaddlePrecision(dtype, "O1")
        return PaddlePrecision()
    dtype = "bfloat16" if precision.startswith("bf16") else "float16"
    if not amp_supported(dtype, device):
        if dtype == "float16" and device == "cpu":
            from . import float16_on_cpu

            raise float16_on_cpu(precision)  # the same answer as the Lightning backend's
        why = " (PaddlePaddle's auto_cast runs only on GPU, XPU and custom devices)" if device == "cpu" else ""
        hint = f"; on CPU use bf16-mixed with {ALT}, or 32-true" if device == "cpu" else ", or 32-true"
        raise TrainConfigError(f"trainer.precision={precision}: PaddlePaddle has no {dtype} mixed precision on this "
                               f"{device.upper()}{why}{hint} (auto picks what the device supports)", key="trainer.precision")
    return PaddlePrecision(dtype, "O2" if precision.endswith("-true") else "O1")
