"""``seetrain query --host URL``: the query runs on the server (``POST /api/v1/query``), next to
its data, over the runs the API key may read; only the answer travels."""

from __future__ import annotations

import time
from typing import Optional

import orjson

from ..rundir.format import NON_FINITE
from .engine import QueryError, QueryResult

KINDS = ("refused", "sql", "timeout")
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def query_server(sql: str, host: str, api_key: Optional[str], project: Optional[str], timeout_s: float,
                 max_rows: int) -> QueryResult:
    from ..transport import Client, ServerError

    client = Client(host, api_key, timeout=timeout_s + 30.0, attempts=2)
    body = {"sql": sql, "max_rows": max_rows, "timeout_s": timeout_s}
    if project:
        body["project"] = project
    t0 = time.perf_counter()
    try:
        doc = client.call("POST", "/api/v1/query", orjson.dumps(body))
    except ServerError as exc:
        kind, _, message = exc.detail.partition(": ")
        if exc.status == 422 and kind in KINDS:
            raise QueryError(kind, message) from None
        raise QueryError("server", f"{host}: {exc}") from None
    finally:
        client.close()
    floats = [i for i, t in enumerate(doc["types"]) if t.upper() in FLOAT_TYPES]
    rows = [tuple(r) for r in doc["rows"]]
    if floats:  # NaN and infinities travel as the record format's tags
        rows = [tuple(NON_FINITE.get(v, v) if i in floats and type(v) is str else v for i, v in enumerate(r))
                for r in rows]
    return QueryResult(doc["columns"], doc["types"], rows, bool(doc["truncated"]), time.perf_counter() - t0)
