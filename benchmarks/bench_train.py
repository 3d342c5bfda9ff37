"""The config-driven trainer against a hand-written PyTorch loop doing the same work.

    python benchmarks/bench_train.py [--repeats 3] [--cli-repeats N] [--skip-cli] [--skip-loops] [--pairs 8] [--errors]

1. ``seetrain train model=small_cnn data=digits`` as a user runs it (a fresh process, default
   config, tracking on): wall time of the whole command including start-up, the time at which
   validation accuracy first reached 0.95, and the best accuracy. Target: >= 0.95 within 60 s.
2. Trainer overhead: the same model, data, optimizer, schedule and number of steps, trained by the
   Lightning backend (tracking and checkpoints off) and by a plain PyTorch loop; each measurement
   in its own process (so peak memory is its own), repeated and interleaved; torch uses one thread
   so CPU time is comparable on a shared machine. Target: <= 5 % (CPU time of the training call).
3. Tracking overhead: the plain loop with ``seetrain.log`` of loss, accuracy and lr every step,
   against the same loop without it (process CPU: includes the writer thread and init's one-time
   environment capture), and the time spent inside the ``seetrain.log`` calls as a share of the
   loop (the hot path itself). Target: < 1 %. Two separate processes differ by several per cent
   on a shared VM whatever they run, so SeeTrain's own CPU is also measured directly inside the
   tracked process: the main thread's CPU inside the ``log`` calls plus the CPU of SeeTrain's
   threads (writer, environment capture; per-thread clocks) over the loop, against the loop's CPU.

Overheads are the median (min-max) of the per-repeat ratios of interleaved runs, and also the ratio
of each side's fastest repeat (interference on a shared machine only ever slows a run down). On a
shared VM two processes doing the same work differ by up to 30 %, so the trainer's overhead is also
measured within one process (``--pairs``): the plain loop and the backend alternately, moments apart,
after a warm-up pair; its median ratio is the figure the <= 5 % target is read from.

4. The per-step cost probe: the digits workload with one linear layer on both sides, so that the
   "extra CPU per step" row is the trainer's own per-step cost (plus its one-time ``fit`` set-up
   spread over the steps) with next to no arithmetic beside it.

5. ``--errors``: the time from launch to a config or path error (a typo, an unwritable log or
   checkpoint folder, a missing data folder, a bad batch size), fresh process, start-up included.
   Target (issue 27): < 1 s, before any framework is imported. A batch size larger than the training
   set needs the data: the task builds it before the backend and the model are loaded, so that error
   comes before the imports too.

Backend columns: ``lightning`` today; ``paddle`` is the column issue 15 fills (``WORKERS`` below).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List

WORKLOADS = {  # name -> trainer overrides (the plain loop reads the same config)
    "digits 8x8, bs 64, 10 epochs": ["model=small_cnn", "data=digits", "trainer.max_epochs=10"],
    "synthetic 32x32x3, bs 128, 4 epochs": ["model=small_cnn", "data=synthetic", "data.num_samples=2048",
                                           "data.batch_size=128", "trainer.max_epochs=4"],
}
LINEAR = "<one linear layer>"  # marker: both sides train Flatten+Linear, so a step's arithmetic is next to nothing
WORKLOADS["digits 8x8, one linear layer (per-step cost probe)"] = WORKLOADS["digits 8x8, bs 64, 10 epochs"] + [LINEAR]
COMMON = ["trainer.enable_progress_bar=false", "trainer.checkpoint.enabled=false", "logger=none",
          "trainer.num_threads=1"]


# --- workers (each runs in its own process) -----------------------------------------------------
def _threads_cpu() -> Dict[int, float]:
    """CPU seconds so far of every Python thread but the calling one (Linux per-thread clocks)."""
    out: Dict[int, float] = {}
    me = threading.get_ident()
    for t in threading.enumerate():
        if t.ident is None or t.ident == me:
            continue
        try:
            out[t.ident] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (AttributeError, OSError):  # the thread just ended, or no per-thread clocks here
            pass
    return out


def _prepare(overrides: List[str]):
    from seetrain.train.config import load_config
    from seetrain.train.runner import plan

    backend, job, model = plan(load_config([o for o in overrides if o != LINEAR] + COMMON))
    if LINEAR in overrides:
        import torch

        c, h, w = job.train.shape
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c * h * w, job.model_kwargs["num_classes"]))
    return backend, job, model


def worker_lightning(overrides: List[str]) -> Dict[str, Any]:
    backend, job, model = _prepare(overrides)
    c0, t0 = time.process_time(), time.perf_counter()
    res = backend.fit(job, model)
    return {"cpu": time.process_time() - c0, "wall": time.perf_counter() - t0, "steps": res.steps,
            "acc": res.last.get("val/acc")}


def worker_plain(overrides: List[str], track: bool = False) -> Dict[str, Any]:
    """A hand-written loop: same model, batches, AdamW + cosine, validation each epoch."""
    import numpy as np
    import torch
    from torch.nn import functional as F

    from seetrain.train.backends.torch_optim import build_optimizer, build_scheduler

    _, job, model = _prepare(overrides)
    cfg = job.config
    torch.set_num_threads(1)
    torch.manual_seed(cfg["seed"])
    xs, ys = (torch.from_numpy(a) for a in job.train.batch(np.arange(len(job.train))))
    xv, yv = (torch.from_numpy(a) for a in job.val.batch(np.arange(len(job.val))))
    bs, epochs = job.batch_size, int(cfg["trainer"]["max_epochs"])
    per_epoch = len(ys) // bs
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = build_optimizer([{"params": decay, "weight_decay": cfg["optim"]["weight_decay"]},
                           {"params": rest, "weight_decay": 0.0}], cfg["optim"])
    sched = build_scheduler(opt, cfg["scheduler"], per_epoch * epochs, per_epoch)
    run = None
    if track:
        import seetrain

        run = seetrain.init(project="bench", config=cfg, logdir=tempfile.mkdtemp(), system_metrics=False)
    c0, t0, threads0 = time.process_time(), time.perf_counter(), _threads_cpu()
    step, acc, log_s, log_cpu = 0, 0.0, 0.0, 0.0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ys))
        for i in range(per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            logits = model(xs[idx])
            loss = F.cross_entropy(logits, ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if run is not None:
                loss_v, lr = loss.item(), opt.param_groups[0]["lr"]
                l0, lc0 = time.perf_counter(), time.thread_time()
                run.log({"train/loss": loss_v, "lr": lr}, step=step)
                log_s += time.perf_counter() - l0
                log_cpu += time.thread_time() - lc0
            step += 1
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xv[j:j + bs]).argmax(1) == yv[j:j + bs]).sum()) for j in range(0, len(yv), bs))
        acc = correct / len(yv)
        if run is not None:
            lc0 = time.thread_time()
            run.log({"val/acc": acc}, step=step - 1)
            log_cpu += time.thread_time() - lc0
    threads1 = _threads_cpu()
    cpu = time.process_time() - c0
    own = log_cpu + sum(v - threads0.get(k, 0.0) for k, v in threads1.items())
    out = {"cpu": cpu, "wall": time.perf_counter() - t0, "steps": step, "acc": acc,
           "log_share": log_s / max(time.perf_counter() - t0, 1e-9), "own_share": own / max(cpu - own, 1e-9)}
    if run is not None:
        f0 = time.perf_counter()
        run.finish()
        out["finish"] = time.perf_counter() - f0
    return out


WORKERS = {"lightning": worker_lightning, "plain": worker_plain,
           "plain+tracking": lambda o: worker_plain(o, track=True)}


def worker_paired(overrides: List[str], pairs: int) -> Dict[str, Any]:
    """The plain loop and the Lightning backend alternately in this one process (plain-lightning, then
    lightning-plain, ...), after one warm-up pair that is not counted: the same interpreter, memory
    layout and core, moments apart, so the machine's drift between processes drops out of the ratio."""
    worker_plain(overrides)
    worker_lightning(overrides)
    out: Dict[str, List[float]] = {"plain": [], "lightning": []}
    for i in range(pairs):
        for kind in (("plain", "lightning") if i % 2 == 0 else ("lightning", "plain")):
            out[kind].append(WORKERS[kind](overrides)["cpu"])
    return {"plain": out["plain"], "lightning": out["lightning"],
            "ratios": [a / b - 1 for a, b in zip(out["lightning"], out["plain"])]}
