"""Small helpers of the artifact tests: files of known content, disk usage, reading a run's events."""

from __future__ import annotations

import os
from typing import Any, Dict, List

import orjson


def write_file(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def disk_usage(root: str) -> int:
    """Bytes the files under ``root`` take on disk (each inode once), as ``du`` counts them."""
    seen, total = set(), 0
    for d, _dirs, names in os.walk(root):
        for n in names:
            st = os.lstat(os.path.join(d, n))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def artifact_events(run_dir: str) -> List[Dict[str, Any]]:
    with open(os.path.join(run_dir, "records.jsonl"), "rb") as f:
        recs = [orjson.loads(line) for line in f if line.strip()]
    return [r for r in recs if r.get("type") == "event" and r.get("event") == "artifact"]
