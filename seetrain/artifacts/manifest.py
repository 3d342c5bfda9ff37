"""What an artifact version holds: its manifest (files with sha256 and size, references to external
URIs), the digest that names its content, and the checks of names, aliases and ``name:ref`` strings.

A manifest is plain data: it travels in the run's ``artifact`` event record (docs/artifacts.md), is
stored in the local registry and on the server, and means the same everywhere.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import orjson

from .hashing import FileDigest, sha256_file

NAME_MAX = 128
ALIAS_MAX = 64
LATEST = "latest"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_VERSION = re.compile(r"^v(\d{1,9})$")
URI_SCHEMES = ("s3://", "gs://", "https://", "http://", "az://", "hf://")


class ArtifactError(ValueError):
    """A bad artifact name, alias, reference or source; the message says what to use."""


def check_name(name: Any) -> str:
    """``name`` when it can name an artifact (1..128 of ``A-Z a-z 0-9 . _ -``, not starting with
    ``.`` or ``-``), else :class:`ArtifactError`."""
    if type(name) is not str or not 0 < len(name) <= NAME_MAX or not _NAME.match(name):
        raise ArtifactError(f"artifact name {str(name)[:80]!r} is not valid: use 1-{NAME_MAX} letters, digits, "
                            "'.', '_' or '-' (not starting with '.' or '-'), e.g. name='mnist-cnn'")
    return name


def check_alias(alias: Any) -> str:
    """``alias`` when it can be an alias (as a name, at most 64 characters, and not ``vN``)."""
    if type(alias) is not str or not 0 < len(alias) <= ALIAS_MAX or not _NAME.match(alias) or _VERSION.match(alias):
        raise ArtifactError(f"alias {str(alias)[:80]!r} is not valid: use 1-{ALIAS_MAX} letters, digits, '.', '_' "
                            "or '-' (not 'v' followed by a number: that names a version), e.g. 'best' or 'production'")
    return alias


class Ref(NamedTuple):
    """A parsed ``name:vN`` or ``name:alias`` (``name`` alone means ``name:latest``)."""

    name: str
    version: Optional[int]   # set for ``name:vN``
    alias: Optional[str]     # set for ``name:alias``

    def __str__(self) -> str:
        return f"{self.name}:v{self.version}" if self.version is not None else f"{self.name}:{self.alias}"


def parse_ref(ref: Any) -> Ref:
    """``"name:v3"``, ``"name:best"`` or ``"name"`` (= ``name:latest``) as a :class:`Ref`."""
    if type(ref) is not str or not ref:
        raise ArtifactError(f"artifact reference {ref!r} is not valid: say 'name:v3', 'name:best' or 'name'")
    name, _, tail = ref.partition(":")
    check_name(name)
    if not tail:
        return Ref(name, None, LATEST)
    m = _VERSION.match(tail)
    if m:
        return Ref(name, int(m.group(1)), None)
    try:
        return Ref(name, None, check_alias(tail))
    except ArtifactError as exc:
        raise ArtifactError(f"artifact reference {ref!r}: {exc}") from None


def parse_version(tail: str) -> Optional[int]:
    m = _VERSION.match(tail or "")
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class FileEntry:
    """One stored file of a version: its path inside the artifact, sha256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Reference:
    """A file kept where it is (``s3://``, ``https://`` ...), recorded with what is known of it."""

    path: str
    uri: str
    size: Optional[int] = None
    etag: Optional[str] = None


