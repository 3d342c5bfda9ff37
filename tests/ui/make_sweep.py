"""A 200-run hyperparameter sweep written with the real SDK (run in a subprocess), for the dashboard's
analysis tests:  python make_sweep.py LOGDIR [N]  ->  project "sweep", N runs (default 200).

``sweep_config(i)`` and ``curve(i, step)`` are what run ``i`` logged, so tests compute expected values
from them without reading the runs back."""

from __future__ import annotations

import math
import sys

OPTIMIZERS = ("adam", "adamw", "sgd")
STEPS = 12


def sweep_config(i: int) -> dict:
    """Run i's config: lr spans 1e-5..1e-1 (log-uniform, deterministic), three optimizers, batch, depth."""
    frac = ((i * 37) % 200) / 199
    return {"lr": float(f"{10 ** (-5 + 4 * frac):.6g}"), "optimizer": OPTIMIZERS[i % 3], "batch": (16, 32, 64, 128)[(i // 3) % 4],
            "model": {"depth": 2 + (i // 2) % 7}, "dropout": round((i % 5) * 0.1, 1)}


def curve(i: int, step: int) -> dict:
    """The metrics run i logged at ``step``."""
    c = sweep_config(i)
    quality = 1 - abs(math.log10(c["lr"]) + 3) / 3 - 0.1 * OPTIMIZERS.index(c["optimizer"])
    acc = 0.5 + 0.45 * quality * (1 - math.exp(-(step + 1) / 4))
    return {"val/acc": round(acc, 6), "val/loss": round(2 - acc, 6), "train/loss": round(1.5 - acc + 0.01 * (i % 7), 6),
            "aaa/first_alphabetically": float(step), "sys/gpu": 50.0}


def main(logdir: str, n: int) -> None:
    import seetrain

    for i in range(n):
        run = seetrain.init(project="sweep", experiment_name=f"s{i:03d}", logdir=logdir, system_metrics=False,
                            config=sweep_config(i), tags=["best"] if i % 10 == 0 else [])
        for s in range(STEPS):
            m = curve(i, s)
            if i % 4 == 0:
                m.pop("aaa/first_alphabetically")  # not in every run: less common than the validation metrics
            run.log(m, step=s)
        run.finish()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200)
