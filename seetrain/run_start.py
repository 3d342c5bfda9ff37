"""Starting and resuming a run directory (the part of ``Run.__init__`` that touches disk);
finishing it is :mod:`seetrain.run_finish`."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Union

from .ids import new_id, new_uuid  # noqa: F401 - new_id: used by Run
from . import lineage, run_shared
from .rundir.format import FORMAT
from .rundir.queue import EVENT, RecordQueue
from .run_config import Config, to_plain
from .rundir.files import acquire_lock, check_name, cut_torn_tail, read_tail, release_lock  # noqa: F401


def _version() -> str:
    from .version import __version__

    return __version__


def start(run: Any, config: Any, resume: Union[bool, str, None], flush_interval: float,
          heartbeat_interval: float, max_queue: int, max_queue_bytes: int, pending: Config,
          resume_from: Optional[int] = None, fork_from: Any = None) -> None:
    """Create or resume ``run.dir`` (of a :class:`seetrain.Run`) under its lock, queue the first
    records and start the writer. ``pending``: ``seetrain.config`` set before ``init()``, merged in
    and emptied. ``resume_from``/``fork_from``: history edits (:mod:`seetrain.lineage`)."""
    from .system import EnvironmentCapture, basic_environment
    from .rundir.writer import RunWriter

    plain = to_plain(config) if config is not None else None
    if plain is not None and not isinstance(plain, dict):
        raise TypeError(f"seetrain.init(config=...) takes a dict-like, got {type(config).__name__}")
    if resume_from is not None or fork_from is not None:
        resume = lineage.check_start(resume, resume_from, fork_from)
    os.makedirs(run.dir, exist_ok=True)
    place = run_shared.claim(run, resume)  # the locks; a shared run's writer: its own log and state file
    try:
        meta_path = os.path.join(place.folder, place.meta_name)
        exists = place.resumes
        if exists and resume in (None, False, "never") and not run.shared:
            raise ValueError(f"a run with id {run.id!r} already exists in {run.dir}; pass resume=True "
                             "to continue it or choose another id")
        if not exists and resume == "must":
            raise ValueError(f"resume='must' but no run with id {run.id!r} exists under {run.logdir}/{run.project}")
        now = time.time()
        meta: Dict[str, Any] = {}
        first_seq = first_step = 0
        missing = []
        if exists:
            import json

            if os.path.isfile(meta_path):
                with open(meta_path, "rb") as f:
                    meta = json.loads(f.read())
            path = os.path.join(place.folder, "records.jsonl")
            tail = read_tail(path)
            cut_torn_tail(path, tail)
            last_seq = max(tail.last_seq, _int(meta.get("last_seq"), -1))
            first_seq = last_seq + 1
            first_step = max(tail.last_step, _int(meta.get("last_step"), -1)) + 1
            missing = tail.missing
            if resume_from is not None:  # the rewind record takes the first seq of this process
                first_step = lineage.rewind(place.folder, meta, resume_from, first_seq)
                first_seq += 1
        elif fork_from is not None:  # the parent's history up to its step: the first records
            first_seq, first_step = lineage.fork(run, meta, fork_from)
        run.uuid = run_shared.run_uuid(run) or meta.get("uuid") or new_uuid()
        env = basic_environment()
        meta.update({
            "format": FORMAT, "uuid": run.uuid, "id": run.id, "name": run.name, "project": run.project,
            "description": run.description if run.description is not None else meta.get("description"),
            "tags": run.tags or meta.get("tags", []), "status": "running", "mode": run.mode,
            "start_time": meta.get("start_time", now), "end_time": None, "exit_code": None, "error": None,
            "resumed_time": now if exists else None, "seetrain_version": _version(),
        })
        meta.update(env)
        start_fields = run_shared.describe(run, place, meta)
        old_config = dict(meta.get("config") or {})
        meta["config"] = old_config
        queue = RecordQueue(first_seq, first_step, max_items=max_queue, max_bytes=max_queue_bytes)
        run._queue = queue
        if exists:
            queue.put(EVENT, {"event": "resume", "pid": env["pid"], "host": env["host"], "from_seq": first_seq})
            for a, b in missing:
                meta["lost"] = _int(meta.get("lost"), 0) + (b - a + 1)
                queue.put(EVENT, {"event": "lost", "first_seq": a, "last_seq": b, "count": b - a + 1,
                                  "reason": "the writing process ended before these records were written"})
        else:
            queue.put(EVENT, {"event": "start", "uuid": run.uuid, "pid": env["pid"], "host": env["host"],
                              **start_fields})
        run._writer = RunWriter(run.dir, queue, meta, warn=run._writer_warning, flush_interval=flush_interval,
                                heartbeat_interval=heartbeat_interval, folder=place.folder,
                                meta_name=place.meta_name, label="" if place.primary else place.label)
        # the config: the earlier one comes back silently; only what is new becomes a record
        initial = dict(to_plain(pending.to_dict()))
        pending.clear()
        if plain:
            initial.update(plain)
        run.config.restore(old_config)
        changes = {k: v for k, v in initial.items() if k not in old_config or old_config[k] != v}
        if changes:
            run.config.update(changes)
        run._writer.write_meta(fsync=False, first=True)
        if not place.primary:
            run_shared.ensure_run_json(run, meta["start_time"])
        run._writer.start()
        run._env = EnvironmentCapture(run._writer.update_meta)
        run._env.start()
    except BaseException:
        run_shared.release(run)
        raise


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def start_sender(run: Any, host: Optional[str], api_key: Optional[str]) -> None:
    """``mode="online"``: ship the run directory to a server; any failure here only warns."""
    host = host or os.environ.get("SEETRAIN_HOST")
    api_key = api_key or os.environ.get("SEETRAIN_API_KEY")
    try:
        from .sender import OnlineSender
    except ImportError as exc:
        run._warn("sender", f"mode='online' needs seetrain.sender, which could not be imported ({exc}); the run "
                            "is written locally only. Upload it later with `seetrain sync`", strict_ok=True)
        return
    try:
        ident = getattr(run, "writer", None)  # a shared run: each process ships its own writer's log
        own = None if ident is None else ("" if getattr(run, "primary", True) else ident.label)
        sender = OnlineSender(run_dir=run.dir, host=host, api_key=api_key, writer=own)
        sender.start()
        run._sender = sender
    except Exception as exc:
        run._warn("sender", f"mode='online': the sender did not start ({type(exc).__name__}: {exc}); the run is "
                            "written locally only. Upload it later with `seetrain sync`", strict_ok=True)
