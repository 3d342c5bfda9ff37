"""Finishing a run directory (the part of ``Run.finish`` that touches disk and the sender)."""

from __future__ import annotations

import time
from typing import Any, Dict

from .lifecycle import Ending
from .rundir.queue import EVENT
from . import run_shared
from .rundir.files import fsync_dir


def finish(run: Any, end: Ending) -> None:
    """Write what is left, fsync, and leave ``run.json`` final (then upload, in online mode)."""
    queue, writer = run._queue, run._writer
    if end.error:
        queue.put(EVENT, {"event": "exception", "exc_type": end.error["type"], "message": end.error["message"],
                          "traceback": end.error["traceback"]})
    queue.put(EVENT, {"event": "finish", "status": end.status, "exit_code": end.exit_code})
    try:
        writer.close(timeout=120)
    except Exception as exc:
        writer.report("close the writer", exc)
    env = run._env
    if env is not None:
        facts = env.finish(2.0)  # a hung git must not hold finish() up for long
        if facts:
            writer.meta.update(facts)
    now = time.time()
    fields: Dict[str, Any] = {"status": end.status, "end_time": now, "exit_code": end.exit_code,
                              "error": end.error, "config": run.config.to_dict()}
    start_time = writer.meta.get("start_time")
    if isinstance(start_time, (int, float)):
        fields["duration"] = now - start_time
    writer.write_meta(fsync=True, **fields)
    try:
        fsync_dir(writer.folder)  # a shared run's other writers: their own folder
    except OSError:
        pass
    run_shared.release(run)
    if run._sender is not None:
        try:
            run._sender.finish(timeout=run.upload_timeout)
        except Exception as exc:
            run._writer_warning(f"the upload did not finish ({type(exc).__name__}: {exc}); the run is complete "
                                "on disk. Upload it later with `seetrain sync`", None)
