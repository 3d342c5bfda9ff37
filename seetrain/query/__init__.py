"""Read-only SQL over runs (``seetrain query``): the documented tables of docs/query.md
(:data:`seetrain.query.tables.TABLES`) in a sandboxed DuckDB (:mod:`seetrain.query.engine`).

Offline the tables are built from the run directories of a log directory; against a server the
query runs on the server (``POST /api/v1/query``), over the runs the API key may read.
"""

from __future__ import annotations

from typing import Any, Optional

from .engine import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, QueryError, QueryResult

__all__ = ["run_query", "QueryError", "QueryResult", "DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S"]


def run_query(sql: str, logdir: Optional[str] = None, host: Optional[str] = None, api_key: Optional[str] = None,
              project: Optional[str] = None, timeout_s: float = DEFAULT_TIMEOUT_S,
              max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one read-only SELECT over the runs under ``logdir`` or on the server ``host``.

    Raises :class:`QueryError` (``kind``: ``refused``, ``sql``, ``timeout``, ``unavailable``,
    ``server``) with a message saying what was wrong; a result cut at ``max_rows`` has
    ``truncated=True``.
    """
    if host:
        from .remote import query_server

        return query_server(sql, host, api_key, project=project, timeout_s=timeout_s, max_rows=max_rows)
    from .local import tables
    from . import engine
    from .tables import NAMES

    try:
        con = engine.connect()
    except ImportError as exc:
        raise QueryError("unavailable", str(exc)) from None
    try:
        for name, table in tables(logdir, engine.tables_named(sql, NAMES), project).items():
            con.register(name, table)
        engine.lock(con)
        return engine.execute(con, sql, timeout_s, max_rows)
    finally:
        con.close()