@dataclass
class Manifest:
    """The content of one version: files and references, sorted by path; ``digest`` names it."""

    files: List[FileEntry] = field(default_factory=list)
    refs: List[Reference] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """sha256 over the sorted (path, sha256, size) of files and (path, uri, size, etag) of
        references: equal content, equal digest (metadata and aliases are not content)."""
        body = orjson.dumps([[[f.path, f.sha256, f.size] for f in self.files],
                             [[r.path, r.uri, r.size, r.etag] for r in self.refs]])
        return hashlib.sha256(body).hexdigest()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files) + sum(r.size or 0 for r in self.refs)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files]}
        if self.refs:
            out["refs"] = [{k: v for k, v in (("path", r.path), ("uri", r.uri), ("size", r.size), ("etag", r.etag))
                            if v is not None} for r in self.refs]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Manifest":
        """The manifest of a stored or received dict; :class:`ArtifactError` when it is malformed."""
        try:
            files = [FileEntry(check_path(f["path"]), check_sha(f["sha256"]), int(f["size"]))
                     for f in d.get("files") or []]
            refs = [Reference(check_path(r["path"]), str(r["uri"]), _opt_int(r.get("size")),
                              None if r.get("etag") is None else str(r["etag"])) for r in d.get("refs") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"not an artifact manifest ({type(exc).__name__}: {exc})") from None
        return cls(sorted(files, key=lambda f: f.path), sorted(refs, key=lambda r: r.path))


def _opt_int(v: Any) -> Optional[int]:
    return None if v is None else int(v)


_SHA = re.compile(r"^[0-9a-f]{64}$")


def check_sha(sha: Any) -> str:
    if type(sha) is not str or not _SHA.match(sha):
        raise ArtifactError(f"{str(sha)[:80]!r} is not a sha256 hex digest")
    return sha


def check_path(path: Any) -> str:
    """A file's path inside an artifact: relative, '/'-separated, no '..', no empty part."""
    if type(path) is not str or not path or len(path) > 1024 or "\0" in path or "\\" in path:
        raise ArtifactError(f"artifact file path {str(path)[:80]!r} is not valid")
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ArtifactError(f"artifact file path {path[:80]!r} must be relative, without '..' or empty parts")
    return path


def is_uri(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(URI_SCHEMES)


class LocalFile(NamedTuple):
    """A file to store: where it is on disk and its path inside the artifact."""

    path: str
    source: str


def collect(sources: Any) -> Tuple[List[LocalFile], List[Reference]]:
    """The local files and URI references of ``sources``: a file or folder path, a URI, a
    ``{"uri", "size", "etag", "path"}`` mapping, or a list of those. A folder contributes its
    regular files under their relative paths; links are followed only to files."""
    items = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    files: List[LocalFile] = []
    refs: List[Reference] = []
    for item in items:
        if isinstance(item, Mapping):
            uri = item.get("uri")
            if not is_uri(uri):
                raise ArtifactError(f"a reference needs a 'uri' starting with one of {URI_SCHEMES}, got {uri!r}")
            refs.append(Reference(check_path(item.get("path") or _uri_name(uri)), uri, _opt_int(item.get("size")),
                                  None if item.get("etag") is None else str(item["etag"])))
        elif is_uri(item):
            refs.append(Reference(check_path(_uri_name(item)), item))
        else:
            files.extend(_local(os.fspath(item)))
    seen: Dict[str, str] = {}
    for p in [f.path for f in files] + [r.path for r in refs]:
        if p in seen:
            raise ArtifactError(f"two sources give the artifact the same file path {p!r}; log them from separate "
                                "folders or rename one")
        seen[p] = p
    if not files and not refs:
        raise ArtifactError(f"{sources!r} holds no file: give a file, a folder with files, or a URI")
    return files, refs


def _uri_name(uri: str) -> str:
    tail = uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail or "index"


def _local(path: str) -> List[LocalFile]:
    if os.path.isfile(path):
        return [LocalFile(os.path.basename(path), path)]
    if not os.path.isdir(path):
        raise ArtifactError(f"{path!r} is neither a file nor a folder (nor a URI such as s3://bucket/key)")
    out: List[LocalFile] = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for n in sorted(names):
            full = os.path.join(root, n)
            if os.path.isfile(full):
                out.append(LocalFile(os.path.relpath(full, path).replace(os.sep, "/"), full))
    return out


def hash_files(files: Sequence[LocalFile], hasher: Callable[[str], FileDigest] = sha256_file) -> List[FileEntry]:
    """The entries of ``files`` (hashed one by one: a store of one disk gains nothing from more)."""
    return [FileEntry(f.path, *hasher(f.source)) for f in files]


def entries_by_path(entries: Iterable[FileEntry]) -> Dict[str, FileEntry]:
    return {e.path: e for e in entries}
