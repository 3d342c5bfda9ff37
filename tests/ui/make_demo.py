"""Writes the dashboard tests' demo runs with the real SDK (run in a subprocess):

    python make_demo.py LOGDIR            three finished runs of project "demo" with metrics,
                                          media and console output
    python make_demo.py LOGDIR --crash    one more run that dies of an uncaught exception
    python make_demo.py LOGDIR --live N   project "live": logs train/loss every 0.1 s until the
                                          file LOGDIR/stop exists or N seconds passed, writing
                                          the last logged step and value to LOGDIR/live.progress
    python make_demo.py LOGDIR --edges    project "edges": one run with tiny and huge values, NaN and
                                          +/-Inf, system metrics, a long multi-line text, a big image
    python make_demo.py LOGDIR --wide N   project "wide": N short runs with distinct configs
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

import seetrain


def demo(logdir: str) -> None:
    for r in range(3):
        run = seetrain.init(project="demo", experiment_name=f"run-{r}", logdir=logdir, system_metrics=False,
                            config={"lr": [0.1, 0.01, 0.001][r], "batch": 32, "model": {"depth": 4 + (r == 2), "act": "relu"}},
                            tags=["best"] if r == 0 else ["baseline"])
        for s in range(120):
            run.log({"train/loss": math.exp(-s / 40) + 0.1 * r, "train/acc": 1 - math.exp(-s / 30),
                     "eval/loss": math.exp(-s / 50) + 0.1 * r, "lr": 0.1 / (1 + s)}, step=s)
        rng = np.random.default_rng(r)
        for s in (0, 50, 100):
            run.log({"samples": seetrain.Image(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8), caption=f"step {s}"),
                     "weights": seetrain.Histogram(rng.normal(0, 1 + s / 50, 2000)),
                     "speech": seetrain.Audio(np.sin(np.arange(8000) * (440 + s) * 2 * np.pi / 8000) * 0.3, sample_rate=8000),
                     "notes": seetrain.Text(f"run {r} at step {s}: all good")}, step=s)
        print(f"hello from run-{r}")
        print(f"warning line of run-{r}", file=sys.stderr)
        run.finish()


def crash(logdir: str) -> None:
    run = seetrain.init(project="demo", experiment_name="run-crash", logdir=logdir, system_metrics=False,
                        config={"lr": 0.5, "batch": 32, "model": {"depth": 4, "act": "relu"}}, tags=["baseline"])
    for s in range(10):
        run.log({"train/loss": 1.0 / (s + 1)}, step=s)
    raise RuntimeError("loss exploded at step 10")


def live(logdir: str, seconds: float) -> None:
    run = seetrain.init(project="live", experiment_name="live-run", logdir=logdir, system_metrics=False,
                        flush_interval=0.1, config={"lr": 0.01})
    stop = os.path.join(logdir, "stop")
    t0 = time.time()
    step = 0
    while not os.path.exists(stop) and time.time() - t0 < seconds:
        value = round(1.0 / (step + 1), 6)
        run.log({"train/loss": value}, step=step)
        tmp = os.path.join(logdir, "live.progress.tmp")
        with open(tmp, "w") as f:
            f.write(f"{step} {value!r} {time.time()!r}")
        os.replace(tmp, os.path.join(logdir, "live.progress"))
        step += 1
        time.sleep(0.1)
    run.finish()


LONG_TEXT = "def generate(prompt):\n    tokens = tokenize(prompt)\n        # indented twice\n" + "\n".join(
    f"line {i}: " + "lorem ipsum " * 12 for i in range(60)) + "\nTHE END"


def edges(logdir: str) -> None:
    run = seetrain.init(project="edges", experiment_name="edge-run", logdir=logdir, system_metrics=True,
                        system_interval=0.05, config={"lr": 1e-4})
    for s in range(100):
        bad = {40: float("nan"), 60: float("inf"), 80: float("-inf")}.get(s)
        run.log({"tiny": 1e-4 * (1 + s / 100), "huge": 9.7e7 + 1000 * s,
                 "nan/loss": bad if bad is not None else 1.0 / (s + 1)}, step=s)
        if s % 10 == 0:
            time.sleep(0.03)
    time.sleep(0.4)  # a few system samples
    rng = np.random.default_rng(7)
    run.log({"big": seetrain.Image(rng.integers(0, 255, (400, 600, 3), dtype=np.uint8), caption="600x400"),
             "sample": seetrain.Text(LONG_TEXT),
             "weights": seetrain.Histogram(rng.normal(0, 1, 1000))}, step=100)
    run.finish()


def wide(logdir: str, n: int) -> None:
    for r in range(n):
        run = seetrain.init(project="wide", experiment_name=f"w-{r:03d}", logdir=logdir, system_metrics=False,
                            config={"lr": 0.001 * (r + 1), "optimizer": ["adam", "sgd", "adamw"][r % 3],
                                    "batch_size": 16 * (1 + r % 4), "dropout": round(0.05 * (r % 7), 2),
                                    "warmup_steps": 100 * (r % 5), "scheduler": "cosine" if r % 2 else "linear",
                                    "weight_decay": 0.01 * (r % 3)})
        for s in range(30):
            run.log({"train/loss": math.exp(-s / (10 + r)) + r / n, "val/acc": 1 - math.exp(-s / (8 + r)),
                     "val/loss": math.exp(-s / (12 + r)) + r / n}, step=s)
        run.finish()


if __name__ == "__main__":
    target = sys.argv[1]
    if "--crash" in sys.argv:
        crash(target)
    elif "--edges" in sys.argv:
        edges(target)
    elif "--wide" in sys.argv:
        wide(target, int(sys.argv[sys.argv.index("--wide") + 1]))
    elif "--live" in sys.argv:
        live(target, float(sys.argv[sys.argv.index("--live") + 1]))
    else:
        demo(target)
