"""Artifacts on the server: versions stored from ``artifact`` event records, aliases, removal and
lineage (docs/artifacts.md, routes in :mod:`.api_artifacts`).

Ingest calls :func:`check_blobs` before a batch is stored (a version whose blobs are not all in the
blob store is refused: never half a version) and :func:`apply` after it, in one write transaction
that re-checks the blobs against a concurrent gc. :func:`apply` is idempotent (a version is found by
its digest, an edge by its key), so a batch sent again changes nothing.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Iterable, List

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..artifacts.lineage import DIRECTIONS, OUTPUT, Edge, graph
from ..artifacts.manifest import LATEST, ArtifactError, Manifest, check_alias, check_name, parse_version
from .db.models import (artifact_aliases, artifact_edges, artifact_files, artifact_versions, artifacts, blob_leases,
                        runs)
from .gc import hold_against_gc
from .validate import IngestError

EVENT = "artifact"


class Incoming:
    """One artifact event of a batch, checked: the run it came from and the version it names."""

    __slots__ = ("run", "direction", "project", "name", "type", "version", "digest", "manifest", "metadata",
                 "aliases", "created")

    def __init__(self, run: str, rec: Dict[str, Any]) -> None:
        art = rec.get("artifact")
        seq = rec.get("seq")
        try:
            if rec.get("direction") not in DIRECTIONS or not isinstance(art, dict):
                raise ArtifactError(f"'direction' must be one of {DIRECTIONS} and 'artifact' an object")
            self.run, self.direction = run, rec["direction"]
            self.project = str(art.get("project") or "")
            self.name = check_name(art.get("name"))
            self.type = str(art.get("type") or "artifact")[:64]
            self.version = int(art.get("version") or 0)
            self.manifest = Manifest.from_dict(art)
            self.digest = self.manifest.digest
            self.metadata = art.get("metadata") if isinstance(art.get("metadata"), dict) else {}
            self.aliases = [check_alias(a) for a in art.get("aliases") or [] if a != LATEST]
            self.created = float(art.get("created") or time.time())
        except (ArtifactError, TypeError, ValueError) as exc:
            raise IngestError(422, f"record seq {seq}: not a valid artifact event ({exc}); see docs/artifacts.md") from None

    @property
    def shas(self) -> List[str]:
        return [f.sha256 for f in self.manifest.files]


def incoming(run: str, recs: Iterable[Dict[str, Any]]) -> List[Incoming]:
    """The artifact events of validated records (usually none: one pass over the types)."""
    return [Incoming(run, r) for r in recs if r.get("type") == "event" and r.get("event") == EVENT]


def check_blobs(blobs: Any, items: List[Incoming]) -> None:
    """422 when a blob some version names is not in the store (upload blobs before the record)."""
    for it in items:
        missing = [s for s in it.shas if not blobs.exists(s)]
        if missing:
            raise IngestError(422, f"artifact {it.name}:v{it.version}: {len(missing)} of its {len(it.shas)} files are "
                                   f"not uploaded (first: sha256 {missing[0]}); PUT /api/v1/projects/{{project}}/blobs/"
                                   "{sha256} each file before the record that names the version")


def apply(store: Any, run_uuid: str, items: List[Incoming]) -> None:
    """Store the versions and edges of ``items`` (idempotent), in one write transaction."""
    if not items:
        return
    with store.write() as conn:
        hold_against_gc(conn)
        check_blobs(store.blobs, items)  # again, under the lock gc takes: a blob cannot go between
        project = conn.execute(select(runs.c.project).where(runs.c.uuid == run_uuid)).scalar()
        for it in items:
            vid = _version_id(conn, project or it.project, it)
            if it.direction == OUTPUT:
                for a in it.aliases:
                    _move_alias(conn, vid, a)
            _add_edge(conn, run_uuid, vid, it.direction, it.created)
            if it.shas:  # referenced now: their upload leases are no longer needed
                conn.execute(delete(blob_leases).where(blob_leases.c.sha256.in_(it.shas)))


def _artifact_id(conn: Connection, project: str, name: str, type_: str) -> int:
    a = artifacts.c
    aid = conn.execute(select(a.id).where(a.project == project, a.name == name)).scalar()
    if aid is None:
        aid = conn.execute(insert(artifacts).values(project=project, name=name, type=type_, created=time.time())
                           ).inserted_primary_key[0]
    if conn.dialect.name == "postgresql":  # numbering versions: one writer per artifact at a time
        conn.execute(select(a.id).where(a.id == aid).with_for_update())
    return int(aid)


def _version_id(conn: Connection, project: str, it: Incoming) -> int:
    """The id of the live version of ``it.name`` with ``it``'s digest, made when there is none: it
    keeps the client's number when that is free, else takes the next one."""
    aid = _artifact_id(conn, project, it.name, it.type)
    v = artifact_versions.c
    vid = conn.execute(select(v.id).where(v.artifact_id == aid, v.digest == it.digest, v.deleted.is_(None))
                       .order_by(v.version.desc())).scalar()
    if vid is not None:
        return int(vid)
    taken = conn.execute(select(v.id).where(v.artifact_id == aid, v.version == it.version)).scalar()
    number = it.version if taken is None else int(
        conn.execute(select(func.max(v.version)).where(v.artifact_id == aid)).scalar() or 0) + 1
    vid = conn.execute(insert(artifact_versions).values(
        artifact_id=aid, version=number, digest=it.digest, type=it.type, size=it.manifest.size,
        n_files=len(it.manifest.files) + len(it.manifest.refs), meta=it.metadata,
        producer=it.run if it.direction == OUTPUT else None, created=it.created)).inserted_primary_key[0]
    rows = [dict(version_id=vid, path=f.path, sha256=f.sha256, size=f.size, uri=None, etag=None)
            for f in it.manifest.files]
    rows += [dict(version_id=vid, path=r.path, sha256=None, size=r.size, uri=r.uri, etag=r.etag)
             for r in it.manifest.refs]
    if rows:
        conn.execute(insert(artifact_files), rows)
    return int(vid)


