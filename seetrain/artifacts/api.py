"""Logging and using artifacts: the work behind ``Run.log_artifact`` and ``seetrain.use_artifact``.

``log_version`` hashes the sources, copies into the local store only the files it lacks (so logging
unchanged files again costs their hashing and nothing else), then registers the version; the caller
(the run) then writes the ``artifact`` event that ships it. ``use_version`` finds a version in the
local registry (offline) or, failing that, on a server, and puts its files in a folder as hard links
to the store (no copy).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from .lineage import INPUT, OUTPUT
from .manifest import ArtifactError, FileEntry, Manifest, check_alias, check_name, collect, hash_files, parse_ref
from .registry import ArtifactVersion, Registry
from .remote import EVENT


class LogStats(NamedTuple):
    """What logging a version cost: bytes hashed and bytes copied into the store."""

    files: int
    hashed_bytes: int
    copied_bytes: int
    seconds: float


def log_version(logdir: str, project: str, source: Any, name: str, type: str = "artifact",
                aliases: Sequence[str] = (), metadata: Optional[Dict[str, Any]] = None,
                producer: Optional[Dict[str, Any]] = None) -> "tuple[ArtifactVersion, LogStats]":
    """Store ``source`` (see :func:`~.manifest.collect`) as a version of artifact ``name``."""
    t0 = time.perf_counter()
    if isinstance(aliases, str):
        aliases = [aliases]
    reg = Registry(logdir)
    check_name(name)
    for a in aliases:
        check_alias(a)
    files, refs = collect(source)
    entries = hash_files(files)
    copied = 0
    stored = []
    for f, e in zip(files, entries):
        put = reg.store.put(e.sha256, f.source)
        if put.copied:
            copied += e.size
        if put.sha256 != e.sha256:  # changed while it was logged: the manifest names what was stored
            e = FileEntry(e.path, put.sha256, os.path.getsize(put.path))
        stored.append(e)
    manifest = Manifest(sorted(stored, key=lambda e: e.path), sorted(refs, key=lambda r: r.path))
    version = reg.add(project, name, type, manifest, aliases, metadata, producer)
    if producer is not None:
        reg.add_edge(project, name, version.version, OUTPUT, producer)
    return version, LogStats(len(entries), sum(e.size for e in entries), copied, time.perf_counter() - t0)


def event_fields(version: ArtifactVersion, direction: str) -> Dict[str, Any]:
    """The fields of the ``artifact`` event that records ``version`` logged (``output``) or used
    (``input``) by a run: the whole version, so the server can store it from the record alone."""
    return {"event": EVENT, "direction": direction, "artifact": version.to_dict()}


def checkout(logdir: str, version: ArtifactVersion, root: Optional[str] = None) -> str:
    """Put the files of ``version`` under ``root`` (see :meth:`Registry.checkout`); returns the folder."""
    return Registry(logdir).checkout(version, root)


def use_version(logdir: str, project: str, ref: str, root: Optional[str] = None, host: Optional[str] = None,
                api_key: Optional[str] = None, user: Optional[Dict[str, Any]] = None) -> ArtifactVersion:
    """The version ``ref`` names, its files checked out (``version.path``): from the local registry
    when it holds it (no network), else from the server at ``host``. ``user`` (the using run) gets
    an input edge in the local registry."""
    reg = Registry(logdir)
    parsed = parse_ref(ref)
    try:
        version = reg.resolve(project, parsed)
    except ArtifactError as local_miss:
        from .remote import client_for, download_blobs, fetch_version

        client = client_for(host, api_key)
        if client is None:
            raise
        try:
            version = fetch_version(client, project, str(parsed))
            download_blobs(client, reg.store, version)
        except Exception as exc:
            raise ArtifactError(f"{local_miss}; the server {client.base} could not give it either: {exc}") from None
        finally:
            client.close()
        version.logdir = reg.logdir
    version.path = checkout(logdir, version, root)
    if user is not None and os.path.isdir(os.path.join(reg.root, project, version.name)):
        reg.add_edge(project, version.name, version.version, INPUT, user)
    return version


def list_versions(logdir: str, project: str) -> List[ArtifactVersion]:
    reg = Registry(logdir)
    return [v for n in reg.names(project) for v in reg.versions(project, n)]
