"""The fixture of benchmarks/bench_query.py: RUNS run directories of POINTS metrics records each
(``val/acc`` and ``train/loss``), written in format 2 with the writer's own record codec
(``seetrain.rundir.records.METRICS_LINE``), once, under a cache folder reused by later runs."""

from __future__ import annotations

import os
import random
import time
import uuid as _uuid

import orjson


def make(root: str, runs: int, points: int) -> str:
    """``root/<runs>x<points>/`` as a log directory (project ``bench``); reused when complete."""
    from seetrain.rundir.records import METRICS_LINE

    logdir = os.path.join(root, f"{runs}x{points}")
    done = os.path.join(logdir, ".complete")
    if os.path.exists(done):
        return logdir
    t0 = time.time()
    rng = random.Random(7)
    for i in range(runs):
        d = os.path.join(logdir, "bench", f"run-{i:05d}")
        os.makedirs(d, exist_ok=True)
        start = 1_780_000_000.0 + i * 100
        lines = []
        acc_scale = rng.uniform(0.5, 1.0)
        for s in range(points):
            data = orjson.dumps({"train/loss": 1.0 / (s + 1) + rng.random() * 0.01,
                                 "val/acc": acc_scale * s / points})
            lines.append(METRICS_LINE % (s, start + s * 0.01, s, data))
        with open(os.path.join(d, "records.jsonl"), "wb") as f:
            f.write(b"".join(lines))
        meta = {"format": 2, "uuid": _uuid.UUID(int=rng.getrandbits(128)).hex, "id": f"run-{i:05d}",
                "name": f"run-{i:05d}", "project": "bench", "status": "success", "exit_code": 0,
                "start_time": start, "end_time": start + points * 0.01, "heartbeat": start + points * 0.01,
                "last_step": points - 1, "config": {"lr": 10 ** rng.uniform(-5, -1), "seed": i},
                "summary": {"train/loss": 1.0 / points, "val/acc": acc_scale * (points - 1) / points}}
        with open(os.path.join(d, "run.json"), "wb") as f:
            f.write(orjson.dumps(meta))
    open(done, "w").close()
    print(f"fixture: {runs} runs x {points} points written in {time.time() - t0:.1f} s under {logdir}", flush=True)
    return logdir


if __name__ == "__main__":
    import sys

    make(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
