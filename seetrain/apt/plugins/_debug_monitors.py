"""Memory tracking, section profiling and loss-curve diagnosis of the advanced-debugging plugin (a mixin
of :class:`~seetrain.apt.plugins.advanced_debugging.AdvancedDebuggingPlugin`)."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence


class DebugMonitorsMixin:
    """``track_memory``, ``detect_memory_leak(s)``, ``profile_section``, ``bottlenecks`` and ``diagnose_training``."""

    # --- memory ------------------------------------------------------------------------------------
    def track_memory(self, step: Optional[int] = None, log: bool = True) -> Dict[str, float]:
        """Sample memory: CUDA allocated/peak (MB) when CUDA is in use, the process RSS (MB) always."""
        import sys

        import psutil

        step = self._step if step is None else int(step)
        sample: Dict[str, float] = {"rss_mb": psutil.Process().memory_info().rss / 2 ** 20}
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            sample["cuda_allocated_mb"] = torch.cuda.memory_allocated() / 2 ** 20
            sample["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
        self.memory_history.append({"step": step, **sample})
        leak = self.detect_memory_leak()
        sample["growth_mb_per_step"] = leak["slope_mb_per_step"]
        sample["leak_suspected"] = float(leak["suspected"])
        self.memory_history[-1].update(growth_mb_per_step=sample["growth_mb_per_step"],
                                       leak_suspected=sample["leak_suspected"])
        if leak["suspected"]:
            self._anomaly(step, "memory_leak", leak["metric"], leak["growth_mb"])
        if log:
            self.log({f"debug/memory/{k}": v for k, v in sample.items()}, step=step)
        return sample

    def detect_memory_leak(self) -> Dict[str, Any]:
        """Least-squares trend of the last ``leak_window`` samples: a steady rise above
        ``leak_threshold_mb`` over the window is a suspected leak."""
        metric = "cuda_allocated_mb" if any("cuda_allocated_mb" in s for s in self.memory_history) else "rss_mb"
        window = [s for s in list(self.memory_history)[-int(self.config["leak_window"]):] if metric in s]
        result = {"metric": metric, "slope_mb_per_step": 0.0, "growth_mb": 0.0, "suspected": False}
        if len(window) < 5:
            return result
        xs = [float(s["step"]) for s in window]
        ys = [float(s[metric]) for s in window]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        if var == 0:
            return result
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var
        growth = slope * (xs[-1] - xs[0])
        rises = sum(b > a for a, b in zip(ys, ys[1:])) / (len(ys) - 1)
        result.update(slope_mb_per_step=slope, growth_mb=growth,
                      suspected=bool(growth > float(self.config["leak_threshold_mb"]) and rises >= 0.6))
        return result

    # --- profiling ---------------------------------------------------------------------------------
    def detect_memory_leaks(self) -> Dict[str, Any]:
        """The APT documents' name for :meth:`detect_memory_leak`."""
        return self.detect_memory_leak()

    @contextlib.contextmanager
    def profile_section(self, name: str) -> Iterator[None]:
        """Time a block (and its memory delta); :meth:`bottlenecks` ranks the sections."""
        import sys

        import psutil

        if not self.config["monitor_performance"]:
            yield
            return

        torch = sys.modules.get("torch")
        cuda = torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()

        def mem() -> float:
            if cuda:
                torch.cuda.synchronize()
                return torch.cuda.memory_allocated() / 2 ** 20
            return psutil.Process().memory_info().rss / 2 ** 20

        m0, t0 = mem(), time.perf_counter()
        try:
            yield
        finally:
            m1 = mem()
            dt = time.perf_counter() - t0
            st = self.profile_stats[name]
            st["count"] += 1
            st["total_s"] += dt
            st["max_s"] = max(st["max_s"], dt)
            st["mem_delta_mb"] += m1 - m0
            if self.level == "verbose":
                self.log({f"debug/profile/{name}/ms": dt * 1000.0, f"debug/profile/{name}/mem_delta_mb": m1 - m0})

    def bottlenecks(self, top: int = 10) -> List[Dict[str, Any]]:
        """Profiled sections ranked by total time, with their share of the profiled time."""
        total = sum(s["total_s"] for s in self.profile_stats.values()) or 1.0
        ranked = sorted(self.profile_stats.items(), key=lambda kv: kv[1]["total_s"], reverse=True)
        return [{"section": n, "calls": int(s["count"]), "total_s": s["total_s"],
                 "mean_ms": 1000.0 * s["total_s"] / max(s["count"], 1), "max_ms": 1000.0 * s["max_s"],
                 "mem_delta_mb": s["mem_delta_mb"], "share": s["total_s"] / total} for n, s in ranked[:top]]

    # --- loss diagnosis ----------------------------------------------------------------------------
    def diagnose_training(self, loss_history: Optional[Sequence[float]] = None) -> Dict[str, Any]:
        """Diagnose a loss curve: ``nan_or_inf``, ``not_decreasing``, ``oscillating``, ``plateau``.

        Returns ``{"status": "ok" | "problems" | "insufficient_data", "issues": [{"issue", "message",
        "advice"}], "stats": {...}}``.
        """
        losses = [float(x) for x in (self.loss_history if loss_history is None else loss_history)]
        issues: List[Dict[str, str]] = []
        bad = [i for i, x in enumerate(losses) if not math.isfinite(x)]
        if bad:
            issues.append({"issue": "nan_or_inf", "message": f"{len(bad)} non-finite loss values, first at index {bad[0]}",
                           "advice": "lower the learning rate, enable gradient clipping, check the data for "
                                     "NaN/Inf and divisions by zero, try fp32 instead of fp16"})
        finite = [x for x in losses if math.isfinite(x)]
        if len(finite) < 8:
            status = "problems" if issues else "insufficient_data"
            return {"status": status, "issues": issues, "stats": {"n": len(losses)}}
        n = len(finite)
        k = max(2, n // 5)
        first, last = sum(finite[:k]) / k, sum(finite[-k:]) / k
        scale = max(abs(first), 1e-8)
        rel_drop = (first - last) / scale
        diffs = [b - a for a, b in zip(finite, finite[1:])]
        signs = [d > 0 for d in diffs if d != 0]
        flips = sum(a != b for a, b in zip(signs, signs[1:])) / max(len(signs) - 1, 1)
        mean_level = sum(finite) / n
        amplitude = (sum(abs(d) for d in diffs) / len(diffs)) / max(abs(mean_level), 1e-8)
        tail = finite[-max(4, n // 4):]
        tail_change = abs(tail[0] - tail[-1]) / max(abs(tail[0]), 1e-8)
        tail_spread = (max(tail) - min(tail)) / max(abs(sum(tail) / len(tail)), 1e-8)
        stats = {"n": n, "first": first, "last": last, "relative_drop": rel_drop, "flip_rate": flips,
                 "relative_step": amplitude, "tail_change": tail_change}
        if rel_drop < 0.01:
            issues.append({"issue": "not_decreasing",
                           "message": f"the loss went from {first:.4g} to {last:.4g} ({-rel_drop:+.1%})",
                           "advice": "check the learning rate (try 3x up and 3x down), that labels match inputs, "
                                     "that gradients reach the parameters (requires_grad, optimizer param groups)"})
        if flips > 0.6 and amplitude > 0.1:
            issues.append({"issue": "oscillating",
                           "message": f"the loss changes direction at {flips:.0%} of steps with steps of "
                                      f"{amplitude:.0%} of its level",
                           "advice": "lower the learning rate, use a larger batch or gradient accumulation, "
                                     "add warm-up"})
        if rel_drop >= 0.01 and tail_change < 0.005 and tail_spread < 0.02:
            issues.append({"issue": "plateau",
                           "message": f"the last {len(tail)} losses changed by {tail_change:.2%}",
                           "advice": "decay the learning rate or restart with a schedule, add capacity, "
                                     "check for saturated or dead activations"})
        return {"status": "problems" if issues else "ok", "issues": issues, "stats": stats}
