"""Forked runs' lineage on the server (issue 26): a child's ``run.json`` names its parent
(``fork_from``: id, project, uuid, step); ingest keeps that link in ``run_forks`` (:func:`link`) so
a run's detail names both its parent and the runs forked from it (:func:`lineage`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from .db.models import run_forks, runs
from .validate import int_or_none, norm_uuid


def link(conn: Connection, child_uuid: str, fork_from: Any) -> None:
    """Keep the link of run ``child_uuid`` to the parent its ``fork_from`` names (once; a run.json
    without a valid one stores nothing)."""
    if not isinstance(fork_from, dict):
        return
    parent = norm_uuid(str(fork_from.get("uuid") or ""))
    step = int_or_none(fork_from.get("step"))
    if len(parent) != 32 or step is None:
        return
    c = run_forks.c
    if conn.execute(select(c.child_uuid).where(c.child_uuid == child_uuid)).first() is not None:
        return
    conn.execute(insert(run_forks).values(child_uuid=child_uuid, parent_uuid=parent, step=step,
                                          parent_id=str(fork_from.get("id") or "")[:256] or None,
                                          parent_project=str(fork_from.get("project") or "")[:256] or None))


def lineage(conn: Connection, uuid: str, allowed: Optional[str] = None) -> Dict[str, Any]:
    """``{"fork_from": parent link or None, "forks": [children]}`` of run ``uuid``; each entry has
    ``uuid``, ``id``, ``project``, ``name`` (None where that run is not on this server) and ``step``.
    ``allowed``: the caller's project (None: every project); runs of other projects are left out."""
    c, r = run_forks.c, runs.c
    parent = conn.execute(select(c.parent_uuid, c.parent_id, c.parent_project, c.step, r.run_id, r.project, r.name)
                          .select_from(run_forks.outerjoin(runs, r.uuid == c.parent_uuid))
                          .where(c.child_uuid == uuid)).first()
    fork_from = None
    if parent is not None and (allowed in (None, "*") or (parent.project or parent.parent_project) == allowed):
        fork_from = {"uuid": parent.parent_uuid, "id": parent.run_id or parent.parent_id,
                     "project": parent.project or parent.parent_project, "name": parent.name, "step": parent.step}
    q = (select(c.child_uuid, c.step, r.run_id, r.project, r.name)
         .select_from(run_forks.join(runs, r.uuid == c.child_uuid)).where(c.parent_uuid == uuid)
         .order_by(r.start_time))
    if allowed not in (None, "*"):
        q = q.where(r.project == allowed)
    kids: List[Dict[str, Any]] = [{"uuid": u, "id": rid, "project": proj, "name": name, "step": step}
                                  for u, step, rid, proj, name in conn.execute(q)]
    return {"fork_from": fork_from, "forks": kids}
