"""cloud-storage: upload, download, sync and back up models to S3, GCS, Azure, OSS, the Hugging Face
Hub, ModelScope or a local folder, and back the training model up every N epochs.

    plugin = CloudStoragePlugin({"provider": "aws", "bucket": "models", "prefix": "exp1",
                                 "endpoint_url": "http://127.0.0.1:9000", "backup_every_n_epochs": 2,
                                 "keep_last_n": 3})
    plugin.upload_model(model, "final")                 # an nn.Module is saved with safetensors first
    plugin.download_model("final", "./restored")        # SHA-256 checked, a bad file is removed
    plugin.sync_directory("./checkpoints", "ckpt")      # only changed files go up

Credentials come from the provider's environment variables or the ``credentials`` option and are
never logged. What moves is reported to the active SeeTrain run under ``cloud/...``.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
import time
import warnings
from typing import Any, Dict, List, Mapping, Optional, Union

from ._cloud_backup import BACKUP_MANIFEST, _BackupMixin  # noqa: F401  (re-exported)
from ._model_files import save_model_files  # noqa: F401  (re-exported)
from .base import APTPlugin
from .storage import StorageBackend, file_sha256, make_backend
from .storage.base import ChecksumMismatchError, Progress, StorageError  # noqa: F401  (re-exported)

MIB = 1024 * 1024
SYNC_MANIFEST = ".seetrain-sync.json"
# plugin options handed to the storage backends (a destination's own values win)
STORAGE_OPTIONS = ("bucket", "prefix", "endpoint_url", "region", "credentials", "multipart_threshold", "part_size",
                   "min_part_size", "state_dir", "repo_type", "create_repo", "private", "project")
_SECRET_WORDS = ("secret", "token", "password", "credential", "key")


def _redact(config: Mapping[str, Any]) -> Dict[str, Any]:
    """``config`` without anything that looks like a secret (safe to log or print)."""
    return {k: ("***" if any(w in k.lower() for w in _SECRET_WORDS) and v else v) for k, v in config.items()
            if k != "destinations"}


def _local_files(root: str) -> Dict[str, str]:
    """relative posix path -> absolute path of every file under ``root``."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root).replace(os.sep, "/")] = full
    return dict(sorted(out.items()))


