"""Writes a run that logs a ``seetrain.Table`` per step with the real SDK (run in a subprocess):

    python make_tables.py LOGDIR                 project "tables", mode local
    python make_tables.py LOGDIR online HOST     the same run, shipped online to the server at HOST

Steps 0, 10 and 20 each log "preds": 5 rows of (an 8x8 image, a label, a score). Row i's score at
step s is ``SCORES[i] + s``; its image is grey level ``i / 4``; its label ``LABELS[i]``.
"""

from __future__ import annotations

import sys

import numpy as np

import seetrain

STEPS = (0, 10, 20)
LABELS = ["cat", "dog", "emu", "ant", "bee"]
SCORES = [0.5, 0.9, 0.1, 0.7, 0.3]


def main(logdir: str, mode: str = "local", host: str = "") -> None:
    run = seetrain.init(project="tables", experiment_name="preds", logdir=logdir, mode=mode, host=host or None,
                        system_metrics=False, console="off")
    for s in STEPS:
        rows = [[seetrain.Image(np.full((8, 8), i / 4.0), caption=f"img{i}"), LABELS[i], SCORES[i] + s]
                for i in range(len(LABELS))]
        run.log({"preds": seetrain.Table(columns=["image", "label", "score"], data=rows), "loss": 1.0 / (s + 1)}, step=s)
    run.finish()
    print(run.dir, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
