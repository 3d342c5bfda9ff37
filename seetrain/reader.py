"""Reads a run directory, tolerating a torn last line (the mark of a killed process)."""

from __future__ import annotations

import os
import socket
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

from . import records


class Series(NamedTuple):
    """The history of one scalar key."""

    steps: List[int]
    values: List[float]
    times: List[float]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b")")[-1].split()[0] != b"Z"
    except OSError:
        return True


class RunReader:
    """A read-only view of one run directory (``run.json`` + ``records.jsonl`` + ``media/``)."""

    def __init__(self, path: str) -> None:
        path = os.path.abspath(os.fspath(path))
        if os.path.isfile(path):
            path = os.path.dirname(path)
        meta_path = os.path.join(path, "run.json")
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(f"{path} is not a SeeTrain run directory (no run.json); "
                                    "pass <logdir>/<project>/<run-id> or see `seetrain ls`")
        self.path = path
        with open(meta_path, "rb") as f:
            self.meta: Dict[str, Any] = records.loads(f.read())
        self._records: Optional[List[Dict[str, Any]]] = None
        self.torn = False  # the last line was incomplete
        self.corrupt_lines = 0

    # --- metadata ----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.meta.get("id", os.path.basename(self.path))

    @property
    def name(self) -> str:
        return self.meta.get("name", self.id)

    @property
    def project(self) -> str:
        return self.meta.get("project", os.path.basename(os.path.dirname(self.path)))

    @property
    def status(self) -> str:
        """``success``/``failed``/``crashed``/``killed``, ``running`` while its process lives, else ``crashed``."""
        status = self.meta.get("status", "unknown")
        if status != "running":
            return status
        pid = self.meta.get("pid")
        if pid and self.meta.get("host") == socket.gethostname() and _pid_alive(int(pid)):
            return "running"
        return "crashed"

    @property
    def config(self) -> Dict[str, Any]:
        cfg = dict(self.meta.get("config") or {})
        for rec in self.records():
            if "config" in rec:
                cfg.update(rec["config"])
        return cfg

    # --- records -----------------------------------------------------------------------------
    def records(self) -> List[Dict[str, Any]]:
        """All records, in file order; a torn last line is ignored."""
        if self._records is None:
            self._records = self._load()
        return self._records

    def _load(self) -> List[Dict[str, Any]]:
        path = os.path.join(self.path, "records.jsonl")
        out: List[Dict[str, Any]] = []
        if not os.path.isfile(path):
            return out
        with open(path, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        last = len(lines) - 1
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(records.decode_record(line))
            except Exception:
                if i == last:
                    self.torn = True
                else:
                    self.corrupt_lines += 1
        return out

    @property
    def last_seq(self) -> int:
        recs = self.records()
        return max((r["seq"] for r in recs), default=-1)

    def iter_data(self) -> Iterator[Dict[str, Any]]:
        for rec in self.records():
            if "data" in rec:
                yield rec

    def keys(self) -> List[str]:
        seen: Dict[str, None] = {}
        for rec in self.iter_data():
            for k in rec["data"]:
                seen.setdefault(k)
        return sorted(seen)

    def scalars(self, key: str) -> Series:
        steps, values, times = [], [], []
        for rec in self.iter_data():
            v = rec["data"].get(key)
            if v is not None and isinstance(v, (int, float)):
                steps.append(rec["step"])
                values.append(v)
                times.append(rec["time"])
        return Series(steps, values, times)

    def media(self, key: str) -> List[Dict[str, Any]]:
        """Media logged under ``key``: dicts with ``step``, ``type``, absolute ``path``, caption, ..."""
        out = []
        for rec in self.iter_data():
            v = rec["data"].get(key)
            for ref in (v if isinstance(v, list) else [v]):
                if isinstance(ref, dict) and "_type" in ref:
                    item = dict(ref)
                    item["type"] = item.pop("_type")
                    item["path"] = os.path.join(self.path, ref["path"])
                    item["step"] = rec["step"]
                    out.append(item)
        return out

    def summary(self) -> Dict[str, Any]:
        """The last value logged for each key."""
        out: Dict[str, Any] = {}
        for rec in self.iter_data():
            out.update(rec["data"])
        return out

    def history(self, keys: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        """One row per data record: ``step``, ``time`` and the scalar values (for CSV or pandas)."""
        rows = []
        for rec in self.iter_data():
            row = {"step": rec["step"], "time": rec["time"]}
            for k, v in rec["data"].items():
                if (keys is None or k in keys) and isinstance(v, (int, float)):
                    row[k] = v
            if len(row) > 2:
                rows.append(row)
        return rows

    def __repr__(self) -> str:
        return f"<RunReader {self.project}/{self.name} id={self.id} status={self.status}>"


def read_run(path: str) -> RunReader:
    """Open a run directory for reading."""
    return RunReader(path)


def list_runs(logdir: Optional[str] = None, project: Optional[str] = None) -> List[RunReader]:
    """Every run under ``logdir`` (default ``$SEETRAIN_LOGDIR`` or ``./seetrain_logs``), oldest first."""
    logdir = os.path.abspath(logdir or os.environ.get("SEETRAIN_LOGDIR") or "./seetrain_logs")
    runs: List[RunReader] = []
    if not os.path.isdir(logdir):
        return runs
    for proj in sorted(os.listdir(logdir)):
        if project is not None and proj != project:
            continue
        pdir = os.path.join(logdir, proj)
        if not os.path.isdir(pdir):
            continue
        for rid in sorted(os.listdir(pdir)):
            if os.path.isfile(os.path.join(pdir, rid, "run.json")):
                try:
                    runs.append(RunReader(os.path.join(pdir, rid)))
                except Exception:
                    continue
    runs.sort(key=lambda r: r.meta.get("start_time") or 0)
    return runs