def _move_alias(conn: Connection, vid: int, alias: str) -> None:
    aid = conn.execute(select(artifact_versions.c.artifact_id).where(artifact_versions.c.id == vid)).scalar()
    al = artifact_aliases.c
    n = conn.execute(update(artifact_aliases).where(al.artifact_id == aid, al.alias == alias)
                     .values(version_id=vid)).rowcount
    if not n:
        conn.execute(insert(artifact_aliases).values(artifact_id=aid, alias=alias, version_id=vid))


def _add_edge(conn: Connection, run_uuid: str, vid: int, direction: str, t: float) -> None:
    e = artifact_edges.c
    if conn.execute(select(e.run_uuid).where(e.run_uuid == run_uuid, e.version_id == vid,
                                             e.direction == direction)).first() is None:
        conn.execute(insert(artifact_edges).values(run_uuid=run_uuid, version_id=vid, direction=direction, time=t))


# --- reading -----------------------------------------------------------------------------------------
def list_artifacts(conn: Connection, project: str) -> List[Dict[str, Any]]:
    """The artifacts of ``project`` with their live version count and newest version."""
    a, v = artifacts.c, artifact_versions.c
    rows = conn.execute(select(a.id, a.name, a.type, func.count(v.id), func.max(v.version), func.sum(v.size),
                               func.max(v.created))
                        .select_from(artifacts.outerjoin(artifact_versions, (v.artifact_id == a.id) & v.deleted.is_(None)))
                        .where(a.project == project).group_by(a.id, a.name, a.type).order_by(a.name)).all()
    return [{"name": r[1], "type": r[2], "versions": int(r[3]), "latest": None if r[4] is None else f"v{r[4]}",
             "size": int(r[5] or 0), "updated": r[6]} for r in rows if r[3]]


def _artifact(conn: Connection, project: str, name: str) -> Any:
    a = artifacts.c
    row = conn.execute(select(artifacts).where(a.project == project, a.name == name)).mappings().first()
    if row is None:
        raise IngestError(404, f"project {project!r} has no artifact named {name!r}")
    return row


