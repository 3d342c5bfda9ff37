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
              max_rows: int = DEFAULT_MAX_ROWS, cache: bool = True) -> QueryResult:
    """Run one read-only SELECT over the runs under ``logdir`` or on the server ``host``.

    Raises :class:`QueryError` (``kind``: ``refused``, ``sql``, ``timeout``, ``unavailable``,
    ``server``) with a message saying what was wrong; a result cut at ``max_rows`` has
    ``truncated=True``. Offline, ``cache=False`` reads every run's records for this query instead
    of keeping them in the query cache (:mod:`seetrain.query.cache`).
    """
    if host:
        from .remote import query_server

        return query_server(sql, host, api_key, project=project, timeout_s=timeout_s, max_rows=max_rows)
    from .local import query_logdir

    return query_logdir(sql, logdir, project, timeout_s, max_rows, use_cache=cache)
