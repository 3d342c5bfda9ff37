"""History edits of a run directory: a ``rewind`` record (``seetrain.init(resume_from=STEP)``) and
the history a forked run starts from (``seetrain.init(fork_from=(RUN, STEP))``).

A rewind never deletes: it is one more record, ``{"seq", "time", "type": "rewind", "step": S}``,
and every metrics record before it in the same log whose step is above ``S`` is *superseded*:
readers leave it out of the run's history and list it on request. A fork copies its parent's
history up to a step into the child's own log, so the child is self-contained and syncs like any run.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Dict, Iterator, List, NamedTuple

from . import records
from .format import CONFIG, METRICS, REWIND, media_refs
from .stream import iter_chunks, records_path

__all__ = ["rewind_line", "append_lines", "live_metrics", "ForkHistory", "fork_history", "copy_media"]


def rewind_line(seq: int, step: int, at: float = 0.0) -> bytes:
    """The ``rewind`` record's line: history goes back to ``step`` (the records after it are superseded)."""
    return records.encode(seq, at or time.time(), REWIND, {"step": int(step)})


def append_lines(path: str, data: bytes) -> None:
    """Append whole lines to a log and fsync them (used before a run's writer starts, under its lock)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def live_metrics(run_dir: str, up_to_step: int) -> Iterator[Dict[str, Any]]:
    """The metrics records of ``run_dir``'s log that are part of its history (no later rewind
    superseded them) with a step at or below ``up_to_step``, in log order. Two streaming passes:
    the rewinds first, then the records."""
    path = records_path(run_dir)
    rewinds: List[tuple] = []  # (seq, step) in log order
    for chunk in iter_chunks(path):
        rewinds.extend((r["seq"], r["step"]) for r in chunk.records
                       if r["type"] == REWIND and type(r.get("step")) is int and type(r["seq"]) is int)
    # a record at seq q is superseded when a rewind after it (seq > q) went back below its step:
    # the lowest step of the rewinds after each point, found by one backward pass
    floor: List[tuple] = []  # (seq, lowest step of the rewinds at or after it), ascending seq
    low = None
    for seq, step in reversed(rewinds):
        low = step if low is None else min(low, step)
        floor.append((seq, low))
    floor.reverse()
    for chunk in iter_chunks(path):
        for r in chunk.records:
            if r["type"] != METRICS or type(r.get("data")) is not dict:
                continue
            step = r.get("step")
            if type(step) is not int or step > up_to_step:
                continue
            limit = next((lo for seq, lo in floor if seq > r["seq"]), None) if floor else None
            if limit is None or step <= limit:
                yield r


class ForkHistory(NamedTuple):
    """What a forked run starts with: its log's first ``lines`` (seqs ``0 .. n - 1``), the last step
    and values copied (the summary), and the media files they reference."""

    lines: bytes
    n: int
    last_step: int
    summary: Dict[str, Any]
    media: List[str]


def fork_history(parent_dir: str, step: int, config: Dict[str, Any]) -> ForkHistory:
    """The child's first records: a ``config`` record with the parent's ``config`` (when it has one),
    then each metrics record of the parent's history up to ``step``, with its step, time and values
    (new gap-free seqs from 0)."""
    parts: List[bytes] = []
    seq = 0
    t0 = time.time()
    if config:
        parts.append(records.encode(seq, t0, CONFIG, {"config": config}))
        seq += 1
    last_step = -1
    summary: Dict[str, Any] = {}
    media: List[str] = []
    for r in live_metrics(parent_dir, step):
        data = r["data"]
        t = r.get("time") if type(r.get("time")) in (int, float) else t0
        parts.append(records.encode_metrics(seq, float(t), r["step"], data)[0])
        seq += 1
        last_step = max(last_step, r["step"])
        for k, v in data.items():
            refs = media_refs(v)
            if refs:
                for ref in refs:  # its own file and, for a table, its image cells' files
                    files = ref.get("files") if type(ref.get("files")) is list else []
                    media.extend(p for p in [ref.get("path"), *files] if type(p) is str)
        summary.update(data)
    return ForkHistory(b"".join(parts), seq, last_step, summary, media)


def copy_media(parent_dir: str, child_dir: str, paths: List[str]) -> None:
    """Give the child the media files its copied records reference (a hard link where the file
    system allows, else a copy); a path outside ``media/`` or a missing file is skipped."""
    media_root = os.path.join(os.path.realpath(parent_dir), "media") + os.sep
    for rel in dict.fromkeys(paths):
        src = os.path.realpath(os.path.join(parent_dir, rel))
        if not src.startswith(media_root) or not os.path.isfile(src):
            continue
        dst = os.path.join(child_dir, os.path.relpath(src, os.path.realpath(parent_dir)))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.exists(dst):
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
