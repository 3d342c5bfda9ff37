"""Versioned, content-addressed artifacts with aliases and lineage (docs/artifacts.md).

``Run.log_artifact`` and ``seetrain.use_artifact`` are the user's doors; the parts are
:mod:`.hashing` (sha256 of files), :mod:`.manifest` (what a version holds, names and refs),
:mod:`.store` (the local blob store), :mod:`.registry` (versions, aliases, lineage edges on disk),
:mod:`.lineage` (the run <-> version graph), :mod:`.api` (log and use) and :mod:`.remote` (a server).
"""

from .manifest import ArtifactError, parse_ref
from .registry import ArtifactVersion, Registry

__all__ = ["ArtifactError", "ArtifactVersion", "Registry", "parse_ref"]
