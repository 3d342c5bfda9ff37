"""The tables of ``seetrain query`` built from the run directories of a log directory, with the
public reader (:func:`seetrain.list_runs`, :func:`seetrain.read_run`): ``run.json`` alone for
``runs`` and ``config``, one streaming pass over ``records.jsonl`` for the others."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from .tables import MetricParts, Rows, flatten, run_ref, sequence_floats


def runs_row(r: Any) -> Dict[str, Any]:
    m = r.meta
    start, end = m.get("start_time"), m.get("end_time")
    status = r.status
    last = end or (m.get("heartbeat") if status != "running" else None)
    git = m.get("git") if isinstance(m.get("git"), dict) else {}
    tags = m.get("tags") if isinstance(m.get("tags"), list) else []
    return {"run": run_ref(r.uuid, r.project, r.id), "project": r.project, "id": r.id, "name": r.name,
            "status": status, "exit_code": r.exit_code if isinstance(r.exit_code, int) else None,
            "start_time": _float(start), "end_time": _float(end),
            "duration": (float(last) - float(start)) if (_float(start) and _float(last)) else None,
            "tags": [str(t) for t in tags], "host": _str(m.get("host")), "git_commit": _str(git.get("commit")),
            "git_branch": _str(git.get("branch")), "description": _str(m.get("description"))}


def _float(v: Any) -> Optional[float]:
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def _str(v: Any) -> Optional[str]:
    return None if v is None else str(v)


def build(readers: Iterable[Any], names: List[str]) -> Dict[str, Any]:
    """Arrow tables ``names`` (of :data:`seetrain.query.tables.TABLES`) for the runs of ``readers``."""
    rows = {n: Rows(n) for n in names if n != "metrics"}
    metrics = MetricParts() if "metrics" in names else None
    needs_records = bool({"summary", "metrics", "events", "console", "media"} & set(names))
    for r in readers:
        ref = run_ref(r.uuid, r.project, r.id)
        if "runs" in rows:
            rows["runs"].add(**runs_row(r))
        if "config" in rows:
            cfg = r.meta.get("config") if r.format >= 2 else r.config
            rows["config"].key_values(ref, flatten(cfg or {}))
        if not needs_records:
            continue
        if "summary" in rows:
            rows["summary"].key_values(ref, r.summary().items())
        if metrics is not None:
            for key in r.scalar_keys():
                s = r.scalars(key)
                metrics.add(ref, key, s.steps, s.times, sequence_floats(s.values))
        if "events" in rows:
            for e in r.events:
                _event_row(rows["events"], ref, e)
        if "media" in rows:
            for key in r.keys():
                idx, prev = 0, None
                for m in r.media(key):  # several media logged at once under one key: positions 0, 1, ...
                    idx = idx + 1 if m.get("step") == prev else 0
                    prev = m.get("step")
                    rows["media"].add(run=ref, key=key, step=m.get("step"), idx=idx, type=m.get("type"),
                                      path=_relative(m.get("path"), r.path), caption=m.get("caption"), sha256=None)
        if "console" in rows:
            for rec in r.iter_records():
                if rec["type"] == "console":
                    rows["console"].add(run=ref, seq=rec.get("seq"), time=_float(rec.get("time")),
                                        stream=rec.get("stream", "stdout"), line=rec.get("line", ""))
    out = {n: t.arrow() for n, t in rows.items()}
    if metrics is not None:
        out["metrics"] = metrics.arrow()
    return out


def _event_row(rows: Rows, ref: str, e: Dict[str, Any]) -> None:
    from .tables import value_text

    message = e.get("message") if e.get("message") is not None else e.get("title")
    rows.add(run=ref, seq=e.get("seq"), time=_float(e.get("time")), event=_str(e.get("event")),
             message=_str(message), body=value_text(e))


def _relative(path: Optional[str], run_path: str) -> Optional[str]:
    import os

    if path and os.path.isabs(path):
        return os.path.relpath(path, run_path)
    return path


def ref_of(r: Any) -> str:
    return run_ref(r.uuid, r.project, r.id)


def query_logdir(sql: str, logdir: Optional[str], project: Optional[str], timeout_s: float, max_rows: int,
                 use_cache: bool = True) -> Any:
    """Run ``sql`` over the runs under ``logdir``: ``runs``/``config`` from ``run.json`` now, the
    tables read from records from the cache file (:mod:`.cache`, refreshed first) or, with
    ``use_cache=False`` (or no writable cache folder), built in memory for this query."""
    from ..rundir.reader import list_runs  # what seetrain.list_runs is

    from . import cache, engine
    from .tables import NAMES

    logdir = default_logdir(logdir)
    names = engine.tables_named(sql, NAMES)
    cached = [n for n in names if n in cache.CACHED]
    use_cache = bool(cached) and use_cache and cache.usable(logdir)
    readers = list_runs(logdir)
    if use_cache and cache.is_current(logdir, readers, ref_of):  # the common case: one connection
        return _run_cached(sql, logdir, readers, project, names, cached, timeout_s, max_rows)
    try:
        con = engine.connect()  # checks the query extra is there before any work
    except ImportError as exc:
        raise engine.QueryError("unavailable", str(exc)) from None
    try:
        engine.check_statement(con, sql)  # refused before anything is read or cached
    except engine.QueryError:
        con.close()
        raise
    if not use_cache:
        readers = [r for r in readers if project is None or r.project == project]
        try:
            for name, table in build(readers, names).items():
                con.register(name, table)
            engine.lock(con)
            return engine.execute(con, sql, timeout_s, max_rows)
        finally:
            con.close()
    con.close()
    with cache.locked(cache.cache_path(logdir), exclusive=True):
        cache.refresh(logdir, readers, ref_of, build)
    return _run_cached(sql, logdir, readers, project, names, cached, timeout_s, max_rows)


def _run_cached(sql: str, logdir: str, readers: List[Any], project: Optional[str], names: List[str],
                cached: List[str], timeout_s: float, max_rows: int) -> Any:
    from . import cache, engine

    db = cache.cache_path(logdir)
    with cache.locked(db, exclusive=False):
        con = engine.connect(db, read_only=True)
        try:
            mine = [r for r in readers if project is None or r.project == project]
            for name, table in build(mine, [n for n in names if n not in cache.CACHED]).items():
                con.register(name, table)
            if project is not None:  # the cache holds every project: views that keep this one's runs
                ((dbname,),) = con.execute("SELECT current_database()").fetchall()
                con.register("_project_runs", _refs_table([ref_of(r) for r in mine]))
                for name in cached:
                    con.execute(f'CREATE TEMP VIEW {name} AS SELECT * FROM "{dbname}".main.{name} '
                                "WHERE run IN (SELECT run FROM _project_runs)")
            engine.lock(con)
            return engine.execute(con, sql, timeout_s, max_rows)
        finally:
            con.close()


def _refs_table(refs: List[str]) -> Any:
    import pyarrow as pa

    return pa.table({"run": pa.array(refs, pa.string())})


def default_logdir(logdir: Optional[str]) -> str:
    from ..logdir import default_logdir as default

    return default(logdir)
