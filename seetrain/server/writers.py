"""The writers of a run (issue 23, shared runs): read queries for ``GET /runs/{uuid}/writers`` and
the dashboard's writer view. Each writer reads as its ``run_writers`` row, with the status readers
show (a running writer whose heartbeat is older than the server's stale limit reads ``crashed``,
``vanished``: its process died without saying so)."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .db.models import PINNED_SUMMARY, run_writers
from .queries import effective_status


def list_writers(conn: Connection, uuid: str, stale_s: float, now: Optional[float] = None) -> List[Dict[str, Any]]:
    """Every writer of run ``uuid`` in label order (the primary, ``""``, first): ``{"writer", "primary",
    "status", "vanished", "exit_code", "rank", "host", "pid", "start_time", "end_time", "heartbeat",
    "last_seq", "records", "meta"}``."""
    now = time.time() if now is None else now
    w = run_writers.c
    out = []
    for r in conn.execute(select(run_writers).where(w.run_uuid == uuid).order_by(w.writer)).mappings():
        st = effective_status(dict(r), stale_s, now)
        out.append({"writer": r["writer"], "primary": r["writer"] == "", "status": st["status"],
                    "vanished": st["vanished"], "exit_code": r["exit_code"], "rank": r["rank"], "host": r["host"],
                    "pid": r["pid"], "start_time": r["start_time"], "end_time": r["end_time"],
                    "heartbeat": r["heartbeat"], "last_seq": r["last_seq"], "records": r["n_records"],
                    "meta": {k: v for k, v in (r["meta"] or {}).items() if k != PINNED_SUMMARY}})
    return out


def writers_summary(conn: Connection, uuid: str, stale_s: float) -> Dict[str, Any]:
    """What a run's page says of its writers at a glance: ``{"count", "crashed": [labels]}`` (the
    crashed and vanished writers, named; ``""`` the primary)."""
    ws = list_writers(conn, uuid, stale_s)
    return {"count": len(ws), "crashed": [w["writer"] for w in ws if w["status"] == "crashed"]}