# issue 15 adds: WORKERS["paddle"] = worker_paddle  (same overrides, trainer.backend=paddle)


def _spawn(kind: str, workload: str) -> Dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", kind, "--workload", workload]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if res.returncode:
        raise RuntimeError(f"{kind} worker failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --- the one-command run -----------------------------------------------------------------------
def cli_run(seed: int) -> Dict[str, Any]:
    import seetrain

    logdir = tempfile.mkdtemp(prefix="bench_train_")
    env = {**os.environ, "SEETRAIN_LOGDIR": logdir}
    t0 = time.time()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([sys.executable, "-m", "seetrain.cli", "train", "model=small_cnn", "data=digits",
                          f"seed={seed}", "trainer.enable_progress_bar=false"], capture_output=True, text=True,
                         env=env, timeout=1200)
    wall = time.time() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if res.returncode:
        raise RuntimeError(res.stderr[-3000:])
    run = seetrain.list_runs(logdir)[0]
    first = None
    for rec in run.iter_data():
        v = rec["data"].get("val/acc")
        if isinstance(v, (int, float)) and v >= 0.95:
            first = rec["time"] - t0
            break
    best = float(re.search(r"best val/acc: ([0-9.]+)", res.stdout).group(1))
    return {"wall": wall, "cpu": cpu, "first95": first, "best": best}


def _fmt(xs: List[float], unit: str = "s", scale: float = 1.0) -> str:
    xs = [x * scale for x in xs]
    return f"{statistics.median(xs):.2f}{unit} ({min(xs):.2f}-{max(xs):.2f})"


def interleaved_table(name: str, repeats: int) -> None:
    """Each side in its own processes, interleaved, ``repeats`` times: the table of one workload."""
    res: Dict[str, List[Dict[str, Any]]] = {k: [] for k in WORKERS}
    for _ in range(repeats):
        for kind in WORKERS:  # interleaved
            res[kind].append(_spawn(kind, name))
    base = res["plain"]
    ratio = lambda k, f: [x[f] / b[f] - 1 for x, b in zip(res[k], base)]  # noqa: E731
    steps = base[0]["steps"]
    print(f"## {name}: {steps} optimizer steps, {repeats} repeats (median, min-max)")
    print("| | plain PyTorch loop | lightning backend | paddle backend (issue 15) | plain loop + seetrain.log |")
    print("|---|---|---|---|---|")
    cols = ["plain", "lightning", None, "plain+tracking"]
    cell = lambda k, f, s=1.0, u="s": _fmt([x[f] for x in res[k]], u, s) if k else "-"  # noqa: E731
    print("| CPU time of training | " + " | ".join(cell(k, "cpu") for k in cols) + " |")
    print("| wall time of training | " + " | ".join(cell(k, "wall") for k in cols) + " |")
    print("| CPU ms per step | " + " | ".join(cell(k, "cpu", 1000.0 / steps, " ms") for k in cols) + " |")
    extra = lambda k: _fmt([(x["cpu"] - b["cpu"]) / steps for x, b in zip(res[k], base)], " ms", 1000.0)  # noqa: E731
    print(f"| extra CPU per step vs plain (its fixed start-up cost spread over the steps) | - | {extra('lightning')} | - | "
          f"{extra('plain+tracking')} |")
    print("| peak RSS | " + " | ".join(cell(k, "peak_rss_mb", 1.0, " MB") for k in cols) + " |")
    print("| final val/acc | " + " | ".join(cell(k, "acc", 1.0, "") for k in cols) + " |")
    fastest = lambda k: f"{(min(x['cpu'] for x in res[k]) / min(b['cpu'] for b in base) - 1) * 100:.2f} %"  # noqa: E731
    print(f"| overhead vs plain, CPU (target lightning <= 5 %, tracking < 1 %) | - | "
          f"{_fmt(ratio('lightning', 'cpu'), ' %', 100)} | - | {_fmt(ratio('plain+tracking', 'cpu'), ' %', 100)} |")
    print(f"| overhead vs plain, CPU, fastest repeat of each | - | {fastest('lightning')} | - | "
          f"{fastest('plain+tracking')} |")
    print(f"| overhead vs plain, wall | - | {_fmt(ratio('lightning', 'wall'), ' %', 100)} | - | "
          f"{_fmt(ratio('plain+tracking', 'wall'), ' %', 100)} |")
    print(f"| time inside seetrain.log calls / loop wall | - | - | - | "
          f"{_fmt([x['log_share'] for x in res['plain+tracking']], ' %', 100)} |")
    print(f"| SeeTrain's own CPU (log calls + its threads) / the rest of the loop's CPU | - | - | - | "
          f"{_fmt([x['own_share'] for x in res['plain+tracking']], ' %', 100)} |\n", flush=True)


def paired_line(name: str, pairs: int) -> None:
    """The plain loop and the backend alternately in one process (see :func:`worker_paired`)."""
    cmd = [sys.executable, __file__, "--worker", "paired", "--workload", name, "--pairs", str(pairs)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if run.returncode:
        raise RuntimeError(f"paired worker failed:\n{run.stderr[-3000:]}")
    pr = json.loads(run.stdout.strip().splitlines()[-1])
    total = (sum(pr["lightning"]) / sum(pr["plain"]) - 1) * 100
    print(f"{name}: same process, alternating, {pairs} pairs after a warm-up pair: plain {_fmt(pr['plain'])}, "
          f"lightning {_fmt(pr['lightning'])}; **lightning overhead vs plain, CPU: {_fmt(pr['ratios'], ' %', 100)}** "
          f"(median of the pairs; all pairs' CPU summed: {total:+.2f} %) (target <= 5 %)\n", flush=True)


# --- time to a config or path error (issue 27: < 1 s, before any framework import) -----------------
ERROR_CASES = [  # (what, arguments after `python -m seetrain.train`)
    ("typo in a key", ["trainer.max_epoch=3"]),
    ("unwritable log dir", ["logger.logdir={tmp}/a-file/logs"]),
    ("unwritable checkpoint dir", ["trainer.checkpoint.dirpath={tmp}/a-file/ckpt"]),
    ("missing data folder", ["data=folder", "data.root={tmp}/no-such-folder"]),
    ("batch size 0", ["data.batch_size=0"]),
    ("batch size > training set (data=digits built)", ["data.batch_size=5000"]),
]


def errors_table(repeats: int) -> None:
    """Wall time of ``python -m seetrain.train ARGS`` up to its one-line error (fresh process, start-up included)."""
    tmp = tempfile.mkdtemp(prefix="bench_train_err_")
    open(os.path.join(tmp, "a-file"), "w").close()
    env = {**os.environ, "SEETRAIN_LOGDIR": os.path.join(tmp, "logs")}
    print("## time to a config or path error  (fresh process, start-up included)")
    print("| error | wall, median (min-max) | exit | target |")
    print("|---|---|---|---|")
    for what, args in ERROR_CASES:
        walls, code = [], None
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "seetrain.train"] + [a.format(tmp=tmp) for a in args],
                                 capture_output=True, text=True, env=env, timeout=600, cwd=tmp)
            walls.append(time.perf_counter() - t0)
            code = res.returncode
        print(f"| {what} | {_fmt(walls)} | {code} | < 1 s |", flush=True)
    print()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--errors", action="store_true", help="only the time-to-error section")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-cli", action="store_true")
    p.add_argument("--skip-loops", action="store_true", help="only the one-command part")
    p.add_argument("--cli-repeats", type=int, default=None, help="runs of the one-command part (default: --repeats)")
    p.add_argument("--worker", default=None)
    p.add_argument("--workload", default=None, choices=list(WORKLOADS), help="only this workload")
    p.add_argument("--pairs", type=int, default=8, help="plain/lightning pairs of the same-process measurement (0: skip)")
    a = p.parse_args()
    if a.worker == "paired":
        print(json.dumps(worker_paired(WORKLOADS[a.workload], a.pairs)))
        return
    if a.worker:
        out = WORKERS[a.worker](WORKLOADS[a.workload])
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    print(f"# bench_train  ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start)\n", flush=True)
    if a.errors:
        errors_table(a.repeats)
        return
    if not a.skip_cli:
        n = a.cli_repeats or a.repeats
        rows = [cli_run(seed) for seed in range(n)]
        print("## seetrain train model=small_cnn data=digits  (fresh process, defaults, tracking on; seeds 0..%d)" % (n - 1))
        print("| measure | median (min-max) | target |")
        print("|---|---|---|")
        print(f"| whole command, wall incl. start-up | {_fmt([r['wall'] for r in rows])} | - |")
        print(f"| whole command, CPU time (user+sys) | {_fmt([r['cpu'] for r in rows])} | - |")
        firsts = [r["first95"] for r in rows if r["first95"] is not None]
        print(f"| val/acc first >= 0.95, from launch | {_fmt(firsts) if firsts else 'never'} | < 60 s |")
        print(f"| best val/acc | {_fmt([r['best'] for r in rows], unit='')} | >= 0.95 |\n", flush=True)
    for name in ([] if a.skip_loops else [a.workload] if a.workload else WORKLOADS):  # --workload: only that one
        if a.repeats:  # --repeats 0: only the same-process pairs
            interleaved_table(name, a.repeats)
        if a.pairs:
            paired_line(name, a.pairs)

if __name__ == "__main__":
    main()