def _aliases_of(conn: Connection, aid: int) -> Dict[int, List[str]]:
    """version id -> its aliases (``latest`` on the newest live version)."""
    out: Dict[int, List[str]] = {}
    for alias, vid in conn.execute(select(artifact_aliases.c.alias, artifact_aliases.c.version_id)
                                   .where(artifact_aliases.c.artifact_id == aid)):
        out.setdefault(vid, []).append(alias)
    v = artifact_versions.c
    newest = conn.execute(select(v.id).where(v.artifact_id == aid, v.deleted.is_(None))
                          .order_by(v.version.desc()).limit(1)).scalar()
    if newest is not None:
        out.setdefault(newest, []).insert(0, LATEST)
    return out


def _version_dict(conn: Connection, project: str, art: Any, row: Any, aliases: Dict[int, List[str]],
                  files: bool) -> Dict[str, Any]:
    d: Dict[str, Any] = {"project": project, "name": art["name"], "version": row["version"], "type": row["type"],
                         "digest": row["digest"], "size": row["size"], "n_files": row["n_files"],
                         "metadata": row["meta"], "created": row["created"], "deleted": row["deleted"],
                         "aliases": sorted(aliases.get(row["id"], []), key=lambda a: (a != LATEST, a)),
                         "producer": _run_brief(conn, row["producer"]) if row["producer"] else None}
    if files:
        f = artifact_files.c
        rows = conn.execute(select(artifact_files).where(f.version_id == row["id"]).order_by(f.path)).mappings().all()
        d["files"] = [{"path": r["path"], "sha256": r["sha256"], "size": r["size"]} for r in rows if r["sha256"]]
        d["refs"] = [{k: r[k] for k in ("path", "uri", "size", "etag") if r[k] is not None} for r in rows if not r["sha256"]]
    return d


def _run_brief(conn: Connection, uuid: str) -> Dict[str, Any]:
    r = conn.execute(select(runs.c.uuid, runs.c.run_id, runs.c.name).where(runs.c.uuid == uuid)).first()
    return {"uuid": uuid, "id": r[1], "name": r[2]} if r else {"uuid": uuid}


def list_versions(conn: Connection, project: str, name: str) -> Dict[str, Any]:
    art = _artifact(conn, project, name)
    al = _aliases_of(conn, art["id"])
    v = artifact_versions.c
    rows = conn.execute(select(artifact_versions).where(v.artifact_id == art["id"]).order_by(v.version.desc())
                        ).mappings().all()
    return {"project": project, "name": name, "type": art["type"],
            "versions": [_version_dict(conn, project, art, r, al, False) for r in rows]}


def _resolve(conn: Connection, project: str, name: str, ref: str, live: bool = True) -> tuple:
    art = _artifact(conn, project, name)
    v = artifact_versions.c
    number = parse_version(ref)
    if number is not None:
        row = conn.execute(select(artifact_versions).where(v.artifact_id == art["id"], v.version == number)
                           ).mappings().first()
    elif ref == LATEST:
        row = conn.execute(select(artifact_versions).where(v.artifact_id == art["id"], v.deleted.is_(None))
                           .order_by(v.version.desc()).limit(1)).mappings().first()
    else:
        vid = conn.execute(select(artifact_aliases.c.version_id).where(
            artifact_aliases.c.artifact_id == art["id"], artifact_aliases.c.alias == ref)).scalar()
        row = None if vid is None else conn.execute(select(artifact_versions).where(v.id == vid)).mappings().first()
    if row is None or (live and row["deleted"] is not None):
        raise IngestError(404, f"artifact {name}:{ref} of project {project!r} does not exist"
                               f"{' (it was removed)' if row is not None else ''}")
    return art, row


def get_version(conn: Connection, project: str, name: str, ref: str) -> Dict[str, Any]:
    """One version (``ref``: ``vN``, an alias or ``latest``) with its files, aliases and edges."""
    art, row = _resolve(conn, project, name, ref, live=False)
    d = _version_dict(conn, project, art, row, _aliases_of(conn, art["id"]), True)
    e = artifact_edges.c
    d["used_by"] = [_run_brief(conn, u) for (u,) in conn.execute(
        select(e.run_uuid).where(e.version_id == row["id"], e.direction == "input").order_by(e.time))]
    return d


