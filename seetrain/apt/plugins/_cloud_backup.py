"""Backups of cloud-storage: ``backup_model`` to one or more destinations with a manifest, rotation
(``keep_last_n``), listing, ``restore_from_cloud`` and the per-provider shortcuts."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
import time
import warnings
from typing import Any, Dict, Iterable, List, Optional

from ._model_files import save_model_files
from .storage import StorageBackend
from .storage.base import ChecksumMismatchError, StorageError

BACKUP_MANIFEST = "backup.json"


class _BackupMixin:
    """The backup methods of :class:`~.cloud_storage.CloudStoragePlugin` (needs ``backend``, ``_upload_dir``,
    ``_report`` and ``config``)."""

    def _backup_root(self, backup_name: str) -> str:
        return posixpath.join(self.config["backup_prefix"], backup_name)

    def backup_model(self, model_path: Any, backup_name: str, destinations: Optional[Iterable[Any]] = None,
                     step: Optional[int] = None, auto: bool = False) -> Dict[str, Dict[str, Any]]:
        """Copy a model (file, directory or ``nn.Module``) to ``<backup_prefix>/<backup_name>/`` on each
        destination, with a ``backup.json`` manifest of sizes and SHA-256s.

        Returns ``{destination: stats or {"error": ...}}``. A failing destination is warned about;
        if every destination fails, :class:`StorageError` is raised.
        """
        dests = list(destinations) if destinations is not None else [None]
        results: Dict[str, Dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="seetrain-backup-") as tmp:
            if isinstance(model_path, (str, os.PathLike)):
                src = os.fspath(model_path)
                if not os.path.exists(src):
                    raise FileNotFoundError(f"backup_model: {src!r} does not exist")
                if os.path.isfile(src):
                    shutil.copy2(src, os.path.join(tmp, os.path.basename(src)))
                    src = tmp
            else:
                src = save_model_files(model_path, tmp)
            for dest in dests:
                label = self._label(dest)
                t0 = time.perf_counter()
                try:
                    backend = self.backend(dest)
                    root = self._backup_root(backup_name)
                    stats = self._upload_dir(backend, src, root, None)
                    manifest = {"name": backup_name, "created": time.time(), "auto": auto,
                                "files": stats.pop("manifest")}
                    backend.put_bytes(posixpath.join(root, BACKUP_MANIFEST), json.dumps(manifest, indent=1).encode())
                    stats["seconds"] = time.perf_counter() - t0
                    stats["deleted_old"] = self._rotate(backend) if auto else 0
                    results[label] = stats
                    self._report(f"backup/{label}", stats, step)
                except Exception as exc:
                    from seetrain.resilience import record_failure
                    from seetrain import SeeTrainWarning

                    record_failure(f"cloud-storage.backup:{label}", exc)
                    results[label] = {"error": f"{type(exc).__name__}: {exc}"}
                    warnings.warn(f"seetrain cloud-storage: backup {backup_name!r} to {label} failed: {exc}",
                                  SeeTrainWarning, stacklevel=2)
        if results and all("error" in r for r in results.values()):
            raise StorageError(f"backup {backup_name!r} failed on every destination: "
                               + "; ".join(f"{k}: {v['error']}" for k, v in results.items()))
        return results

    def _label(self, dest: Any) -> str:
        if dest is None:
            return str(self.config["provider"])
        if isinstance(dest, str):
            return dest
        if isinstance(dest, StorageBackend):
            return dest.provider
        return str(dict(dest).get("provider", "custom"))

    def list_backups(self, source: Any = None) -> List[Dict[str, Any]]:
        """The backups on ``source``, oldest first: ``[{"name", "created", "auto", "files"}]``."""
        backend = self.backend(source)
        prefix = self.config["backup_prefix"]
        out = []
        for obj in backend.list(prefix + "/"):
            parts = obj.key[len(prefix) + 1:].split("/")
            if len(parts) == 2 and parts[1] == BACKUP_MANIFEST:
                raw = backend.get_bytes(obj.key)
                if raw:
                    out.append(json.loads(raw))
        return sorted(out, key=lambda m: m.get("created", 0))

    def _rotate(self, backend: StorageBackend) -> int:
        """Delete the oldest automatic backups beyond ``keep_last_n``; return how many went."""
        keep = self.config.get("keep_last_n")
        if not keep:
            return 0
        autos = [m for m in self.list_backups(backend) if m.get("auto")]
        deleted = 0
        for m in autos[:max(0, len(autos) - int(keep))]:
            root = self._backup_root(m["name"])
            for obj in backend.list(root + "/"):
                backend.delete(obj.key)
            deleted += 1
        return deleted

    def restore_from_cloud(self, backup_name: str, source: Any = None, local_path: Optional[str] = None,
                           step: Optional[int] = None) -> str:
        """Download backup ``backup_name`` from ``source`` into ``local_path`` (every file checked against
        the backup manifest); return the local directory."""
        backend = self.backend(source)
        root = self._backup_root(backup_name)
        raw = backend.get_bytes(posixpath.join(root, BACKUP_MANIFEST))
        if raw is None:
            names = [m["name"] for m in self.list_backups(backend)]
            raise FileNotFoundError(f"no backup named {backup_name!r} on {self._label(source)}; "
                                    f"available: {names or 'none'}")
        manifest = json.loads(raw)
        local_path = local_path or os.path.join(os.getcwd(), backup_name)
        t0 = time.perf_counter()
        total = 0
        for rel, meta in manifest["files"].items():
            target = os.path.join(local_path, *rel.split("/"))
            s = backend.get(posixpath.join(root, rel), target, verify=self.config["verify_checksums"])
            if s["sha256"] != meta["sha256"]:
                os.remove(target)
                raise ChecksumMismatchError(f"restore {backup_name!r}: {rel} has sha256 {s['sha256']}, the backup "
                                            f"manifest says {meta['sha256']}; the file was removed")
            total += s["bytes"]
        seconds = time.perf_counter() - t0
        self._report("restore", {"files": len(manifest["files"]), "bytes": total, "seconds": seconds}, step)
        return local_path

    def backup_to_s3(self, model_path: Any, backup_name: str, bucket: Optional[str] = None,
                     **options: Any) -> Dict[str, Any]:
        """Back up to an S3 bucket (``bucket``, ``prefix``, ``endpoint_url``, ``region``, ``credentials``)."""
        dest = {"provider": "aws", "bucket": bucket or self.config["bucket"], **options}
        return self.backup_model(model_path, backup_name, [dest])["aws"]

    def backup_to_oss(self, model_path: Any, backup_name: str, bucket: Optional[str] = None,
                      **options: Any) -> Dict[str, Any]:
        """Back up to an Alibaba Cloud OSS bucket (needs oss2, ``endpoint_url`` and OSS credentials)."""
        dest = {"provider": "aliyun", "bucket": bucket or self.config["bucket"], **options}
        return self.backup_model(model_path, backup_name, [dest])["aliyun"]

    def backup_to_huggingface(self, model_path: Any, backup_name: str, repo_id: Optional[str] = None,
                              **options: Any) -> Dict[str, Any]:
        """Back up to a Hugging Face Hub repository ``repo_id`` (token from HF_TOKEN or ``credentials``)."""
        dest = {"provider": "huggingface", "bucket": repo_id or self.config["bucket"], **options}
        return self.backup_model(model_path, backup_name, [dest])["huggingface"]
