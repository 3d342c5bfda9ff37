"""A small sweep written by the SDK (in a child process, as a user's script would): three runs of
one project and one of another, with nested config, tags, NaN and infinities, media and console
output, plus the values a test expects of it."""

from __future__ import annotations

import math
import os
import textwrap
from typing import Dict, List

from tests._child import run_python

LRS = [0.01, 0.001, 0.0001]
STEPS = 50

SCRIPT = textwrap.dedent('''
    import math, sys
    import numpy as np
    import seetrain
    logdir = sys.argv[1]
    for i, lr in enumerate(%(lrs)r):
        run = seetrain.init(project="sweep", experiment_name=f"lr{i}", logdir=logdir, tags=["sweep", f"t{i}"],
                            config={"lr": lr, "opt": {"name": "adam", "betas": [0.9, 0.99]}, "flag": i == 1},
                            system_metrics=False)
        for s in range(%(steps)d):
            seetrain.log({"train/loss": 1.0 / (s + 1) + i, "val/acc": s * (i + 1) / 100.0}, step=s)
        seetrain.log({"odd": float("nan")}, step=%(steps)d)
        seetrain.log({"odd": float("inf")}, step=%(steps)d + 1)
        seetrain.log({"odd": float("-inf")}, step=%(steps)d + 2)
        seetrain.log({"samples": seetrain.Image(np.full((4, 4, 3), 40 * i, dtype=np.uint8), caption=f"img{i}"),
                      "notes": seetrain.Text(f"note {i}")}, step=3)
        print(f"hello from run {i}", flush=True)
        seetrain.finish()
    seetrain.init(project="other", experiment_name="solo", logdir=logdir, config={"lr": 0.5}, system_metrics=False)
    seetrain.log({"val/acc": 0.5}, step=0)
    seetrain.finish()
''') % {"lrs": LRS, "steps": STEPS}


def write_sweep(logdir: str) -> str:
    """Write the sweep under ``logdir`` with the SDK; returns ``logdir``."""
    os.makedirs(logdir, exist_ok=True)
    res = run_python(["-c", SCRIPT, logdir], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return logdir


def expected_points(i: int) -> Dict[str, List[float]]:
    """What run ``i`` of the sweep logged, per key, in step order (values as floats)."""
    return {"train/loss": [1.0 / (s + 1) + i for s in range(STEPS)],
            "val/acc": [s * (i + 1) / 100.0 for s in range(STEPS)],
            "odd": [math.nan, math.inf, -math.inf]}
