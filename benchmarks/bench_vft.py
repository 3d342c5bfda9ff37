"""VFT/TVA against standard attention: forward+backward time and memory; debugging-plugin overhead.

    .venv/bin/python benchmarks/bench_vft.py            # about 1-2 minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench_vft.py --quick    # fewer repetitions

Memory: on CUDA the peak allocated memory of one forward+backward; on CPU the bytes of the tensors
autograd saves for backward (activations, parameters excluded), which is what grows with T.
Times are the fastest of a few repetitions after a warm-up (robust to other load on the machine). Numbers are what this machine gave; read them as such.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

from seetrain.apt.model import (  # noqa: E402
    APTConfig, APTLanguageModel, StandardAttention, StandardBlock, StandardLanguageModel, TVAAttention, VFTBlock,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def saved_activation_mb(fn: Callable[[], torch.Tensor], params) -> float:
    """MB of distinct non-parameter tensors autograd saves while running ``fn``."""
    skip = {p.data_ptr() for p in params}
    seen: Dict[int, int] = {}

    def pack(t: torch.Tensor):
        try:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in skip:
                seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        except Exception:
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    out.sum().backward()
    return sum(seen.values()) / 2 ** 20


def measure(module: torch.nn.Module, make_input: Callable[[], Tuple], forward: Callable, reps: int) -> Tuple[float, float]:
    """(fastest ms of forward+backward over ``reps``, memory MB)."""
    def step():
        out = forward(module, *make_input())
        out.backward()
        module.zero_grad(set_to_none=True)

    step()  # warm-up
    if DEVICE == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        mem = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    else:
        mem = saved_activation_mb(lambda: forward(module, *make_input()), list(module.parameters()))
        module.zero_grad(set_to_none=True)
    times = []
    for _ in range(reps):
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000.0)
    return min(times), mem


def table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(str(c).rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def bench_blocks(reps: int) -> None:
    d, heads, rank, attn_rank = 256, 8, 64, 8
    cfg = APTConfig(d_model=d, n_heads=heads, rank=rank, attn_rank=attn_rank, max_seq_len=2048)
    print(f"\n## One block, d_model={d}, heads={heads} (d_head={d // heads}), vein rank={rank}, "
          f"attention rank per head={cfg.head_rank}, batch 1, device {DEVICE}")
    rows = []
    for T in (256, 1024, 2048):
        res = {}
        for name, cls in (("standard", StandardBlock), ("vft", VFTBlock)):
            torch.manual_seed(0)
            block = cls(cfg).to(DEVICE)
            x = torch.randn(1, T, d, device=DEVICE)
            res[name] = measure(block, lambda: (x,), lambda m, x: m(x)[0].square().mean(), reps)
        for name, attn in (("std-attn", StandardAttention(d, heads)), ("tva-attn", TVAAttention(d, heads, attn_rank))):
            attn = attn.to(DEVICE)
            x = torch.randn(1, T, d, device=DEVICE)
            res[name] = measure(attn, lambda: (x,), lambda m, x: m(x)[0].square().mean(), reps)
        (ts, ms), (tv, mv) = res["standard"], res["vft"]
        rows.append([str(T), f"{ts:.1f}", f"{tv:.1f}", f"{ts / tv:.2f}x", f"{ms:.1f}", f"{mv:.1f}", f"{ms / max(mv, 1e-9):.2f}x",
                     f"{res['std-attn'][0]:.1f}", f"{res['tva-attn'][0]:.1f}"])
    n_std = sum(p.numel() for p in StandardBlock(cfg).parameters())
    n_vft = sum(p.numel() for p in VFTBlock(cfg).parameters())
    print(table(rows, ["T", "std ms", "vft ms", "speed-up", "std MB", "vft MB", "mem ratio", "attn-only std ms",
                       "attn-only tva ms"]))
    print(f"parameters per block: standard {n_std:,}, vft {n_vft:,}")


def bench_lm(reps: int) -> None:
    base = dict(d_model=128, n_heads=4, n_layers=3, rank=32, attn_rank=16, max_seq_len=128)
    B, T = 16, 128
    print(f"\n## Whole tiny LM (configs/model/vft_tiny.yaml vs standard_tiny.yaml), batch {B} x {T} tokens")
    rows = []
    for name, cls in (("standard", StandardLanguageModel), ("vft", APTLanguageModel)):
        torch.manual_seed(0)
        model = cls(APTConfig(**base)).to(DEVICE)
        ids = torch.randint(0, 256, (B, T), device=DEVICE)
        ms, mem = measure(model, lambda: (ids,), lambda m, x: m(x, labels=x).loss, reps)
        rows.append([name, f"{model.num_parameters():,}", f"{ms:.1f}", f"{mem:.1f}", f"{B * T / ms * 1000:,.0f}"])
    print(table(rows, ["model", "params", "fwd+bwd ms", "MB", "tokens/s"]))


def bench_plugin(steps: int) -> None:
    import seetrain
    from seetrain.apt.plugins.advanced_debugging import AdvancedDebuggingPlugin

    levels = ("off", "minimal", "normal", "verbose")
    print(f"\n## advanced-debugging overhead per training step (vft_tiny, batch 8 x 128, {steps} steps, "
          "log_every=10 (verbose: every step), a local SeeTrain run each; levels interleaved step by step)")
    with tempfile.TemporaryDirectory() as tmp:
        setups = []
        for level in levels:
            torch.manual_seed(0)
            model = APTLanguageModel(APTConfig(d_model=128, n_heads=4, n_layers=3, rank=32, attn_rank=16)).to(DEVICE)
            run = seetrain.init(project="bench", logdir=tmp, system_metrics=False)
            plugin = None if level == "off" else AdvancedDebuggingPlugin(
                {"debug_level": level, "output_dir": tmp, "report_on_end": False}, run=run)
            if plugin:
                plugin.on_training_start({"model": model})
            setups.append((level, model, torch.optim.AdamW(model.parameters(), lr=1e-3), plugin, run, []))
        ids = torch.randint(0, 256, (8, 128), device=DEVICE)
        for step in range(steps + 2):
            for level, model, opt, plugin, run, times in setups:
                t0 = time.perf_counter()
                if plugin:
                    plugin.on_batch_start({"step": step})
                loss = model(ids, labels=ids).loss
                loss.backward()
                if plugin:
                    plugin.on_batch_end({"model": model, "step": step, "loss": loss.detach()})
                opt.step()
                opt.zero_grad(set_to_none=True)
                if DEVICE == "cuda":
                    torch.cuda.synchronize()
                if step >= 2:
                    times.append((time.perf_counter() - t0) * 1000.0)
        rows = []
        base_mean = base_median = None
        for level, model, opt, plugin, run, times in setups:
            if plugin:
                plugin.on_training_end({})
            run.finish()
            mean, median = statistics.mean(times), statistics.median(times)
            base_mean, base_median = base_mean or mean, base_median or median
            rows.append([level, f"{mean:.1f}", f"{median:.1f}", f"{(mean - base_mean):+.1f} ms ({(mean / base_mean - 1) * 100:+.1f}%)",
                         f"{(median / base_median - 1) * 100:+.1f}%"])
    print(table(rows, ["debug_level", "mean ms/step", "median ms/step", "mean overhead", "median overhead"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reps = 2 if args.quick else 3
    t0 = time.time()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {DEVICE}")
    bench_blocks(reps)
    bench_lm(reps + 2)
    bench_plugin(20 if args.quick else 40)
    print(f"\n(total {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
