"""The offline source of :class:`seetrain.Api`: run directories under a log directory, read with
the public reader (:func:`seetrain.read_run` / :func:`seetrain.list_runs`)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from .history import sort_by_x
from .runs import untag


def _reader_api():
    from ..rundir.reader import list_runs, read_run  # what seetrain.read_run / list_runs are

    return read_run, list_runs




def run_info(r: Any) -> Dict[str, Any]:
    """The fields every run has, from ``run.json`` alone (no records read)."""
    m = r.meta
    start, end = m.get("start_time"), m.get("end_time")
    status = r.status
    last = end or (m.get("heartbeat") if status != "running" else None)
    git = m.get("git") if isinstance(m.get("git"), dict) else {}
    return {"uuid": r.uuid, "id": r.id, "name": r.name, "project": r.project, "status": status,
            "vanished": r.vanished, "exit_code": r.exit_code, "start_time": start, "end_time": end,
            "duration": (float(last) - float(start)) if (start and last) else None,
            "tags": list(m.get("tags") or []), "host": m.get("host"), "git": git or None,
            "description": m.get("description"), "path": r.path,
            "fork_from": m.get("fork_from") if isinstance(m.get("fork_from"), dict) else None,
            "archived": m.get("archived"), "deleted": m.get("deleted")}


def _trashed(info: Dict[str, Any]) -> bool:
    from ..rundir.edits import in_trash

    return in_trash(info["path"])


class LocalSource:
    """Runs under ``logdir`` (default ``$SEETRAIN_LOGDIR`` or ``./seetrain_logs``)."""

    kind = "local"

    def __init__(self, logdir: Optional[str] = None) -> None:
        from ..logdir import default_logdir

        self.logdir = default_logdir(logdir)
        self._readers: Dict[str, Any] = {}

    def reader(self, info: Dict[str, Any]) -> Any:
        r = self._readers.get(info["path"])
        if r is None:
            read_run, _ = _reader_api()
            r = self._readers[info["path"]] = read_run(info["path"])
        return r

    def projects(self) -> List[Dict[str, Any]]:
        counts: Dict[str, List[Any]] = {}
        for info, _ in self.list(None, "all"):
            if info["deleted"] is not None or _trashed(info):
                continue  # as the server: archived runs count, deleted ones do not
            c = counts.setdefault(info["project"], [0, None])
            c[0] += 1
            t = info["end_time"] or info["start_time"]
            if t and (c[1] is None or t > c[1]):
                c[1] = t
        return [{"name": p, "runs": n, "last_activity": t} for p, (n, t) in sorted(counts.items())]

    def list(self, project: Optional[str], state: str = "active"
             ) -> List[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]]:
        """``(info, {"config": ..., "summary": ...})`` per run: run.json's view (kept current by the
        writer), what filters and sorts read without opening the records. ``state``: ``active``
        (not archived), ``archived``, ``deleted`` (the runs in the log folder's trash) or ``all``."""
        out = []
        for r in self._readers_in(project, state):
            self._readers[r.path] = r
            out.append((run_info(r), {"config": dict(r.meta.get("config") or {}),
                                      "summary": untag(r.meta.get("summary"))}))
        return out

    def _readers_in(self, project: Optional[str], state: str) -> List[Any]:
        from ..rundir.edits import TRASH_DIR

        _, list_runs = _reader_api()
        runs = []
        if state != "deleted":
            want_archived = {"active": False, "archived": True}.get(state)
            runs = [r for r in list_runs(self.logdir, project=project)
                    if want_archived is None or (r.meta.get("archived") is not None) == want_archived]
        if state in ("deleted", "all"):  # what `seetrain rm` or the dashboard moved to the trash
            runs += list_runs(os.path.join(self.logdir, TRASH_DIR), project=project)
        return runs

    def get(self, ref: str) -> Dict[str, Any]:
        """One run by its directory, uuid, ``project/id``, id or name."""
        read_run, _ = _reader_api()
        if os.path.isfile(os.path.join(ref, "run.json")):
            r = read_run(ref)
            self._readers[r.path] = r
            return run_info(r)
        every = [info for info, _ in self.list(None, "all")]
        for found in ([i for i in every if not _trashed(i)], [i for i in every if _trashed(i)]):
            for test in (lambda i: i["uuid"] == ref, lambda i: f"{i['project']}/{i['id']}" == ref,
                         lambda i: i["id"] == ref, lambda i: i["name"] == ref):
                hits = [i for i in found if test(i)]
                if len(hits) == 1:
                    return hits[0]
                if len(hits) > 1:
                    raise LookupError(f"{len(hits)} runs match {ref!r} under {self.logdir}: give its uuid or "
                                      f"project/id ({', '.join(h['project'] + '/' + h['id'] for h in hits[:5])})")
        raise LookupError(f"no run {ref!r} under {self.logdir} (give a run directory, uuid, project/id, id or name)")

    def config(self, info: Dict[str, Any]) -> Dict[str, Any]:
        return self.reader(info).config

    def summary(self, info: Dict[str, Any]) -> Dict[str, Any]:
        return self.reader(info).summary()

    def keys(self, info: Dict[str, Any]) -> List[str]:
        return self.reader(info).keys()

    def scalar_keys(self, info: Dict[str, Any]) -> List[str]:
        return self.reader(info).scalar_keys()

    def series(self, info: Dict[str, Any], key: str, x: str,
               superseded: bool = False) -> Tuple[List[float], List[float]]:
        """Every point of ``key``, sorted by ``x`` (``step`` or ``time``), values as floats
        (``superseded``: only the points a rewind superseded)."""
        reader = self.reader(info)
        s = reader.scalars(key, superseded=True) if superseded else reader.scalars(key)
        return sort_by_x(s.steps if x == "step" else s.times, s.values)

    def downsampled(self, info: Dict[str, Any], key: str, x: str, points: int):
        return None  # downsampled by the caller, from series()

    def forks(self, info: Dict[str, Any]) -> List[Dict[str, Any]]:
        from ..lineage import forks_of

        return [{"id": f.id, "project": f.project, "uuid": f.uuid, "step": f.step}
                for f in forks_of(self.reader(info), self.logdir)]

    def media(self, info: Dict[str, Any], key: Optional[str]) -> List[Dict[str, Any]]:
        r = self.reader(info)
        keys = [key] if key else r.keys()
        return [m for k in keys for m in ({**item, "key": k} for item in r.media(k))]

    def events(self, info: Dict[str, Any], after_seq: int, limit: Optional[int]) -> List[Dict[str, Any]]:
        out = [e for e in self.reader(info).refresh().events if e.get("seq", -1) > after_seq]
        return out[:limit] if limit else out

    def console(self, info: Dict[str, Any], after_seq: int, limit: Optional[int]) -> List[Dict[str, Any]]:
        out = []
        for rec in self.reader(info).iter_records():
            if rec["type"] == "console" and rec.get("seq", -1) > after_seq:
                out.append({"seq": rec.get("seq"), "time": rec.get("time"), "stream": rec.get("stream", "stdout"),
                            "line": rec.get("line", "")})
                if limit and len(out) >= limit:
                    break
        return out

    def close(self) -> None:
        self._readers.clear()
