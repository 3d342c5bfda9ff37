"""``POST /api/v1/query``: one read-only SELECT over the documented tables (docs/query.md), run on the
server in the sandboxed engine of :mod:`seetrain.query.engine`, over the runs of the projects the
caller's key may read (a key of project A sees no row of project B). Body: ``{"sql", "project"?,
"max_rows"?, "timeout_s"?}``; answer: ``{"columns", "types", "rows", "truncated", "seconds"}``
(NaN and infinities as ``null``); a refused, malformed or stopped query is a 422 whose ``detail``
starts with ``refused:``, ``sql:`` or ``timeout:``."""

from __future__ import annotations

from typing import Optional

import math

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..rundir.format import tag
from .auth import Principal
from .deps import Store, principal, require

MAX_ROWS = 100_000
MAX_TIMEOUT_S = 60.0

router = APIRouter()


def tag_nonfinite(rows):
    """Rows with NaN and infinities as the record format's tags (``"NaN"``, ``"Infinity"``,
    ``"-Infinity"``), which JSON cannot hold; the client turns them back in float columns."""
    out = []
    for r in rows:
        if any(type(v) is float and not math.isfinite(v) for v in r):
            r = tuple(map(tag, r))
        out.append(r)
    return out


class QueryBody(BaseModel):
    sql: str = Field(..., min_length=1, max_length=100_000)
    project: Optional[str] = Field(None, max_length=256)
    max_rows: int = Field(10_000, ge=1, le=MAX_ROWS)
    timeout_s: float = Field(30.0, gt=0, le=MAX_TIMEOUT_S)


@router.post("/query")
async def post_query(body: QueryBody, request: Request, p: Principal = Depends(principal)):
    store: Store = request.app.state.store
    if body.project:
        require(p, body.project, write=False)
    scope = body.project or p.project

    def run():
        try:
            from ..query import engine
            from ..query.tables import NAMES
            from .query_tables import build
        except ImportError as exc:
            raise HTTPException(501, f"this server cannot run SQL: {exc}; install the query extra beside it "
                                     "(pip install 'seetrain[server,query]')") from None
        try:
            con = engine.connect(threads=2)
        except ImportError as exc:
            raise HTTPException(501, f"this server cannot run SQL ({exc}); install the query extra beside it "
                                     "(pip install 'seetrain[server,query]')") from None
        try:
            engine.check_statement(con, body.sql)  # refused before any table is built
            with store.read() as conn:
                tables = build(conn, engine.tables_named(body.sql, NAMES), scope, store.settings.heartbeat_stale_s)
            for name, table in tables.items():
                con.register(name, table)
            engine.lock(con)
            return engine.execute(con, body.sql, body.timeout_s, body.max_rows)
        except engine.QueryError as exc:
            raise HTTPException(422, f"{exc.kind}: {exc}") from None
        finally:
            con.close()

    res = await run_in_threadpool(run)
    doc = {"columns": res.columns, "types": res.types, "rows": tag_nonfinite(res.rows), "truncated": res.truncated,
           "max_rows": body.max_rows, "seconds": res.seconds}
    # SQL gives values JSON has no type for (DECIMAL, UUID, INTERVAL, BLOB): as text
    return Response(orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS), media_type="application/json")