def blob_of(conn: Connection, project: str, name: str, ref: str, sha: str) -> bool:
    """Whether version ``ref`` of ``name`` holds a file with content ``sha``."""
    _art, row = _resolve(conn, project, name, ref)
    f = artifact_files.c
    return conn.execute(select(f.path).where(f.version_id == row["id"], f.sha256 == sha)).first() is not None


def set_alias(conn: Connection, project: str, name: str, alias: str, ref: str) -> Dict[str, Any]:
    """Point ``alias`` at version ``ref`` (one UPDATE: the alias names exactly one version throughout)."""
    try:
        check_alias(alias)
    except ArtifactError as exc:
        raise IngestError(422, str(exc)) from None
    if alias == LATEST:
        raise IngestError(422, "'latest' always names the newest version; it cannot be moved")
    _art, row = _resolve(conn, project, name, ref)
    _move_alias(conn, row["id"], alias)
    return {"name": name, "alias": alias, "version": row["version"]}


def remove_alias(conn: Connection, project: str, name: str, alias: str) -> bool:
    art = _artifact(conn, project, name)
    al = artifact_aliases.c
    return bool(conn.execute(delete(artifact_aliases).where(al.artifact_id == art["id"], al.alias == alias)).rowcount)


def remove_version(conn: Connection, project: str, name: str, ref: str) -> Dict[str, Any]:
    """Remove a version: its file rows and aliases go (its blobs then go at ``seetrain server gc``
    unless something else references them); the version row stays, marked, for lineage."""
    _art, row = _resolve(conn, project, name, ref)
    conn.execute(delete(artifact_files).where(artifact_files.c.version_id == row["id"]))
    conn.execute(delete(artifact_aliases).where(artifact_aliases.c.version_id == row["id"]))
    conn.execute(update(artifact_versions).where(artifact_versions.c.id == row["id"]).values(deleted=time.time()))
    return {"name": name, "version": row["version"], "removed": True}


def lineage(conn: Connection, project: str, start: str, depth: int = 10) -> Dict[str, Any]:
    """The graph around ``start`` (``run:<uuid>`` or ``artifact:<name>:vN``) over the edges of
    ``project``'s artifacts (see :func:`seetrain.artifacts.lineage.graph`)."""
    a, v, e = artifacts.c, artifact_versions.c, artifact_edges.c
    rows = conn.execute(select(e.run_uuid, runs.c.name, a.name, v.version, e.direction, v.deleted)
                        .select_from(artifact_edges.join(artifact_versions, v.id == e.version_id)
                                     .join(artifacts, a.id == v.artifact_id)
                                     .outerjoin(runs, runs.c.uuid == e.run_uuid))
                        .where(a.project == project)).all()
    g = graph([Edge(r[0], r[1] or r[0][:8], r[2], int(r[3]), r[4]) for r in rows], start, depth)
    removed = {(r[2], int(r[3])) for r in rows if r[5] is not None}
    for n in g["nodes"]:
        if n["kind"] == "artifact" and (n["artifact"], n["version"]) in removed:
            n["removed"] = True
    return g


def run_artifacts(conn: Connection, run_uuid: str) -> List[Dict[str, Any]]:
    """The artifact versions a run logged or used: ``[{name, version, direction}]``."""
    a, v, e = artifacts.c, artifact_versions.c, artifact_edges.c
    rows = conn.execute(select(a.name, v.version, e.direction, a.project)
                        .select_from(artifact_edges.join(artifact_versions, v.id == e.version_id)
                                     .join(artifacts, a.id == v.artifact_id))
                        .where(e.run_uuid == run_uuid).order_by(a.name, v.version)).all()
    return [{"name": r[0], "version": r[1], "direction": r[2], "project": r[3]} for r in rows]


def lease_and_find_missing(store: Any, shas: List[str]) -> List[str]:
    """Lease ``shas`` against gc (one committed transaction; the record that names them drops the
    leases, see :func:`apply`), then answer which of them the blob store lacks. Leased first: a blob
    answered present cannot be collected before its version's record arrives."""
    if shas:
        now = time.time()
        with store.write() as conn:
            conn.execute(insert(blob_leases), [{"sha256": s, "started": now} for s in sorted(set(shas))])
    return [s for s in shas if not store.blobs.exists(s)]
