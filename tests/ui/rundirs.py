"""Run directories for the dashboard tests and benchmark, written in run directory format 2
(docs/record-format.md) without the SDK where the SDK would be slow (a million-point series),
so the watcher reads exactly what a training process leaves on disk."""

from __future__ import annotations

import os
import time
import uuid as _uuid
from typing import Any, Dict, Optional

import numpy as np
import orjson


def write_run_json(run_dir: str, **fields: Any) -> Dict[str, Any]:
    """Write ``run.json`` atomically (temp + rename, as the writer does); returns the metadata."""
    os.makedirs(run_dir, exist_ok=True)
    meta = {"format": 2, "uuid": _uuid.uuid4().hex, "id": os.path.basename(run_dir),
            "name": os.path.basename(run_dir), "project": os.path.basename(os.path.dirname(run_dir)),
            "status": "success", "start_time": time.time() - 60, "end_time": time.time(), "tags": [],
            "config": {}, "heartbeat": time.time()}
    meta.update(fields)
    tmp = os.path.join(run_dir, "run.json.tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(meta))
    os.replace(tmp, os.path.join(run_dir, "run.json"))
    return meta


def scalar_series_run(run_dir: str, key: str, values: np.ndarray, start_time: Optional[float] = None,
                      **fields: Any) -> Dict[str, Any]:
    """A finished run whose only metric ``key`` has ``values`` at steps 0..n-1 (one record a step)."""
    t0 = start_time or time.time() - len(values) * 0.001
    meta = write_run_json(run_dir, start_time=t0, end_time=t0 + len(values) * 0.001, **fields)
    n = len(values)
    with open(os.path.join(run_dir, "records.jsonl"), "wb") as f:
        block = 200_000
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            lines = [b'{"seq":%d,"time":%r,"type":"metrics","step":%d,"data":{"%s":%r}}\n'
                     % (i, t0 + i * 0.001, i, key.encode(), float(v))
                     for i, v in zip(range(lo, hi), values[lo:hi].tolist())]
            f.write(b"".join(lines))
    return meta
