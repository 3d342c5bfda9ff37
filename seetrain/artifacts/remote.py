"""Artifacts and a SeeTrain server over HTTP: blobs up before the record that names them, versions
and blobs down for ``use_artifact`` and ``seetrain artifact get --host``.

Upload order is what keeps a version whole on the server: every blob of a version is stored (each
checked against its sha256) before the ``artifact`` event that names the version is posted, and the
server refuses such an event while a blob it names is missing. A process killed mid-upload left no
version; ``seetrain sync`` asks which blobs are still missing, uploads those and posts the record.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any, Dict, Iterable, Iterator, List, Optional

import orjson

from ..transport import Client
from .registry import ArtifactVersion
from .store import LocalStore

EVENT = "artifact"  # the event name of an artifact record (docs/artifacts.md)
MARK = b'"event":"artifact"'  # found in a batch's raw lines without decoding them


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


class _FileBody:
    """A request body read from a file, opened anew on every iteration (a retried request sends
    the whole file again)."""

    def __init__(self, path: str, block: int = 1 << 20) -> None:
        self.path, self.block = path, block

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while True:
                b = f.read(self.block)
                if not b:
                    return
                yield b


def artifact_events(records: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The ``artifact`` payloads of the event records of a batch."""
    return [r["artifact"] for r in records
            if r.get("type") == "event" and r.get("event") == EVENT and isinstance(r.get("artifact"), dict)]


def missing_blobs(client: Client, project: str, shas: List[str]) -> List[str]:
    if not shas:
        return []
    ans = client.call("POST", f"/api/v1/projects/{q(project)}/blobs/missing", orjson.dumps({"sha256": shas}))
    return list((ans or {}).get("missing") or [])


def upload_blobs(client: Client, store: LocalStore, records: Iterable[Dict[str, Any]],
                 default_project: str) -> int:
    """Upload the blobs the artifact events of ``records`` name that the server lacks; returns the
    bytes sent. A blob missing from the local store is left to the server's refusal of the record."""
    sent = 0
    for art in artifact_events(records):
        project = str(art.get("project") or default_project)
        shas = sorted({f["sha256"] for f in art.get("files") or [] if isinstance(f, dict) and "sha256" in f})
        for sha in missing_blobs(client, project, shas):
            path = store.path(sha)
            if not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            client.call("PUT", f"/api/v1/projects/{q(project)}/blobs/{sha}", _FileBody(path),  # type: ignore[arg-type]
                        {"Content-Type": "application/octet-stream", "Content-Length": str(size)})
            sent += size
    return sent


def fetch_version(client: Client, project: str, ref: str) -> ArtifactVersion:
    """The version ``ref`` (``name:vN`` or ``name:alias``) of ``project`` as the server holds it."""
    name, _, tail = ref.partition(":")
    d = client.call("GET", f"/api/v1/projects/{q(project)}/artifacts/{q(name)}/{q(tail or 'latest')}")
    return ArtifactVersion.from_dict(d)


def download_blobs(client: Client, store: LocalStore, version: ArtifactVersion) -> int:
    """Put the blobs of ``version`` the local store lacks into it, streamed to disk and checked
    against their sha256; returns the bytes fetched."""
    import urllib.request

    got = 0
    headers = {"Authorization": f"Bearer {client.api_key}"} if client.api_key else {}
    for f in version.manifest.files:
        if store.has(f.sha256):
            continue
        url = (f"{client.base}/api/v1/projects/{q(version.project)}/artifacts/{q(version.name)}/"
               f"v{version.version}/blobs/{f.sha256}")
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=client.timeout) as resp:
            store.put_bytes(f.sha256, iter(lambda: resp.read(1 << 20), b""))
        got += f.size
    return got


def client_for(host: Optional[str], api_key: Optional[str]) -> Optional[Client]:
    host = host or os.environ.get("SEETRAIN_HOST")
    return Client(host, api_key or os.environ.get("SEETRAIN_API_KEY")) if host else None
