"""VFT/TVA against fair standard baselines: speed, memory, FLOPs and validation loss over seeds.

    .venv/bin/python benchmarks/bench_vft.py            # ~10-15 min on 2 CPU cores (3 seeds x 3 models x 200 steps)
    .venv/bin/python benchmarks/bench_vft.py --quick    # ~3 min: 2 seeds, 60 steps, fewer repetitions
    .venv/bin/python benchmarks/bench_vft.py --plugin   # also the advanced-debugging overhead per step

Baselines. A standard pre-norm block (multi-head attention + GELU MLP) whose MLP hidden width is chosen so
that it has (a) the **same parameter count** as the VFT block, (b) the **same forward FLOPs** at the
sequence length measured (matmuls counted by ``torch.utils.flop_counter``, plus the attention scores and mixing
``4 B T^2 H dim`` which it does not count for the CPU SDPA kernel; when even a 1-unit MLP is over VFT's FLOPs,
the narrowest block is used and the row says so), and for reference (c) the usual
``4 * d_model`` width that the old figure compared against. Attention is the same multi-head attention in
every standard block; only the MLP width changes.

Speed: the fastest of a few forward+backward repetitions after a warm-up, wall-clock and process CPU time
(the machine is shared and noisy; CPU time is steadier). Memory: on CUDA the peak allocated memory of one
forward+backward; on CPU the bytes of the tensors autograd saves for backward (activations, parameters
excluded), which is what grows with T.

Quality: each model (vft_tiny's shape, the same-parameter and same-FLOPs standard LMs) is trained with
AdamW on the shipped corpus (byte tokens, 90/10 train/validation split) for the same number of steps
over several seeds; the validation loss is read at equal steps and at equal training wall-clock and CPU
time (the last evaluation inside the budget that every model reached). Mean +- sample std over seeds.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from seetrain.apt.model import APTConfig, APTLanguageModel, StandardBlock, StandardLanguageModel, VFTBlock  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


# --------------------------------------------------------------------------------------------------
# baselines of matched size
# --------------------------------------------------------------------------------------------------
def set_mlp_width(block: StandardBlock, hidden: int) -> StandardBlock:
    """Give a standard block a GELU MLP of ``hidden`` units (fresh weights, same init as nn.Linear)."""
    d = block.ln2.normalized_shape[0]
    block.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
    return block


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def attention_core_flops(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of the attention scores and mixing (``QK^T`` and ``PV``: ``4 B T^2 H dim``, full square), which
    ``FlopCounterMode`` does not count for PyTorch's CPU SDPA kernel: ``dim`` is ``d_head`` for standard
    attention and the head subspace ``r_h`` for TVA."""
    from seetrain.apt.model import StandardAttention, TVAAttention

    B, T = int(x.shape[0]), int(x.shape[1])
    total = 0
    for m in module.modules():
        if isinstance(m, TVAAttention):
            total += 4 * B * T * T * m.n_heads * m.head_rank
        elif isinstance(m, StandardAttention):
            total += 4 * B * T * T * m.n_heads * m.d_head
    return total


