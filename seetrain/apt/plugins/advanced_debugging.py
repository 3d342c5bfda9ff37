"""Training diagnostics: gradients, activations, memory, profiling, loss diagnosis and an HTML report.

    plugin = AdvancedDebuggingPlugin({"debug_level": "normal", "output_dir": "debug"})
    plugin.on_training_start({"model": model})
    for step, batch in enumerate(loader):
        with plugin.profile_section("forward"):
            loss = model(**batch).loss
        loss.backward()
        plugin.on_batch_end({"model": model, "step": step, "loss": loss.item()})   # reads .grad
        optimizer.step(); optimizer.zero_grad()
    plugin.on_training_end({})            # removes hooks, logs the diagnosis, writes report.html

Levels: ``minimal`` (global gradient norm, explosion/vanishing counts, memory; no hooks),
``normal`` (+ per-layer gradient stats, activation hooks, histograms) and ``verbose`` (every step,
+ weight and activation histograms). Everything is logged under ``debug/...`` to the active run.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict, deque
from typing import Any, Deque, Dict, List, Optional

from ._debug_monitors import DebugMonitorsMixin
from ._debug_report import DebugReportMixin
from .base import APTPlugin

LEVELS = ("minimal", "normal", "verbose")
ACTIVATION_TYPES = ("ReLU", "ReLU6", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "SELU",
                    "CELU", "Softplus", "Hardtanh", "Hardsigmoid", "Hardswish", "PReLU")
BOUNDED = {"Tanh": (-1.0, 1.0), "Sigmoid": (0.0, 1.0), "Hardtanh": (-1.0, 1.0), "Hardsigmoid": (0.0, 1.0),
           "ReLU6": (0.0, 6.0)}


def _warn(message: str) -> None:
    from seetrain import SeeTrainWarning

    warnings.warn(message, SeeTrainWarning, stacklevel=3)


class AdvancedDebuggingPlugin(DebugMonitorsMixin, DebugReportMixin, APTPlugin):
    """Watches gradients, activations and memory, profiles code sections and diagnoses the loss curve."""

    name = "advanced-debugging"
    default_config: Dict[str, Any] = {
        "debug_level": "normal",        # minimal | normal | verbose
        "monitor_gradients": True,
        "monitor_activations": None,    # None: on for normal/verbose, off for minimal
        "monitor_memory": True,
        "gradient_threshold": 10.0,     # a layer's gradient norm above this is "exploding"
        "vanishing_threshold": 1e-6,    # ... below this is "vanishing"
        "log_every": 10,                # steps between measurements (verbose: every step)
        "histogram_every": 100,         # steps between gradient histograms (0: never; minimal: never)
        "histogram_bins": 64,
        "dead_threshold": 0.0,          # a unit whose activation never exceeds this over a batch is dead
        "sparsity_threshold": 1e-3,     # |activation| below this counts as zero
        "saturation_margin": 0.01,      # bounded activations within this of a bound are saturated
        "leak_window": 20,              # memory samples used for the leak trend
        "leak_threshold_mb": 64.0,      # growth over the window that counts as a suspected leak
        "output_dir": None,             # figures and report; default <run dir>/files/debug or ./apt_debug
        "report_on_end": True,
        "max_history": 10000,
        "monitor_performance": True,    # profile_section measures (False: it only runs the block)
    }

    def __init__(self, config: Optional[Dict[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        level = str(self.config["debug_level"]).lower()
        if level not in LEVELS:
            raise ValueError(f"debug_level={self.config['debug_level']!r} is not one of {LEVELS}")
        self.level = level
        if self.config["monitor_activations"] is None:
            self.config["monitor_activations"] = level != "minimal"
        self.log_every = 1 if level == "verbose" else max(int(self.config["log_every"]), 1)
        self.histogram_every = 0 if level == "minimal" else int(self.config["histogram_every"] or 0)
        n = int(self.config["max_history"])
        self.model: Any = None
        self.loss_history: Deque[float] = deque(maxlen=n)
        self.gradient_history: Deque[Dict[str, Any]] = deque(maxlen=n)   # one entry per measured step
        self.activation_stats: Dict[str, Dict[str, float]] = {}
        self.memory_history: Deque[Dict[str, float]] = deque(maxlen=n)
        self.anomalies: List[Dict[str, Any]] = []
        self.profile_stats: Dict[str, Dict[str, float]] = defaultdict(lambda: {"count": 0, "total_s": 0.0,
                                                                               "max_s": 0.0, "mem_delta_mb": 0.0})
        self.figures: Dict[str, str] = {}
        self._hooks: List[Any] = []
        self._capture = True
        self._captured: Dict[str, Dict[str, float]] = {}
        self._act_values: Dict[str, Any] = {}
        self._grads_done_step: Optional[int] = None
        self._optimizer_hook_used = False
        self._warned: set = set()
        self._step = 0

    # --- hooks ------------------------------------------------------------------------------------
    def on_training_start(self, context: Dict[str, Any]) -> None:
        if self._run is None and context.get("run") is not None:
            self._run = context["run"]
        model = context.get("model")
        if model is not None:
            self.attach(model)
        self._note({"level": self.level, "log_every": self.log_every,
                                      "gradient_threshold": float(self.config["gradient_threshold"])})

    def on_batch_start(self, context: Dict[str, Any]) -> None:
        step = int(context.get("step", self._step) or 0)
        self._capture = self._due(step)

    def on_before_optimizer_step(self, context: Dict[str, Any]) -> None:
        """Measure gradients before clipping and the optimizer step (the trainer calls this when it can)."""
        step = int(context.get("step", self._step) or 0)
        model = context.get("model") or self.model
        self._optimizer_hook_used = True  # from now on gradients are measured here, not in on_batch_end
        if self.config["monitor_gradients"] and model is not None and self._due(step) \
                and self._grads_done_step != step:
            self.record_gradients(model, step)

    def on_batch_end(self, context: Dict[str, Any]) -> None:
        step = int(context.get("step", self._step) or 0)
        self._step = step + 1
        loss = context.get("loss")
        if loss is not None:
            loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
            self.loss_history.append(loss)
            if not math.isfinite(loss):
                self._anomaly(step, "nan_loss", "loss", loss)
        if not self._due(step):
            self._capture = self._due(step + 1)  # capture activations in the next forward pass if it is due
            return
        model = context.get("model") or self.model
        data: Dict[str, Any] = {}
        if loss is not None:
            data["debug/loss"] = loss
        if self.config["monitor_gradients"] and model is not None and not self._optimizer_hook_used \
                and self._grads_done_step != step:
            self.record_gradients(model, step)
        if self.config["monitor_activations"] and self._captured:
            data.update(self._activation_log())
        if self.config["monitor_memory"]:
            self.track_memory(step, log=False)
            data.update({f"debug/memory/{k}": v for k, v in self.memory_history[-1].items() if k != "step"})
        self.log(data, step=step)
        self._capture = self._due(step + 1)  # capture activations in the next forward pass if it is due

    def on_training_end(self, context: Dict[str, Any]) -> None:
        self.detach()
        try:
            diagnosis = self.diagnose_training(list(self.loss_history))
            self.log({"debug/diagnosis/issues": len(diagnosis["issues"]),
                      "debug/anomalies": len(self.anomalies)}, step=self._step)
            self._note({"diagnosis": [i["issue"] for i in diagnosis["issues"]] or ["ok"]})
            rank = getattr(context.get("trainer"), "global_rank", 0) or 0
            if self.config["report_on_end"] and rank == 0 and (self.gradient_history or self.loss_history
                                                               or self.memory_history):
                self.generate_full_report()
        except Exception as exc:
            from seetrain.resilience import record_failure

            record_failure("plugin:advanced-debugging.report", exc)
            _warn(f"seetrain: the debugging report could not be written ({type(exc).__name__}: {exc})")

    def _note(self, values: Dict[str, Any]) -> None:
        """Merge ``values`` into the run config's ``debug`` section."""
        run = self.run
        if run is not None:
            try:
                current = dict(run.config.get("debug") or {}) if "debug" in run.config else {}
                current.update(values)
                run.config.update({"debug": current})
            except Exception as exc:
                _warn(f"seetrain: the debugging plugin could not update the run config ({exc})")

    def _due(self, step: int) -> bool:
        return step % self.log_every == 0

    # --- gradients ---------------------------------------------------------------------------------
    def gradient_stats(self, model: Any) -> Dict[str, Dict[str, float]]:
        """Per-parameter gradient ``norm``, ``mean``, ``std`` and ``max`` (absolute) of ``model`` now."""
        import torch

        named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
        if not named:
            return {}
        grads = [g.detach().float() for _, g in named]
        with torch.no_grad():
            norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
            if self.level == "minimal":
                return {n: {"norm": float(v)} for (n, _), v in zip(named, norms.tolist())}
            means = torch.stack([g.mean() for g in grads])
            stds = torch.stack([g.std() if g.numel() > 1 else g.new_zeros(()) for g in grads])
            maxs = torch.stack([g.abs().max() for g in grads])
            table = torch.stack([norms, means, stds, maxs], 1).tolist()
        return {n: dict(zip(("norm", "mean", "std", "max"), row)) for (n, _), row in zip(named, table)}

    def record_gradients(self, model: Any, step: int) -> Dict[str, Dict[str, float]]:
        """Measure gradients, detect explosion/vanishing/NaN, log them (and histograms when due)."""
        stats = self.gradient_stats(model)
        self._grads_done_step = step
        if not stats:
            return stats
        total = math.sqrt(sum(s["norm"] ** 2 for s in stats.values() if math.isfinite(s["norm"])))
        kinds = self.detect_gradient_anomalies(stats)
        exploding, vanishing, non_finite = kinds["exploding"], kinds["vanishing"], kinds["non_finite"]
        for n in exploding:
            self._anomaly(step, "exploding_gradient", n, stats[n]["norm"])
        for n in vanishing:
            self._anomaly(step, "vanishing_gradient", n, stats[n]["norm"])
        for n in non_finite:
            self._anomaly(step, "nan_gradient", n, stats[n]["norm"])
        self.gradient_history.append({"step": step, "global_norm": total, "layers": stats,
                                      "exploding": exploding, "vanishing": vanishing})
        data: Dict[str, Any] = {"debug/grad/global_norm": total, "debug/grad/exploding_layers": len(exploding),
                                "debug/grad/vanishing_layers": len(vanishing), "debug/grad/nan_layers": len(non_finite)}
        if self.level != "minimal":
            for n, s in stats.items():
                for k, v in s.items():
                    data[f"debug/grad/{n}/{k}"] = v
        if self.histogram_every and step % self.histogram_every == 0:
            data.update(self._histograms(model))
        self.log(data, step=step)
        return stats

    def monitor_gradients(self, model: Any, step: Optional[int] = None) -> Dict[str, Dict[str, float]]:
        """The APT documents' name for :meth:`record_gradients` (step defaults to the plugin's counter)."""
        return self.record_gradients(model, self._step if step is None else int(step))

    def detect_gradient_anomalies(self, gradients: Any) -> Dict[str, List[str]]:
        """``{"exploding", "vanishing", "non_finite"}``: names whose gradient norm is above
        ``gradient_threshold``, below ``vanishing_threshold``, or NaN/Inf. ``gradients`` is the output of
        :meth:`gradient_stats`, a ``{name: tensor or norm}`` dict, or a model (its ``.grad`` are read)."""
        import torch

        if hasattr(gradients, "named_parameters"):
            gradients = self.gradient_stats(gradients)
        norms: Dict[str, float] = {}
        for name, g in dict(gradients).items():
            if isinstance(g, dict):
                norms[name] = float(g["norm"])
            elif isinstance(g, torch.Tensor):
                norms[name] = float(torch.linalg.vector_norm(g.detach().float()))
            else:
                norms[name] = float(g)
        hi, lo = float(self.config["gradient_threshold"]), float(self.config["vanishing_threshold"])
        return {"exploding": [n for n, v in norms.items() if v > hi],
                "vanishing": [n for n, v in norms.items() if v < lo],
                "non_finite": [n for n, v in norms.items() if not math.isfinite(v)]}

    def _histograms(self, model: Any) -> Dict[str, Any]:
        import torch

        from seetrain.media import Histogram

        bins = int(self.config["histogram_bins"])
        out: Dict[str, Any] = {}

        def hist(t: Any) -> Optional[Histogram]:
            t = t.detach().float().flatten()
            t = t[torch.isfinite(t)]
            if t.numel() == 0:
                return None
            lo, hi = float(t.min()), float(t.max())
            if hi <= lo:
                hi = lo + 1e-12
            counts = torch.histc(t.cpu(), bins=bins, min=lo, max=hi)
            edges = torch.linspace(lo, hi, bins + 1)
            return Histogram(bins=edges.tolist(), counts=counts.tolist())

        for n, p in model.named_parameters():
            if p.grad is not None:
                h = hist(p.grad)
                if h is not None:
                    out[f"debug/grad_hist/{n}"] = h
            if self.level == "verbose":
                h = hist(p)
                if h is not None:
                    out[f"debug/param_hist/{n}"] = h
        if self.level == "verbose":
            for name, values in self._act_values.items():
                h = hist(values)
                if h is not None:
                    out[f"debug/act_hist/{name}"] = h
        return out

    def _anomaly(self, step: int, kind: str, where: str, value: float) -> None:
        self.anomalies.append({"step": step, "kind": kind, "layer": where, "value": value})
        if kind not in self._warned:
            self._warned.add(kind)
            _warn(f"seetrain debugging: {kind.replace('_', ' ')} in {where} at step {step} (value {value:.3g}); "
                  "see debug/... in the run and the debugging report")

    # --- activations -------------------------------------------------------------------------------
    def attach(self, model: Any) -> int:
        """Register forward hooks on ``model``'s activation modules; return how many were hooked."""
        self.detach()
        self.model = model
        if not self.config["monitor_activations"]:
            return 0
        for name, module in model.named_modules():
            if type(module).__name__ in ACTIVATION_TYPES:
                self._hooks.append(module.register_forward_hook(self._make_hook(name or "root", type(module).__name__)))
        return len(self._hooks)

    def monitor_activations(self, model: Any) -> int:
        """The APT documents' name for :meth:`attach`: hook ``model``'s activation modules (statistics are
        taken in the forward passes that follow; :attr:`activation_stats` and ``debug/act/...``)."""
        if not self.config["monitor_activations"]:
            self.config["monitor_activations"] = True
        return self.attach(model)

    def detect_dead_neurons(self, activations: Any = None) -> Dict[str, float]:
        """Share of dead units (never above ``dead_threshold`` over the batch): of a tensor (key ``"tensor"``),
        of a ``{name: tensor}`` dict, or, with no argument, of the last captured activations."""
        import torch

        if activations is None:
            captured = {**self.activation_stats, **self._captured}
            return {name: st["dead_fraction"] for name, st in captured.items()}
        if isinstance(activations, torch.Tensor):
            activations = {"tensor": activations}
        return {name: self.activation_statistics(t)["dead_fraction"] for name, t in dict(activations).items()}

    def detach(self) -> None:
        """Remove every hook this plugin registered."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    @property
    def num_hooks(self) -> int:
        return len(self._hooks)

    def _make_hook(self, name: str, kind: str):
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if not self._capture or not hasattr(output, "detach"):
                return
            try:
                self._captured[name] = self.activation_statistics(output, kind)
                if self.level == "verbose":
                    self._act_values[name] = output.detach()
            except Exception as exc:  # never break the forward pass
                from seetrain.resilience import record_failure

                record_failure("plugin:advanced-debugging.activation_hook", exc)
        return hook

    def activation_statistics(self, output: Any, kind: str = "") -> Dict[str, float]:
        """``dead_fraction`` (units that never exceed ``dead_threshold`` over the batch), ``sparsity``
        (share of near-zero values), ``saturation`` (share at the bounds of a bounded activation) and ``mean``."""
        import torch

        with torch.no_grad():
            a = output.detach().float()
            flat = a.reshape(-1, a.shape[-1]) if a.dim() > 1 else a.reshape(-1, 1)
            stats = {"dead_fraction": float((flat.max(0).values <= float(self.config["dead_threshold"])).float().mean()),
                     "sparsity": float((flat.abs() < float(self.config["sparsity_threshold"])).float().mean()),
                     "mean": float(flat.mean())}
            if kind in BOUNDED:
                lo, hi = BOUNDED[kind]
                m = float(self.config["saturation_margin"]) * (hi - lo)
                stats["saturation"] = float(((flat <= lo + m) | (flat >= hi - m)).float().mean())
        return stats

    def _activation_log(self) -> Dict[str, Any]:
        self.activation_stats = dict(self._captured)
        self._captured = {}
        data: Dict[str, Any] = {}
        for name, st in self.activation_stats.items():
            for k, v in st.items():
                data[f"debug/act/{name}/{k}"] = v
        if self.activation_stats:
            data["debug/act/dead_fraction_mean"] = sum(s["dead_fraction"] for s in self.activation_stats.values()) / len(self.activation_stats)
        return data
