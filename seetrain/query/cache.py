"""The offline query cache: one DuckDB file per log directory holding the tables that need a pass
over ``records.jsonl`` (summary, metrics, events, console, media), refreshed run by run.

Each run is kept with a signature of its files (size and modification time of ``run.json`` and
``records.jsonl``); a query re-reads only the runs whose signature changed (new, appended to,
deleted), so a repeated query over 1,000 finished runs reads no record at all. ``runs`` and
``config`` come from ``run.json`` at every query (cheap, and a live run's status stays current).

The file lives under ``$SEETRAIN_QUERY_CACHE`` (default ``~/.cache/seetrain/query``), never inside
the log directory; it is only a copy and may be deleted at any time. Refreshes take an exclusive
``fcntl`` lock beside it and queries a shared one, so concurrent ``seetrain query`` processes wait
for each other instead of failing; queries open it read-only in the sandbox of :mod:`.engine`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from typing import Any, Dict, Iterator, List, Optional

from .tables import TABLES

CACHED = ("summary", "metrics", "events", "console", "media")
VERSION = 2  # bump when a cached table's columns or meaning change: the old file is rebuilt
BATCH = 64   # runs read and inserted at a time (bounds memory while a cold cache fills)

_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "bool": "BOOLEAN",
              "list<string>": "VARCHAR[]"}


def cache_dir() -> str:
    return os.environ.get("SEETRAIN_QUERY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "seetrain",
                                                                   "query")


def cache_path(logdir: str) -> str:
    digest = hashlib.sha1(os.path.abspath(logdir).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return os.path.join(cache_dir(), f"{digest}-v{VERSION}.duckdb")


def signature(run_path: str) -> str:
    parts = []
    for name in ("run.json", "records.jsonl"):
        try:
            st = os.stat(os.path.join(run_path, name))
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append("-")
    return "|".join(parts)


@contextlib.contextmanager
def locked(db_path: str, exclusive: bool) -> Iterator[None]:
    os.makedirs(os.path.dirname(db_path), exist_ok=True)
    with open(db_path + ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _index_path(db_path: str) -> str:
    return db_path + ".runs.json"


def is_current(logdir: str, readers: List[Any], ref_of: Any) -> bool:
    """Whether the cache already holds exactly these runs as their files are now (read from the
    index written beside it at each refresh: no database is opened)."""
    import orjson

    try:
        with open(_index_path(cache_path(logdir)), "rb") as f:
            known = orjson.loads(f.read())
    except (OSError, ValueError):
        return False
    return len(known) == len(readers) and all(known.get(r.path) == [ref_of(r), signature(r.path)] for r in readers)


def _write_index(db_path: str, entries: Dict[str, List[str]]) -> None:
    import orjson

    tmp = _index_path(db_path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(entries))
    os.replace(tmp, _index_path(db_path))


def _create(con: Any) -> None:
    for name in CACHED:
        cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.type]}' for c in TABLES[name])
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
    con.execute("CREATE TABLE IF NOT EXISTS _runs (path VARCHAR PRIMARY KEY, run VARCHAR, sig VARCHAR)")


def refresh(logdir: str, readers: List[Any], ref_of: Any, build: Any) -> Dict[str, int]:
    """Bring the cache of ``logdir`` up to date with ``readers`` (the runs now there), reading the
    changed ones with ``build(readers, table names)``; returns ``{"read": runs read, "dropped":
    runs removed}``. The caller holds the exclusive lock."""
    import duckdb

    path = cache_path(logdir)
    con = duckdb.connect(path)
    try:
        _create(con)
        known = {p: (run, sig) for p, run, sig in con.execute("SELECT path, run, sig FROM _runs").fetchall()}
        now = {r.path: (ref_of(r), signature(r.path), r) for r in readers}
        stale = [p for p, (run, sig) in known.items() if p not in now or now[p][1] != sig]
        stale_set = set(stale)
        todo = [now[p] for p in now if p not in known or p in stale_set]
        if not stale and not todo:
            _write_index(path, {p: [run, sig] for p, (run, sig) in known.items()})
            return {"read": 0, "dropped": 0}
        con.execute("BEGIN")
        if stale:
            runs = [known[p][0] for p in stale]
            for name in CACHED:
                con.execute(f"DELETE FROM {name} WHERE run IN (SELECT unnest($1::VARCHAR[]))", [runs])
            con.execute("DELETE FROM _runs WHERE path IN (SELECT unnest($1::VARCHAR[]))", [stale])
        for i in range(0, len(todo), BATCH):
            part = todo[i:i + BATCH]
            tables = build([r for _, _, r in part], list(CACHED))
            for name, table in tables.items():
                con.register("_new_rows", table)
                # metrics ordered by key: a row group then holds few keys, so WHERE key = '...' skips
                # the others by their min/max (about 2x on the benchmark's 20M points)
                order = " ORDER BY key, run, step" if name == "metrics" else ""
                con.execute(f"INSERT INTO {name} SELECT * FROM _new_rows{order}")
                con.unregister("_new_rows")
            con.executemany("INSERT INTO _runs VALUES (?, ?, ?)", [[r.path, ref, sig] for ref, sig, r in part])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        _write_index(path, {p: [run, sig] for p, run, sig in con.execute("SELECT path, run, sig FROM _runs").fetchall()})
        return {"read": len(todo), "dropped": len([p for p in stale if p not in now])}
    finally:
        con.close()


def usable(logdir: Optional[str]) -> bool:
    """Whether a cache file can be kept for ``logdir`` (its folder can be created and written)."""
    try:
        os.makedirs(cache_dir(), exist_ok=True)
        return os.access(cache_dir(), os.W_OK)
    except OSError:
        return False
