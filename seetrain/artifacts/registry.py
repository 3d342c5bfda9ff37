"""The local registry of artifact versions, aliases and lineage under ``<logdir>/.artifacts/``::

    blobs/ab/<sha256>                        the content-addressed files (store.py)
    registry/<project>/<name>/versions/vN.json   one immutable version: manifest, type, metadata, producer
    registry/<project>/<name>/aliases.json       {alias: N}, replaced whole (os.replace) on every move
    registry/<project>/<name>/edges.jsonl        lineage: one line per run that logged or used a version
    registry/<project>/<name>/.lock              flock held while a version is numbered or an alias moves

Readers take no lock: a version file and ``aliases.json`` are written to a temporary name and
renamed, so a reader sees the old whole file or the new whole file, and an alias names exactly one
version at every moment. Writers (several processes may log the same name) serialize on ``.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import orjson

from ..rundir.files import write_json_atomic
from .lineage import DIRECTIONS, Edge
from .manifest import LATEST, ArtifactError, Manifest, Ref, check_alias, check_name, parse_ref, parse_version
from .store import LocalStore, open_local, store_root


@dataclass
class ArtifactVersion:
    """One immutable version ``name:vN`` of project ``project``."""

    project: str
    name: str
    version: int
    type: str
    digest: str
    manifest: Manifest
    created: float
    metadata: Dict[str, Any] = field(default_factory=dict)
    producer: Optional[Dict[str, Any]] = None   # the run that logged it: {"uuid", "id", "name"}
    aliases: List[str] = field(default_factory=list)
    path: Optional[str] = None                  # where its files were checked out (use_artifact)
    logdir: Optional[str] = field(default=None, repr=False)  # the log folder whose store holds its files

    @property
    def ref(self) -> str:
        return f"{self.name}:v{self.version}"

    @property
    def size(self) -> int:
        return self.manifest.size

    def download(self, root: Optional[str] = None) -> str:
        """Put this version's files under ``root`` (hard links to the local store, no copy);
        returns the folder (see :func:`seetrain.artifacts.api.checkout`)."""
        if self.logdir is None:
            raise ArtifactError(f"{self.ref} was not read from a log folder's registry: use seetrain.use_artifact")
        self.path = Registry(self.logdir).checkout(self, root)
        return self.path

    def to_dict(self) -> Dict[str, Any]:
        """The version as stored and as sent in an ``artifact`` event (aliases as of now)."""
        return {"project": self.project, "name": self.name, "version": self.version, "type": self.type,
                "digest": self.digest, "created": self.created, "metadata": self.metadata,
                "producer": self.producer, "aliases": list(self.aliases), "size": self.size,
                **self.manifest.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ArtifactVersion":
        return cls(project=str(d["project"]), name=check_name(d["name"]), version=int(d["version"]),
                   type=str(d.get("type") or "artifact"), digest=str(d["digest"]), manifest=Manifest.from_dict(d),
                   created=float(d.get("created") or 0.0), metadata=dict(d.get("metadata") or {}),
                   producer=d.get("producer"), aliases=list(d.get("aliases") or []))


class Registry:
    """Versions, aliases and lineage of the artifacts of one log folder (see the module doc)."""

    def __init__(self, logdir: str) -> None:
        self.logdir = os.path.abspath(logdir)
        self.root = os.path.join(store_root(logdir), "registry")
        self.store: LocalStore = open_local(logdir)

    # --- paths and the lock ------------------------------------------------------------------------
    def _dir(self, project: str, name: str) -> str:
        from ..rundir.files import check_name as check_folder

        return os.path.join(self.root, check_folder("project", project), check_name(name))

    @contextlib.contextmanager
    def _locked(self, project: str, name: str) -> Iterator[str]:
        d = self._dir(project, name)
        os.makedirs(os.path.join(d, "versions"), exist_ok=True)
        fd = os.open(os.path.join(d, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield d
        finally:
            os.close(fd)  # closing releases the flock

    # --- reading -----------------------------------------------------------------------------------
    def projects(self) -> List[str]:
        try:
            return sorted(p for p in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, p)))
        except OSError:
            return []

    def names(self, project: str) -> List[str]:
        try:
            d = os.path.join(self.root, project)
            return sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n, "versions")))
        except OSError:
            return []

    def aliases(self, project: str, name: str) -> Dict[str, int]:
        try:
            with open(os.path.join(self._dir(project, name), "aliases.json"), "rb") as f:
                return {str(k): int(v) for k, v in orjson.loads(f.read()).items()}
        except (OSError, ValueError):
            return {}

    def _numbers(self, d: str) -> List[int]:
        try:
            names = os.listdir(os.path.join(d, "versions"))
        except OSError:
            return []
        return sorted(n for n in (parse_version(x[:-5]) for x in names if x.endswith(".json")) if n is not None)

    def version(self, project: str, name: str, version: int, aliases: Optional[Dict[str, int]] = None) -> ArtifactVersion:
        """``name:v<version>``; :class:`ArtifactError` when it does not exist (or was removed)."""
        path = os.path.join(self._dir(project, name), "versions", f"v{version}.json")
        try:
            with open(path, "rb") as f:
                v = ArtifactVersion.from_dict(orjson.loads(f.read()))
        except FileNotFoundError:
            raise ArtifactError(f"artifact {name}:v{version} of project {project!r} does not exist "
                                f"(versions: {self._listing(project, name)})") from None
        al = self.aliases(project, name) if aliases is None else aliases
        v.aliases = sorted(a for a, n in al.items() if n == version)
        v.logdir = self.logdir
        return v

    def versions(self, project: str, name: str) -> List[ArtifactVersion]:
        al = self.aliases(project, name)
        out = []
        for n in self._numbers(self._dir(project, name)):
            try:
                out.append(self.version(project, name, n, al))
            except ArtifactError:
                continue  # removed meanwhile
        return out

    def resolve(self, project: str, ref: Any) -> ArtifactVersion:
        """The version ``ref`` (``"name:vN"``, ``"name:alias"``, ``"name"`` or a :class:`Ref`) names."""
        r = ref if isinstance(ref, Ref) else parse_ref(ref)
        if r.version is not None:
            return self.version(project, r.name, r.version)
        al = self.aliases(project, r.name)
        if r.alias not in al:
            raise ArtifactError(f"artifact {r} of project {project!r} does not exist: "
                                f"{self._listing(project, r.name)}")
        return self.version(project, r.name, al[r.alias], al)

    def _listing(self, project: str, name: str) -> str:
        nums = self._numbers(self._dir(project, name))
        if not nums:
            known = self.names(project)
            return f"no artifact named {name!r} (artifacts: {', '.join(known) or 'none'})"
        al = self.aliases(project, name)
        return ", ".join([f"v{n}" for n in nums] + sorted(f"{a}->v{n}" for a, n in al.items()))

    def edges(self, project: str, name: Optional[str] = None) -> List[Edge]:
        """The lineage edges of one artifact, or of every artifact of ``project``."""
        out: List[Edge] = []
        for n in [name] if name else self.names(project):
            try:
                with open(os.path.join(self._dir(project, n), "edges.jsonl"), "rb") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    e = orjson.loads(line)
                    out.append(Edge(e["run"], e.get("run_label") or e["run"][:8], n, int(e["version"]), e["direction"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line (the writer was killed): skipped
        return out

    def referenced_shas(self) -> set:
        refs: set = set()
        for p in self.projects():
            for n in self.names(p):
                for v in self.versions(p, n):
                    refs.update(f.sha256 for f in v.manifest.files)
        return refs

    def checkout(self, version: ArtifactVersion, root: Optional[str] = None) -> str:
        """Put the files of ``version`` under ``root`` (default
        ``<logdir>/.artifacts/checkouts/<project>/<name>/vN``) as hard links to the store; returns the
        folder. Files already there with the right content are left as they are."""
        dest = os.path.abspath(root or os.path.join(os.path.dirname(self.root), "checkouts", version.project,
                                                    version.name, f"v{version.version}"))
        for f in version.manifest.files:
            if not self.store.has(f.sha256):
                raise ArtifactError(f"{version.ref}: the file {f.path!r} (sha256 {f.sha256[:12]}...) is not in the "
                                    f"local store {self.store.root}; fetch it from the server with "
                                    f"`seetrain artifact get {version.ref} --host URL`")
            target = os.path.join(dest, *f.path.split("/"))
            try:
                if os.path.samefile(target, self.store.path(f.sha256)):
                    continue
            except OSError:
                pass
            self.store.link_out(f.sha256, target)
        os.makedirs(dest, exist_ok=True)
        return dest

    # --- writing -----------------------------------------------------------------------------------
    def add(self, project: str, name: str, type: str, manifest: Manifest, aliases: Sequence[str] = (),
            metadata: Optional[Dict[str, Any]] = None, producer: Optional[Dict[str, Any]] = None) -> ArtifactVersion:
        """Register ``manifest`` (its blobs already stored) as the next version of ``name``, or find
        the version with the same digest (content is never versioned twice); ``latest`` and
        ``aliases`` then name it. Returns the version."""
        aliases = [check_alias(a) for a in aliases]
        digest = manifest.digest
        with self._locked(project, name) as d:
            nums = self._numbers(d)
            existing = None
            for n in reversed(nums):
                try:
                    v = self.version(project, name, n, {})
                except ArtifactError:
                    continue
                if v.digest == digest:
                    existing = v
                    break
            if existing is None:
                existing = ArtifactVersion(project, name, _next_number(d, nums), str(type or "artifact"), digest,
                                           manifest, time.time(), dict(metadata or {}), producer)
                body = existing.to_dict()
                body.pop("aliases")
                write_json_atomic(os.path.join(d, "versions", f"v{existing.version}.json"), body)
            self._move(d, {a: existing.version for a in [LATEST, *aliases]})
        return self.version(project, name, existing.version)

    def set_alias(self, project: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``name:v<version>`` (taken from the version that held it, in one rename)."""
        check_alias(alias)
        with self._locked(project, name) as d:
            self.version(project, name, version, {})  # exists?
            self._move(d, {alias: version})

    def remove_alias(self, project: str, name: str, alias: str) -> bool:
        with self._locked(project, name) as d:
            al = self.aliases(project, name)
            if al.pop(alias, None) is None:
                return False
            write_json_atomic(os.path.join(d, "aliases.json"), al)
            return True

    def _move(self, d: str, moves: Dict[str, int]) -> None:
        al = {}
        try:
            with open(os.path.join(d, "aliases.json"), "rb") as f:
                al = orjson.loads(f.read())
        except (OSError, ValueError):
            pass
        al.update(moves)
        write_json_atomic(os.path.join(d, "aliases.json"), al)

    def remove(self, project: str, name: str, version: int) -> ArtifactVersion:
        """Remove ``name:v<version>`` (its number is never given again); its aliases go with it and
        ``latest`` moves to the newest version left. Its blobs stay until ``seetrain artifact gc``."""
        with self._locked(project, name) as d:
            v = self.version(project, name, version)
            os.makedirs(os.path.join(d, "removed"), exist_ok=True)
            os.replace(os.path.join(d, "versions", f"v{version}.json"), os.path.join(d, "removed", f"v{version}.json"))
            al = {a: n for a, n in self.aliases(project, name).items() if n != version}
            left = self._numbers(d)
            if left and LATEST not in al:
                al[LATEST] = left[-1]
            write_json_atomic(os.path.join(d, "aliases.json"), al)
        return v

    def add_edge(self, project: str, name: str, version: int, direction: str, run: Mapping[str, Any]) -> None:
        """Record that run ``run`` (``{"uuid", "id", "name"}``) logged or used ``name:v<version>``
        (one short line appended with O_APPEND: whole under concurrent writers)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        line = orjson.dumps({"run": run["uuid"], "run_label": run.get("name") or run.get("id"), "version": version,
                             "direction": direction, "time": time.time()}) + b"\n"
        d = self._dir(project, name)
        os.makedirs(d, exist_ok=True)
        fd = os.open(os.path.join(d, "edges.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _next_number(d: str, nums: List[int]) -> int:
    """One past the highest number ever given, removed versions included."""
    removed = []
    try:
        removed = [n for n in (parse_version(x[:-5]) for x in os.listdir(os.path.join(d, "removed"))) if n is not None]
    except OSError:
        pass
    return max(nums + removed, default=-1) + 1
