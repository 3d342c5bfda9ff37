"""Run curation in the server's store: edit (name, tags, notes), archive, soft delete, restore and
purge. The HTTP routes (:mod:`.api_curation`) and ``seetrain ui``'s log-folder edits
(:mod:`.local_edits`) both go through these functions.

A user's edit wins over what the run's process sends: once a user set the name or the tags, a
later ``run.json`` (a resume, the finish) no longer replaces them (``runs.edited`` lists them,
:func:`~.ingest.upsert_run` honours it). Archived and deleted runs leave the runs list unless asked
for (``state=archived|deleted|all``); a deleted run is still readable by its uuid and restorable
until it is purged. Purge deletes the run's rows (:data:`~.db.models.RUN_ROWS`) and then the blobs
no other run or artifact references (:func:`.gc.collect` over the run's blobs).
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, NamedTuple, Optional

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from . import gc
from .db.models import BLOB_REFERENCES, RUN_ROWS, runs
from .validate import IngestError, no_nul

MAX_TAGS = 100
MAX_TAG = 128
MAX_NOTES = 100_000
STATES = ("active", "archived", "deleted", "all")


class Edit(NamedTuple):
    """One change to a run (``None``: leave as is). ``tags`` replaces the list; ``add_tags`` and
    ``remove_tags`` change it."""

    name: Optional[str] = None
    tags: Optional[List[str]] = None
    add_tags: List[str] = []
    remove_tags: List[str] = []
    notes: Optional[str] = None
    archived: Optional[bool] = None

    @classmethod
    def from_body(cls, body: Any) -> "Edit":
        """The edit a JSON body asks for; :class:`IngestError` 422 naming the field that is wrong."""
        if not isinstance(body, dict):
            raise IngestError(422, 'send a JSON object: {"name", "tags", "add_tags", "remove_tags", "notes", '
                                   '"archived"} (each optional)')
        unknown = sorted(set(body) - set(cls._fields))
        if unknown:
            raise IngestError(422, f"unknown field(s) {unknown[:5]}: a run edit takes {list(cls._fields)}")
        name = body.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip() or len(name) > 512 or not name.isprintable():
                raise IngestError(422, "'name' must be 1 to 512 printable characters")
            name = name.strip()
        notes = body.get("notes")
        if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES):
            raise IngestError(422, f"'notes' must be text of at most {MAX_NOTES} characters")
        archived = body.get("archived")
        if archived is not None and not isinstance(archived, bool):
            raise IngestError(422, "'archived' must be true or false")
        lists = {k: _tag_list(body.get(k), k) for k in ("tags", "add_tags", "remove_tags")}
        return cls(name=name, tags=lists["tags"], add_tags=lists["add_tags"] or [],
                   remove_tags=lists["remove_tags"] or [], notes=no_nul(notes) if notes else notes,
                   archived=archived)

    def new_tags(self, current: List[str]) -> Optional[List[str]]:
        """The tags after this edit (``None``: the tags are not changed)."""
        if self.tags is None and not self.add_tags and not self.remove_tags:
            return None
        out = list(self.tags if self.tags is not None else current)
        out += [t for t in self.add_tags if t not in out]
        out = [t for t in out if t not in self.remove_tags]
        return list(dict.fromkeys(out))


def _tag_list(value: Any, field: str) -> Optional[List[str]]:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise IngestError(422, f"'{field}' must be a list of strings")
    if len(value) > MAX_TAGS:
        raise IngestError(422, f"'{field}': at most {MAX_TAGS} tags")
    out = []
    for t in value:
        t = t.strip()
        if not t or len(t) > MAX_TAG or not t.isprintable():
            raise IngestError(422, f"'{field}': a tag is 1 to {MAX_TAG} printable characters, not {t[:40]!r}")
        out.append(t)
    return out


def _row(conn: Connection, uuid: str) -> Dict[str, Any]:
    q = select(runs).where(runs.c.uuid == uuid)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise IngestError(404, f"no run with uuid {uuid}")
    return dict(row)


def apply_edit(conn: Connection, uuid: str, edit: Edit) -> Dict[str, Any]:
    """Apply ``edit`` to the run (in the caller's write transaction); returns the new row."""
    row = _row(conn, uuid)
    values: Dict[str, Any] = {}
    edited = set(row.get("edited") or [])
    if edit.name is not None:
        values["name"] = edit.name
        edited.add("name")
    tags = edit.new_tags(list(row.get("tags") or []))
    if tags is not None:
        values["tags"] = tags
        edited.add("tags")
    if edit.notes is not None:
        values["notes"] = edit.notes
    if edit.archived is not None:
        values["archived"] = (row.get("archived") or time.time()) if edit.archived else None
    if values:
        values["edited"] = sorted(edited)
        values["updated"] = time.time()
        conn.execute(update(runs).where(runs.c.uuid == uuid).values(**values))
    return {**row, **values}


def set_deleted(conn: Connection, uuid: str, deleted: bool) -> Dict[str, Any]:
    """Soft-delete (hidden from lists, kept whole) or restore the run."""
    row = _row(conn, uuid)
    when = (row.get("deleted") or time.time()) if deleted else None
    conn.execute(update(runs).where(runs.c.uuid == uuid).values(deleted=when, updated=time.time()))
    return {**row, "deleted": when}


class PurgeReport(NamedTuple):
    uuid: str
    rows: int             # rows deleted, the run's own row included
    blobs_freed: int      # blobs of the run that nothing else references, deleted
    bytes_freed: int


def purge(store: Any, uuid: str) -> PurgeReport:
    """Delete the run's rows, then the blobs it referenced that no other run or artifact references."""
    with store.write() as conn:
        _row(conn, uuid)
        shas = set()
        for col in BLOB_REFERENCES:
            if "run_uuid" in col.table.c:
                shas.update(s for (s,) in conn.execute(select(col).where(col.table.c.run_uuid == uuid).distinct()))
        n = 0
        for col in RUN_ROWS:
            n += conn.execute(delete(col.table).where(col == uuid)).rowcount or 0
        n += conn.execute(delete(runs).where(runs.c.uuid == uuid)).rowcount or 0
    report = gc.collect(store, dry_run=False, candidates=shas) if shas else None
    return PurgeReport(uuid, n, report.collected if report else 0, report.collected_bytes if report else 0)


def state_clause(state: str) -> List[Any]:
    """WHERE terms of the runs list for ``state``: ``active`` (the default: neither archived nor
    deleted), ``archived`` (archived, not deleted), ``deleted``, or ``all``."""
    if state == "active":
        return [runs.c.deleted.is_(None), runs.c.archived.is_(None)]
    if state == "archived":
        return [runs.c.deleted.is_(None), runs.c.archived.isnot(None)]
    if state == "deleted":
        return [runs.c.deleted.isnot(None)]
    if state == "all":
        return []
    raise ValueError(f"state={state[:40]!r}: one of {', '.join(STATES)}")


def curation_fields(row: Dict[str, Any]) -> Dict[str, Any]:
    """What a run's answer says about its curation: notes, archived/deleted times, edited fields."""
    return {"notes": row.get("notes") or "", "archived": row.get("archived"), "deleted": row.get("deleted"),
            "edited": row.get("edited") or []}
