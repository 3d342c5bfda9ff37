"""The background writer of a run directory.

It drains the run's in-memory queue, encodes media to files, appends records to
``records.jsonl`` and hands the bytes to the OS at least every ``flush_interval`` seconds, so a
process killed with SIGKILL loses at most that much. ``close()`` writes what is left, ``fsync``s
and finalises ``run.json``.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
import warnings
from typing import Any, Callable, Deque, Dict, Optional, Tuple

from . import records

# queue items: (seq, time, step, data, config, has_media)
Item = Tuple[int, float, Optional[int], Optional[Dict[str, Any]], Optional[Dict[str, Any]], bool]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def media_dirname(key: str) -> str:
    """A file-system-safe folder name for a metric key (``eval/sample img`` -> ``eval/sample_img``)."""
    parts = [_UNSAFE.sub("_", p).strip(".") or "_" for p in key.split("/")]
    return "/".join(parts)


def write_json_atomic(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(records.dumps(obj))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunWriter(threading.Thread):
    """Writes one run directory from a deque filled by :meth:`seetrain.run.Run.log`."""

    def __init__(self, run_dir: str, queue: Deque[Item], meta: Dict[str, Any],
                 flush_interval: float = 1.0, on_error: Optional[Callable[[str, BaseException], None]] = None,
                 enrich_meta: Optional[Callable[[], Dict[str, Any]]] = None) -> None:
        super().__init__(name=f"seetrain-writer-{meta.get('id')}", daemon=True)
        self.run_dir = run_dir
        self.queue = queue
        self.meta = meta
        self.flush_interval = flush_interval
        self.wake = threading.Event()
        self.space = threading.Event()  # set whenever the queue was drained
        self.summary: Dict[str, Any] = dict(meta.get("summary") or {})
        self.written = 0    # lines written
        self.processed = 0  # queue items handled (written or failed)
        self.last_step: Optional[int] = None
        self._stop_requested = False
        self._on_error = on_error
        self._enrich_meta = enrich_meta
        self._file = open(os.path.join(run_dir, "records.jsonl"), "ab")

    # --- thread body -------------------------------------------------------------------------
    def run(self) -> None:
        # gather git/package facts a moment after init() returned (they cost tens of ms of GIL time)
        if self._enrich_meta is not None:
            self.wake.wait(min(0.25, self.flush_interval))  # returns at once when a flush is asked for
            try:
                self.meta.update(self._enrich_meta())
                self.write_meta()
            except Exception as exc:  # environment capture is best effort
                self._error("capture the environment", exc)
        while True:
            self.wake.wait(self.flush_interval)
            self.wake.clear()
            stopping = self._stop_requested
            self.drain()
            if stopping and not self.queue:
                break

    def drain(self) -> None:
        """Write everything queued now, then flush to the OS."""
        q = self.queue
        buf = []
        n = 0
        while q:
            item = q.popleft()
            try:
                buf.append(self._encode(item))
            except Exception as exc:
                self._error("encode a record", exc)
            n += 1
            self.processed += 1
            if n % 2048 == 0:
                self._write(buf)
                buf = []
                self.space.set()
                time.sleep(0)  # let the training thread run
        self._write(buf)
        self.space.set()
        try:
            self._file.flush()
        except Exception as exc:
            self._error("flush records.jsonl", exc)

    def _encode(self, item: Item) -> bytes:
        seq, t, step, data, config, has_media = item
        if data is not None:
            if has_media:
                data = self._encode_media(seq, step, data)
            self.summary.update(data)
            self.last_step = step
            return records.encode_record(seq, t, step=step, data=data)
        self.meta.setdefault("config", {}).update(config or {})
        return records.encode_record(seq, t, config=config)

    def _encode_media(self, seq: int, step: Optional[int], data: Dict[str, Any]) -> Dict[str, Any]:
        from .media import Media

        out = {}
        for key, value in data.items():
            base = f"media/{media_dirname(key)}/{step}_{seq}"
            try:
                if isinstance(value, Media):
                    out[key] = value.encode(self.run_dir, base)
                elif isinstance(value, list):
                    out[key] = [m.encode(self.run_dir, f"{base}_{i}") for i, m in enumerate(value)]
                else:
                    out[key] = value
            except Exception as exc:
                self._error(f"write media for key {key!r}", exc)
        return out

    def _write(self, buf) -> None:
        if not buf:
            return
        try:
            self._file.write(b"".join(buf))
            self.written += len(buf)
        except Exception as exc:
            self._error("write records.jsonl", exc)

    def _error(self, what: str, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(what, exc)
        else:  # pragma: no cover
            warnings.warn(f"SeeTrain could not {what}: {exc}")

    # --- control -----------------------------------------------------------------------------
    def write_meta(self) -> None:
        try:
            write_json_atomic(os.path.join(self.run_dir, "run.json"), self.meta)
        except Exception as exc:
            self._error("write run.json", exc)

    def request_flush(self) -> None:
        self.wake.set()

    def close(self, timeout: Optional[float] = None) -> None:
        """Write everything left, fsync ``records.jsonl`` and stop the thread."""
        self._stop_requested = True
        self.wake.set()
        if self.is_alive():
            self.join(timeout)
        if self.queue:  # the thread died or was never started: write from here
            self.drain()
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except Exception as exc:
            self._error("fsync records.jsonl", exc)


def new_queue() -> Deque[Item]:
    return collections.deque()