def forward_flops(module: nn.Module, x: torch.Tensor, forward: Callable) -> int:
    """Forward FLOPs: matmuls counted by ``FlopCounterMode`` plus the attention core (see above)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward(module, x)
    return int(counter.get_total_flops()) + attention_core_flops(module, x)


def solve_linear(measure: Callable[[int], float], target: float) -> int:
    """The hidden width h >= 1 where ``measure(h)`` (linear in h) is closest to ``target``."""
    a, b = measure(64), measure(128)
    slope = (b - a) / 64.0
    return max(1, int(round(64 + (target - a) / slope)))


def std_block(cfg: APTConfig, hidden: int) -> StandardBlock:
    return set_mlp_width(StandardBlock(cfg), hidden)


def std_lm(cfg: APTConfig, hidden: int) -> StandardLanguageModel:
    model = StandardLanguageModel(cfg)
    for block in model.blocks:
        set_mlp_width(block, hidden)
    model.apply(model._init_weights)  # the same initialisation as the rest of the model
    return model


# --------------------------------------------------------------------------------------------------
# speed and memory
# --------------------------------------------------------------------------------------------------
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


def measure(module: nn.Module, x: torch.Tensor, forward: Callable, reps: int) -> Tuple[float, float, float]:
    """(fastest wall ms, fastest CPU ms of forward+backward over ``reps``, memory MB)."""
    def step():
        forward(module, x).backward()
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
        mem = saved_activation_mb(lambda: forward(module, x), list(module.parameters()))
        module.zero_grad(set_to_none=True)
    walls, cpus = [], []
    for _ in range(reps):
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        walls.append((time.perf_counter() - t0) * 1000.0)
        cpus.append((time.process_time() - c0) * 1000.0)
    return min(walls), min(cpus), mem


def table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(str(c).rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def block_loss(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m(x)[0].square().mean()


def bench_blocks(reps: int, lengths=(256, 1024, 2048)) -> None:
    d, heads, rank, attn_rank = 256, 8, 64, 8
    cfg = APTConfig(d_model=d, n_heads=heads, rank=rank, attn_rank=attn_rank, max_seq_len=max(lengths))
    torch.manual_seed(0)
    vft = VFTBlock(cfg).to(DEVICE)
    p_vft = n_params(vft)
    h_params = solve_linear(lambda h: n_params(std_block(cfg, h)), p_vft)
    print(f"\n## One block, d_model={d}, heads={heads} (d_head={d // heads}), vein rank={rank}, attention rank "
          f"per head={cfg.head_rank}, batch 1, device {DEVICE}. Standard MLP widths: same params {h_params}, "
          f"reference {4 * d}; same FLOPs solved per T")
    rows = []
    for T in lengths:
        x = torch.randn(1, T, d, device=DEVICE)
        f_vft = forward_flops(vft, x, block_loss)
        h_flops = solve_linear(lambda h: forward_flops(std_block(cfg, h), x, block_loss), f_vft)
        flops_note = str(h_flops) if forward_flops(std_block(cfg, h_flops), x, block_loss) <= 1.05 * f_vft else \
            f"{h_flops} (still over)"
        models = [("vft", vft, "-"), ("std same-params", std_block(cfg, h_params), str(h_params)),
                  ("std same-FLOPs", std_block(cfg, h_flops), flops_note), ("std 4d (old)", std_block(cfg, 4 * d), str(4 * d))]
        base = None
        for name, block, width in models:
            torch.manual_seed(0)
            block = block.to(DEVICE)
            wall, cpu, mem = measure(block, x, block_loss, reps)
            base = base or (wall, cpu, mem)
            rows.append([str(T), name, width, f"{n_params(block):,}", f"{forward_flops(block, x, block_loss) / 1e9:.2f}",
                         f"{wall:.1f}", f"{cpu:.1f}", f"{mem:.1f}",
                         "1.00x" if name == "vft" else f"{cpu / base[1]:.2f}x"])
    print(table(rows, ["T", "block", "mlp width", "params", "fwd GFLOP", "fwd+bwd ms", "CPU ms", "MB",
                       "CPU time / vft"]))


# --------------------------------------------------------------------------------------------------
# validation loss at equal steps and equal time
# --------------------------------------------------------------------------------------------------
def corpus_ids() -> Tuple[torch.Tensor, torch.Tensor]:
    from seetrain.apt.data.corpus import load_corpus, split_ids
    from seetrain.apt.data.tokenizer import ByteTokenizer

    train, val = split_ids(ByteTokenizer().encode(load_corpus()), 0.1)
    return torch.tensor(train), torch.tensor(val)


def train_curve(model: nn.Module, train: torch.Tensor, val: torch.Tensor, steps: int, eval_every: int, seed: int,
                batch: int, seq: int, lr: float) -> List[Tuple[int, float, float, float]]:
    """Train with AdamW (warm-up then cosine); ``[(step, train wall s, train CPU s, val loss)]`` (eval excluded)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    n_val = min(8, (len(val) - 1) // (batch * seq)) or 1
    val_x = val[: n_val * batch * seq + 1]

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        losses = []
        for i in range(n_val):
            chunk = val_x[i * batch * seq:(i + 1) * batch * seq].view(batch, seq).to(DEVICE)
            losses.append(float(model(chunk, labels=chunk).loss))
        model.train()
        return statistics.mean(losses)

    curve, wall, cpu = [(0, 0.0, 0.0, evaluate())], 0.0, 0.0
    for step in range(1, steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        starts = torch.randint(0, len(train) - seq - 1, (batch,), generator=gen)
        x = torch.stack([train[s:s + seq] for s in starts.tolist()]).to(DEVICE)
        out = model(x, labels=x)
        loss = out.loss + (out.aux_loss if out.aux_loss is not None else 0.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if step % eval_every == 0 or step == steps:
            curve.append((step, wall, cpu, evaluate()))
    return curve


def at_budget(curve: List[Tuple[int, float, float, float]], index: int, budget: float) -> float:
    """Validation loss of the last evaluation whose training time (index 1 wall, 2 CPU) is within ``budget``."""
    inside = [c for c in curve if c[index] <= budget + 1e-9]
    return inside[-1][3]


def mean_std(xs: List[float]) -> str:
    return f"{statistics.mean(xs):.3f} +- {statistics.stdev(xs) if len(xs) > 1 else 0.0:.3f}"


def bench_quality(seeds: int, steps: int, eval_every: int, batch: int = 16, seq: int = 128, lr: float = 2e-3) -> None:
    cfg = APTConfig(vocab_size=259, d_model=128, n_heads=4, n_layers=3, rank=32, attn_rank=16, max_seq_len=seq)
    train, val = corpus_ids()
    x = torch.randint(0, 256, (batch, seq))
    lm_loss = lambda m, ids: m(ids, labels=ids).loss  # noqa: E731
    vft = APTLanguageModel(cfg)
    p_vft, f_vft = n_params(vft), forward_flops(vft, x, lm_loss)
    h_params = solve_linear(lambda h: n_params(std_lm(cfg, h)), p_vft)
    h_flops = solve_linear(lambda h: forward_flops(std_lm(cfg, h), x, lm_loss), f_vft)
    makers = {"vft (vft_tiny)": lambda: APTLanguageModel(cfg), f"std same-params (mlp {h_params})": lambda: std_lm(cfg, h_params),
              f"std same-FLOPs (mlp {h_flops})": lambda: std_lm(cfg, h_flops)}
    print(f"\n## Validation loss on the shipped corpus: d_model=128, 3 layers, 4 heads, batch {batch} x {seq} bytes, "
          f"AdamW lr {lr} (warm-up + cosine), {steps} steps, {seeds} seeds, eval every {eval_every} steps on "
          f"{min(8, (len(val) - 1) // (batch * seq))} x {batch} x {seq} validation bytes")
    curves: Dict[str, List[List[Tuple[int, float, float, float]]]] = {k: [] for k in makers}
    sizes = {}
    for seed in range(seeds):
        for name, make in makers.items():  # interleaved so machine load hits every model alike
            torch.manual_seed(seed)
            model = make().to(DEVICE)
            sizes[name] = (n_params(model), forward_flops(model, x.to(DEVICE), lm_loss))
            curves[name].append(train_curve(model, train, val, steps, eval_every, 1000 + seed, batch, seq, lr))
            print(f"  seed {seed} {name}: val loss {curves[name][-1][-1][3]:.3f} after {steps} steps, "
                  f"{curves[name][-1][-1][1]:.0f} s wall, {curves[name][-1][-1][2]:.0f} s CPU", flush=True)
    wall_budget = min(c[-1][1] for cs in curves.values() for c in cs)
    cpu_budget = min(c[-1][2] for cs in curves.values() for c in cs)
    half = [c[0] for c in curves[next(iter(curves))][0] if c[0] >= steps // 2][0]
    rows = []
    for name, cs in curves.items():
        rows.append([name, f"{sizes[name][0]:,}", f"{sizes[name][1] / 1e9:.2f}",
                     mean_std([[c for c in cv if c[0] == half][0][3] for cv in cs]),
                     mean_std([cv[-1][3] for cv in cs]),
                     mean_std([at_budget(cv, 1, wall_budget) for cv in cs]),
                     mean_std([at_budget(cv, 2, cpu_budget) for cv in cs]),
                     f"{statistics.mean(cv[-1][2] / steps * 1000 for cv in cs):.0f}"])
    print(table(rows, ["model", "params", "fwd GFLOP/batch", f"val loss @{half} steps", f"val loss @{steps} steps",
                       f"@{wall_budget:.0f} s wall", f"@{cpu_budget:.0f} s CPU", "CPU ms/step"]))
    print(f"(unigram baseline of the byte stream for scale: "
          f"{__import__('seetrain.apt.data.corpus', fromlist=['x']).unigram_cross_entropy(train.tolist(), val.tolist(), 259):.3f} nats)")


# --------------------------------------------------------------------------------------------------
# advanced-debugging overhead (optional)
# --------------------------------------------------------------------------------------------------
def bench_plugin(steps: int) -> None:
    import tempfile

    import seetrain
    from seetrain.apt.plugins.advanced_debugging import AdvancedDebuggingPlugin

    levels = ("off", "minimal", "normal", "verbose")
    print(f"\n## advanced-debugging overhead per training step (vft_tiny, batch 8 x 128, {steps} steps, levels interleaved)")
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
                t0 = time.process_time()
                if plugin:
                    plugin.on_batch_start({"step": step})
                loss = model(ids, labels=ids).loss
                loss.backward()
                if plugin:
                    plugin.on_batch_end({"model": model, "step": step, "loss": loss.detach()})
                opt.step()
                opt.zero_grad(set_to_none=True)
                if step >= 2:
                    times.append((time.process_time() - t0) * 1000.0)
        rows, base = [], None
        for level, model, opt, plugin, run, times in setups:
            if plugin:
                plugin.on_training_end({})
            run.finish()
            mean = statistics.mean(times)
            base = base or mean
            rows.append([level, f"{mean:.1f}", f"{(mean / base - 1) * 100:+.1f}%"])
    print(table(rows, ["debug_level", "mean CPU ms/step", "overhead"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, 60 steps, fewer repetitions")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--only", choices=("blocks", "quality"), help="run one part only")
    ap.add_argument("--plugin", action="store_true", help="also measure the advanced-debugging overhead")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reps = 2 if args.quick else 3
    seeds = args.seeds or (2 if args.quick else 3)
    steps = args.steps or (60 if args.quick else 200)
    t0, c0 = time.time(), time.process_time()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {DEVICE}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.only != "quality":
        bench_blocks(reps)
    if args.only != "blocks":
        bench_quality(seeds, steps, max(10, steps // 10))
    if args.plugin:
        bench_plugin(20 if args.quick else 40)
    print(f"\n(total {time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU)")


if __name__ == "__main__":
    main()