class CloudStoragePlugin(_BackupMixin, APTPlugin):
    """Moves models and checkpoints between the training machine and cloud storage."""

    name = "cloud-storage"
    default_config = {
        "provider": "local",           # aws | gcp | azure | aliyun | huggingface | modelscope | local
        "bucket": None,                # bucket / container / repository id / local folder
        "prefix": "",                  # every key goes under this prefix
        "endpoint_url": None,          # S3-compatible server, OSS endpoint, Hub endpoint
        "region": None,
        "credentials": None,           # provider-specific dict; else the provider's environment variables
        "backup_every_n_epochs": 0,    # 0: no automatic backups
        "backup_every_n_steps": 0,     # optimizer steps between automatic backups (0: none)
        "backup_at_end": True,         # with automatic backups or auto_upload: a last backup "final" at the end
        "auto_upload": False,          # at the end of training upload the final model to upload_path (and the
        "upload_path": "model",        #   trainer's checkpoints/ directory, incrementally, to checkpoints/)
        "keep_last_n": None,           # keep this many automatic backups per destination
        "destinations": None,          # {name: {provider, bucket, ...}} extra backup targets
        "auto_backup_destinations": None,  # names used by automatic backups (default: the primary store)
        "backup_prefix": "backups",
        "multipart_threshold": 64 * MIB,
        "part_size": 16 * MIB,
        "state_dir": None,             # where resumable-upload state is kept (default ~/.cache/seetrain/uploads)
        "verify_checksums": True,
    }

    extra_options = ("repo_type", "create_repo", "private", "project", "min_part_size")

    def __init__(self, config: Optional[Mapping[str, Any]] = None, run: Any = None, **options: Any) -> None:
        super().__init__(config, run, **options)
        for key in ("backup_every_n_epochs", "backup_every_n_steps"):
            value = self.config.get(key) or 0
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be a whole number >= 0 (0: off), got {value!r}")
        self._backends: Dict[str, StorageBackend] = {}
        self.last_stats: Dict[str, Any] = {}
        self.auto_backups: List[str] = []   # names of the automatic backups made by the hooks, in order

    # --- backends ----------------------------------------------------------------------------
    def _backend_options(self, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        opts = {k: cfg.get(k, self.config.get(k)) for k in STORAGE_OPTIONS if k in cfg or k in self.config}
        opts.update({k: v for k, v in cfg.items() if k not in ("provider",) and k not in opts})
        opts["prefix"] = opts.get("prefix") or ""
        return opts

    @property
    def storage(self) -> StorageBackend:
        """The primary store (from ``provider``, ``bucket``, ``prefix`` ...), created on first use."""
        return self.backend(None)

    def backend(self, destination: Union[None, str, Mapping[str, Any], StorageBackend] = None) -> StorageBackend:
        """A store: None (the primary one), a name from ``destinations``, a provider name (with the
        primary bucket settings), a dict of storage options, or a :class:`StorageBackend`."""
        if isinstance(destination, StorageBackend):
            return destination
        if isinstance(destination, Mapping):
            cfg = dict(destination)
            return make_backend(cfg.get("provider", self.config["provider"]), **self._backend_options(cfg))
        key = destination or "__primary__"
        if key not in self._backends:
            named = dict(self.config.get("destinations") or {})
            if destination is None:
                cfg = {"provider": self.config["provider"]}
            elif destination in named:
                cfg = dict(named[destination])
                for k in ("bucket", "prefix", "endpoint_url", "region", "credentials"):
                    cfg.setdefault(k, None if k != "prefix" else self.config.get("prefix", ""))
            else:
                cfg = {"provider": destination}
            self._backends[key] = make_backend(cfg.get("provider", self.config["provider"]),
                                               **self._backend_options(cfg))
        return self._backends[key]

    def _report(self, kind: str, stats: Dict[str, Any], step: Optional[int] = None) -> None:
        self.last_stats = dict(stats)
        self.log({f"cloud/{kind}/{k}": v for k, v in stats.items() if isinstance(v, (int, float, bool))},
                 step=step)

    # --- upload / download -------------------------------------------------------------------
    def _upload_dir(self, backend: StorageBackend, local_dir: str, remote: str,
                    progress: Optional[Progress]) -> Dict[str, Any]:
        totals: Dict[str, Any] = {"files": 0, "bytes": 0, "parts_uploaded": 0, "parts_resumed": 0}
        files = {}
        for rel, full in _local_files(local_dir).items():
            s = backend.put(full, posixpath.join(remote, rel), progress=progress)
            totals["files"] += 1
            totals["bytes"] += int(s.get("bytes", 0))
            totals["parts_uploaded"] += int(s.get("parts_uploaded", 0))
            totals["parts_resumed"] += int(s.get("parts_resumed", 0))
            files[rel] = {"size": os.path.getsize(full), "sha256": s["sha256"]}
        totals["manifest"] = files
        return totals

    def upload_model(self, model_or_path: Any, remote_path: str, destination: Any = None,
                     progress: Optional[Progress] = None, step: Optional[int] = None) -> Dict[str, Any]:
        """Upload a file, a directory or an ``nn.Module`` (saved with safetensors first) to ``remote_path``.

        A file goes to the key ``remote_path``; a directory or a model goes under ``remote_path/``.
        Large files use resumable multipart uploads where the provider has them. ``progress(done,
        total)`` is called as bytes go up. Returns files, bytes, seconds, MB/s and multipart part counts.
        """
        backend = self.backend(destination)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="seetrain-upload-") as tmp:
            if isinstance(model_or_path, (str, os.PathLike)):
                path = os.fspath(model_or_path)
                if not os.path.exists(path):
                    raise FileNotFoundError(f"upload_model: {path!r} does not exist")
            else:
                path = save_model_files(model_or_path, tmp)
            if os.path.isdir(path):
                stats = self._upload_dir(backend, path, remote_path, progress)
                stats.pop("manifest")
            else:
                s = backend.put(path, remote_path, progress=progress)
                stats = {"files": 1, "bytes": int(s["bytes"]), "parts_uploaded": int(s.get("parts_uploaded", 0)),
                         "parts_resumed": int(s.get("parts_resumed", 0)), "sha256": s["sha256"]}
        stats["seconds"] = time.perf_counter() - t0
        stats["mb_per_s"] = stats["bytes"] / MIB / max(stats["seconds"], 1e-9)
        stats["remote_path"] = remote_path
        self._report("upload", stats, step)
        return stats

    def download_model(self, remote_path: str, local_path: str, source: Any = None,
                       verify: Optional[bool] = None, step: Optional[int] = None) -> str:
        """Download the file or the directory at ``remote_path`` to ``local_path``; return the local path.

        Each file's SHA-256 is checked against the one recorded at upload; a mismatch removes the file
        and raises :class:`ChecksumMismatchError`.
        """
        backend = self.backend(source)
        verify = self.config["verify_checksums"] if verify is None else verify
        t0 = time.perf_counter()
        stats = {"files": 0, "bytes": 0, "verified_files": 0}
        if backend.exists(remote_path):
            target = os.path.join(local_path, posixpath.basename(remote_path)) if os.path.isdir(local_path) \
                else local_path
            pairs = [(remote_path, target)]
            result = target
        else:
            base = remote_path.rstrip("/")
            objects = backend.list(base + "/")
            if not objects:
                raise FileNotFoundError(f"download_model: nothing at {remote_path!r} in {backend!r}")
            pairs = [(o.key, os.path.join(local_path, *o.key[len(base) + 1:].split("/"))) for o in objects]
            result = local_path
        for key, target in pairs:
            s = backend.get(key, target, verify=verify)
            stats["files"] += 1
            stats["bytes"] += s["bytes"]
            stats["verified_files"] += int(s["verified"])
        stats["seconds"] = time.perf_counter() - t0
        stats["mb_per_s"] = stats["bytes"] / MIB / max(stats["seconds"], 1e-9)
        self._report("download", stats, step)
        return result

    # --- incremental sync --------------------------------------------------------------------
    def sync_directory(self, local_dir: str, remote_path: str, destination: Any = None, delete: bool = False,
                       step: Optional[int] = None) -> Dict[str, Any]:
        """Upload the files of ``local_dir`` that changed since the last sync (by size and SHA-256,
        recorded in a manifest next to them); with ``delete`` remove remote files gone locally."""
        if not os.path.isdir(local_dir):
            raise NotADirectoryError(f"sync_directory: {local_dir!r} is not a directory")
        backend = self.backend(destination)
        t0 = time.perf_counter()
        manifest_key = posixpath.join(remote_path, SYNC_MANIFEST)
        raw = backend.get_bytes(manifest_key)
        old: Dict[str, Dict[str, Any]] = json.loads(raw)["files"] if raw else {}
        # one listing instead of a HEAD per file: the manifest is trusted only for objects still present
        remote = {o.key: o.size for o in backend.list(remote_path.rstrip("/") + "/")} if old else {}
        new: Dict[str, Dict[str, Any]] = {}
        stats = {"files_uploaded": 0, "files_skipped": 0, "files_deleted": 0, "bytes_uploaded": 0}
        for rel, full in _local_files(local_dir).items():
            if rel == SYNC_MANIFEST:
                continue
            size = os.path.getsize(full)
            key = posixpath.join(remote_path, rel)
            entry = old.get(rel)
            digest = file_sha256(full)
            if entry and entry["size"] == size and entry["sha256"] == digest:
                if remote.get(key) in (size, -1):  # still there (-1: the store lists no sizes)
                    new[rel] = entry
                    stats["files_skipped"] += 1
                    continue
            s = backend.put(full, key, sha256=digest)
            new[rel] = {"size": size, "sha256": digest}
            stats["files_uploaded"] += 1
            stats["bytes_uploaded"] += int(s["bytes"])
        if delete:
            for rel in sorted(set(old) - set(new)):
                backend.delete(posixpath.join(remote_path, rel))
                stats["files_deleted"] += 1
        else:  # keep what is still remote in the manifest
            for rel in set(old) - set(new):
                new[rel] = old[rel]
        backend.put_bytes(manifest_key, json.dumps({"files": new, "updated": time.time()}, indent=1).encode())
        stats["seconds"] = time.perf_counter() - t0
        self._report("sync", stats, step)
        return stats

    # --- hooks -------------------------------------------------------------------------------
    def on_training_start(self, context: Dict[str, Any]) -> None:
        self.update_config({"cloud_storage": _redact({k: self.config.get(k) for k in (
            "provider", "bucket", "prefix", "endpoint_url", "region", "backup_every_n_epochs", "keep_last_n")})})

    def on_epoch_end(self, context: Dict[str, Any]) -> None:
        """Every ``backup_every_n_epochs`` epochs (0-based ``epoch``), back the context's model up as
        ``epoch-NNNN``. A failure is warned about and counted; training goes on."""
        every = int(self.config.get("backup_every_n_epochs") or 0)
        epoch = context.get("epoch")
        if every <= 0 or epoch is None or (int(epoch) + 1) % every or context.get("exception") is not None:
            return
        self._auto_backup(context.get("model"), f"epoch-{int(epoch):04d}", context.get("step"), where="on_epoch_end")

    def on_batch_end(self, context: Dict[str, Any]) -> None:
        """Every ``backup_every_n_steps`` optimizer steps, back the model up as ``step-NNNNNNN``."""
        every = int(self.config.get("backup_every_n_steps") or 0)
        if every <= 0 or not context.get("stepped", True):
            return
        done = int(context.get("step") or 0) + 1  # optimizer steps completed, this batch's included
        if done % every == 0:
            self._auto_backup(context.get("model"), f"step-{done:07d}", done, where="on_batch_end")

    def on_training_end(self, context: Dict[str, Any]) -> None:
        """The end of training: ``backup_at_end`` (when automatic backups are on) and ``auto_upload``. In the
        trainer (``will_save_model``) this waits for :meth:`on_model_saved`, so the saved model goes up."""
        if context.get("exception") is not None or context.get("will_save_model"):
            return
        self._at_end(context.get("model"), None, None, context.get("step"))

    def on_model_saved(self, context: Dict[str, Any]) -> None:
        """``seetrain apt train`` after writing the final model: back it up and/or upload it."""
        self._at_end(context.get("model"), context.get("model_dir"), context.get("checkpoint_dir") or (
            os.path.join(context["output_dir"], "checkpoints") if context.get("output_dir") else None), context.get("step"))

    def _at_end(self, model: Any, model_dir: Optional[str], checkpoint_dir: Optional[str], step: Optional[int]) -> None:
        automatic = int(self.config.get("backup_every_n_epochs") or 0) or int(self.config.get("backup_every_n_steps") or 0)
        source = model_dir if model_dir and os.path.isdir(model_dir) else model
        if self.config.get("backup_at_end") and automatic:
            self._auto_backup(source, "final", step, rotate=False, where="on_training_end")
        if self.config.get("auto_upload"):
            from seetrain import SeeTrainWarning
            from seetrain.resilience import record_failure

            try:
                if source is None:
                    raise ValueError("no model to upload")
                self.upload_model(source, str(self.config.get("upload_path") or "model"), step=step)
                if checkpoint_dir and os.path.isdir(checkpoint_dir):  # the trainer's checkpoints folder
                    self.sync_directory(checkpoint_dir, "checkpoints", step=step)
            except Exception as exc:
                record_failure("cloud-storage.auto_upload", exc)
                warnings.warn(f"seetrain cloud-storage: auto_upload at the end of training failed: {exc}",
                              SeeTrainWarning, stacklevel=2)

    def _auto_backup(self, model: Any, name: str, step: Optional[int], rotate: bool = True,
                     where: str = "auto_backup") -> None:
        from seetrain import SeeTrainWarning
        from seetrain.resilience import record_failure

        if model is None:
            warnings.warn(f"seetrain cloud-storage: no model in the training context, backup {name!r} skipped",
                          SeeTrainWarning, stacklevel=3)
            return
        try:
            self.backup_model(model, name, self.config.get("auto_backup_destinations"), step=step, auto=rotate)
            self.auto_backups.append(name)
        except Exception as exc:
            record_failure(f"cloud-storage.{where}", exc)
            warnings.warn(f"seetrain cloud-storage: automatic backup {name!r} failed: {exc}",
                          SeeTrainWarning, stacklevel=3)

    def __repr__(self) -> str:
        return f"<CloudStoragePlugin {_redact(self.config)}>"
