"""The figures and the HTML report of the advanced-debugging plugin (a mixin of
:class:`~seetrain.apt.plugins.advanced_debugging.AdvancedDebuggingPlugin`)."""

from __future__ import annotations

import base64
import html
import os
import time
from typing import Any, List, Optional, Sequence


class DebugReportMixin:
    """``visualize_gradients``, ``visualize_memory``, ``visualize_loss`` (PNG, matplotlib Agg) and
    ``generate_full_report`` (one self-contained HTML page)."""

    # --- figures and report ------------------------------------------------------------------------
    def output_dir(self) -> str:
        path = self.config.get("output_dir")
        if not path:
            run = self.run
            path = os.path.join(run.dir, "files", "debug") if run is not None and getattr(run, "dir", None) \
                and getattr(run, "mode", "local") != "disabled" else os.path.abspath("apt_debug")
        os.makedirs(path, exist_ok=True)
        return path

    def _plt(self):
        import matplotlib

        matplotlib.use("Agg", force=False) if matplotlib.get_backend().lower() != "agg" else None
        import matplotlib.pyplot as plt

        return plt

    def visualize_gradients(self, path: Optional[str] = None, top: int = 8) -> Optional[str]:
        """PNG of the global and per-layer gradient norms over steps; return its path (None: no data)."""
        if not self.gradient_history:
            return None
        plt = self._plt()
        path = path or os.path.join(self.output_dir(), "gradients.png")
        steps = [h["step"] for h in self.gradient_history]
        last = self.gradient_history[-1]["layers"]
        names = sorted(last, key=lambda n: last[n]["norm"], reverse=True)[:top]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
        ax1.plot(steps, [max(h["global_norm"], 1e-12) for h in self.gradient_history], label="global", lw=2, color="k")
        for n in names:
            ax1.plot(steps, [max(h["layers"].get(n, {}).get("norm", float("nan")), 1e-12) for h in self.gradient_history],
                     label=n, lw=1)
        ax1.set_yscale("log")
        ax1.axhline(float(self.config["gradient_threshold"]), color="r", ls="--", lw=1, label="explosion threshold")
        ax1.set_xlabel("step")
        ax1.set_ylabel("gradient norm")
        ax1.set_title("gradient norms")
        ax1.legend(fontsize=6, loc="best")
        all_names = list(last)
        ax2.barh(range(len(all_names)), [max(last[n]["norm"], 1e-12) for n in all_names], color="tab:blue")
        ax2.set_yticks(range(len(all_names)))
        ax2.set_yticklabels(all_names, fontsize=5)
        ax2.set_xscale("log")
        ax2.set_title(f"per-layer norm at step {steps[-1]}")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.figures["gradients"] = path
        self._log_image("debug/figures/gradients", path)
        return path

    def visualize_memory(self, path: Optional[str] = None) -> Optional[str]:
        """PNG of memory over steps (RSS, and CUDA allocated/peak when present); return its path."""
        if not self.memory_history:
            return None
        plt = self._plt()
        path = path or os.path.join(self.output_dir(), "memory.png")
        steps = [s["step"] for s in self.memory_history]
        fig, ax = plt.subplots(figsize=(7, 4))
        for key in ("rss_mb", "cuda_allocated_mb", "cuda_peak_mb"):
            if any(key in s for s in self.memory_history):
                ax.plot(steps, [s.get(key, float("nan")) for s in self.memory_history], marker=".", label=key)
        ax.set_xlabel("step")
        ax.set_ylabel("MB")
        ax.set_title("memory")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.figures["memory"] = path
        self._log_image("debug/figures/memory", path)
        return path

    def visualize_loss(self, path: Optional[str] = None) -> Optional[str]:
        if not self.loss_history:
            return None
        plt = self._plt()
        path = path or os.path.join(self.output_dir(), "loss.png")
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(list(self.loss_history), lw=1)
        ax.set_xlabel("batch")
        ax.set_ylabel("loss")
        ax.set_title("training loss")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.figures["loss"] = path
        self._log_image("debug/figures/loss", path)
        return path

    def _log_image(self, key: str, path: str) -> None:
        from seetrain.media import Image

        self.log({key: Image(path)}, step=self._step)

    def generate_full_report(self, path: Optional[str] = None) -> str:
        """Write a self-contained HTML report (tables + embedded figures); return its path."""
        out = path or os.path.join(self.output_dir(), "report.html")
        figures = [p for p in (self.visualize_loss(), self.visualize_gradients(), self.visualize_memory()) if p]
        diag = self.diagnose_training()
        esc = html.escape

        def table(rows: List[Sequence[Any]], header: Sequence[str]) -> str:
            if not rows:
                return "<p><i>none</i></p>"
            head = "".join(f"<th>{esc(str(h))}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
            return f"<table><tr>{head}</tr>{body}</table>"

        parts = [f"<h1>SeeTrain debugging report</h1><p>level <b>{esc(self.level)}</b>, "
                 f"{len(self.loss_history)} losses, {len(self.gradient_history)} gradient measurements, "
                 f"generated {esc(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>",
                 f"<h2>Diagnosis: {esc(diag['status'])}</h2>",
                 table([(i["issue"], i["message"], i["advice"]) for i in diag["issues"]], ["issue", "what", "advice"])]
        if self.gradient_history:
            last = self.gradient_history[-1]
            parts.append(f"<h2>Gradients (step {last['step']}, global norm {last['global_norm']:.4g})</h2>")
            cols = ["norm", "mean", "std", "max"]
            parts.append(table([[n] + [s.get(c, "") for c in cols] for n, s in last["layers"].items()], ["layer"] + cols))
        parts.append("<h2>Anomalies</h2>")
        parts.append(table([(a["step"], a["kind"], a["layer"], a["value"]) for a in self.anomalies[-200:]],
                           ["step", "kind", "where", "value"]))
        if self.activation_stats:
            keys = sorted({k for s in self.activation_stats.values() for k in s})
            parts.append("<h2>Activations</h2>")
            parts.append(table([[n] + [s.get(k, "") for k in keys] for n, s in self.activation_stats.items()], ["module"] + keys))
        if self.memory_history:
            leak = self.detect_memory_leak()
            parts.append(f"<h2>Memory</h2><p>last: {esc(_fmt(self.memory_history[-1]))}; trend "
                         f"{leak['slope_mb_per_step']:.3g} MB/step; leak suspected: {leak['suspected']}</p>")
        parts.append("<h2>Profiled sections</h2>")
        parts.append(table([(b["section"], b["calls"], b["total_s"], b["mean_ms"], b["max_ms"], b["mem_delta_mb"],
                             f"{b['share']:.1%}") for b in self.bottlenecks()],
                           ["section", "calls", "total s", "mean ms", "max ms", "mem delta MB", "share"]))
        for fig in figures:
            with open(fig, "rb") as f:
                data = base64.b64encode(f.read()).decode()
            parts.append(f"<h2>{esc(os.path.basename(fig))}</h2><img src='data:image/png;base64,{data}'/>")
        style = ("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
                 "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style>")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(f"<!doctype html><html><head><meta charset='utf-8'><title>SeeTrain debugging report</title>{style}"
                    f"</head><body>{''.join(parts)}</body></html>")
        self._note({"report": os.path.abspath(out)})
        return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)
