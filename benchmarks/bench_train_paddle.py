"""The trainer's two backends side by side, and the PaddlePaddle callback's own cost (issue 15).

    python benchmarks/bench_train_paddle.py [--seeds 3] [--only backends|callback]

1. Backends: ``seetrain train`` with ``trainer.backend=lightning`` and ``trainer.backend=paddle`` on
   the same model, data, optimizer, schedule and number of steps (tracking and checkpoints off, one
   CPU thread each so CPU time compares on a shared machine), each run in its own process, seeds
   interleaved: CPU and wall time of the training call, per step, peak RSS of the process and its
   growth during training, final validation accuracy.
2. Callback overhead: the paddle backend with ``SeeTrainPaddleCallback`` logging every step against
   the same training without it (``logger=none``): CPU time of the whole training call (run
   creation and finish included), and the time spent inside the callback's hooks per step.

A separate file from benchmarks/bench_train.py (the Lightning-vs-plain-loop benchmark, which was
being changed while this was written); both print Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List

WORKLOADS = {  # name -> overrides shared by both backends
    "small_cnn, digits 8x8x1, bs 64, 5 epochs": ["model=small_cnn", "data=digits", "trainer.max_epochs=5"],
    "small_cnn, synthetic 32x32x3, bs 64, 2 epochs": ["model=small_cnn", "data=synthetic", "data.num_samples=1024",
                                                      "trainer.max_epochs=2"],
}
COMMON = ["trainer.enable_progress_bar=false", "trainer.checkpoint.enabled=false", "trainer.num_threads=1",
          "trainer.log_every_n_steps=1"]


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(backend: str, workload: str, seed: int, tracking: bool) -> Dict[str, Any]:
    from seetrain.train.config import load_config
    from seetrain.train.runner import plan

    overrides = WORKLOADS[workload] + COMMON + [f"trainer.backend={backend}", f"seed={seed}"]
    overrides += ["logger.logdir=" + os.environ.get("BENCH_LOGDIR", "/tmp/bench_train_paddle")] if tracking else ["logger=none"]
    backend_mod, job, model = plan(load_config(overrides))
    hook_s = [0.0]
    if tracking and backend == "paddle":  # time spent inside the callback's hooks
        from seetrain.integration.callbacks.paddle import SeeTrainPaddleCallback as CB

        for name in ("on_train_begin", "on_epoch_begin", "on_train_batch_end", "on_epoch_end", "on_eval_begin",
                     "on_eval_end", "on_train_end"):
            orig = getattr(CB, name)

            def timed(self, *a, _orig=orig, **kw):
                t = time.perf_counter()
                try:
                    return _orig(self, *a, **kw)
                finally:
                    hook_s[0] += time.perf_counter() - t
            setattr(CB, name, timed)
    rss0 = _rss_mb("VmRSS")
    c0, t0 = time.process_time(), time.perf_counter()
    res = backend_mod.fit(job, model)
    return {"cpu": time.process_time() - c0, "wall": time.perf_counter() - t0, "steps": res.steps,
            "acc": res.last.get("val/acc"), "peak_mb": _rss_mb("VmHWM"), "growth_mb": _rss_mb("VmHWM") - rss0,
            "hook_s": hook_s[0]}


def _spawn(*args: str) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(xs: List[float], unit: str = "", scale: float = 1.0, digits: int = 2) -> str:
    xs = [x * scale for x in xs]
    return f"{statistics.median(xs):.{digits}f}{unit} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def backends(seeds: int) -> None:
    for name in WORKLOADS:
        res: Dict[str, List[Dict[str, Any]]] = {"lightning": [], "paddle": []}
        for seed in range(seeds):
            for b in res:  # interleaved
                res[b].append(_spawn(b, name, str(seed), "0"))
        steps = {b: res[b][0]["steps"] for b in res}
        print(f"## {name}: {steps['lightning']} / {steps['paddle']} optimizer steps (lightning / paddle), "
              f"seeds 0..{seeds - 1}, median (min-max)")
        print("| | lightning backend | paddle backend | paddle / lightning |")
        print("|---|---|---|---|")
        for label, f, scale, unit in (("CPU time of training", "cpu", 1, " s"), ("wall time of training", "wall", 1, " s")):
            print(f"| {label} | " + " | ".join(_fmt([x[f] for x in res[b]], unit) for b in res)
                  + f" | {_fmt([p[f] / q[f] for p, q in zip(res['paddle'], res['lightning'])], 'x')} |")
        print("| CPU ms per step | " + " | ".join(_fmt([x["cpu"] * 1000 / x["steps"] for x in res[b]], " ms") for b in res)
              + " | - |")
        print("| wall ms per step | " + " | ".join(_fmt([x["wall"] * 1000 / x["steps"] for x in res[b]], " ms") for b in res)
              + " | - |")
        print("| peak RSS of the process | " + " | ".join(_fmt([x["peak_mb"] for x in res[b]], " MB", digits=0) for b in res)
              + " | - |")
        print("| RSS growth during training | " + " | ".join(_fmt([x["growth_mb"] for x in res[b]], " MB", digits=0)
                                                          for b in res) + " | - |")
        print("| final val/acc | " + " | ".join(_fmt([x["acc"] for x in res[b]], digits=4) for b in res) + " | - |\n",
              flush=True)


def callback(seeds: int) -> None:
    name = list(WORKLOADS)[0]
    res: Dict[str, List[Dict[str, Any]]] = {"off": [], "on": []}
    for seed in range(seeds):
        for k in res:
            res[k].append(_spawn("paddle", name, str(seed), "1" if k == "on" else "0"))
    steps = res["on"][0]["steps"]
    per = lambda xs, f: [x[f] * 1000 / x["steps"] for x in xs]  # noqa: E731
    print(f"## SeeTrainPaddleCallback overhead: paddle backend, {name}, {steps} steps, logging every step, "
          f"seeds 0..{seeds - 1}")
    print("| | without callback (logger=none) | with callback | difference |")
    print("|---|---|---|---|")
    print(f"| CPU time of training | {_fmt([x['cpu'] for x in res['off']], ' s')} | {_fmt([x['cpu'] for x in res['on']], ' s')} | "
          f"{_fmt([a['cpu'] / b['cpu'] - 1 for a, b in zip(res['on'], res['off'])], ' %', 100)} |")
    print(f"| CPU ms per step | {_fmt(per(res['off'], 'cpu'), ' ms')} | {_fmt(per(res['on'], 'cpu'), ' ms')} | "
          f"{_fmt([a - b for a, b in zip(per(res['on'], 'cpu'), per(res['off'], 'cpu'))], ' ms')} |")
    print(f"| time inside the callback's hooks per step | - | {_fmt(per(res['on'], 'hook_s'), ' ms', digits=3)} | "
          f"{_fmt([x['hook_s'] / x['wall'] for x in res['on']], ' % of wall', 100)} |\n", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--only", choices=("backends", "callback"), default=None)
    p.add_argument("--worker", nargs=4, default=None, metavar=("BACKEND", "WORKLOAD", "SEED", "TRACKING"))
    a = p.parse_args()
    if a.worker:
        b, w, seed, tracking = a.worker
        print(json.dumps(worker(b, w, int(seed), tracking == "1")))
        return
    print(f"# bench_train_paddle  ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start)\n", flush=True)
    if a.only in (None, "backends"):
        backends(a.seeds)
    if a.only in (None, "callback"):
        callback(a.seeds)


if __name__ == "__main__":
    main()
