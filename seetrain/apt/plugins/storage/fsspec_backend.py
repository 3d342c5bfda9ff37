"""Stores reached through an fsspec filesystem: a local folder, Google Cloud Storage (gcsfs) and
Azure Blob Storage (adlfs). The SHA-256 of each object is kept in a ``<key>.sha256`` sidecar."""

from __future__ import annotations

import importlib.util
import os
import posixpath
from typing import Any, Dict, Iterator, Optional

from .base import ObjectInfo, Progress, StorageBackend, StorageCredentialsError, missing_package


class FsspecBackend(StorageBackend):
    """Objects under ``root`` (a bucket, container or folder) of an fsspec filesystem."""

    def __init__(self, fs: Any, root: str, prefix: str = "", provider: str = "fsspec") -> None:
        super().__init__(prefix)
        self.fs = fs
        self.root = root.rstrip("/")
        self.provider = provider
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))

    def _path(self, key: str) -> str:
        return posixpath.join(self.root, self.full_key(key))

    def _put(self, local_path: str, key: str, sha256: str, progress: Optional[Progress]) -> Dict[str, Any]:
        path = self._path(key)
        if self._local:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            tmp = path + ".uploading"
            self.fs.put_file(local_path, tmp)
            os.replace(tmp, path)  # readers never see a half-written file
        else:
            self.fs.put_file(local_path, path)
        size = os.path.getsize(local_path)
        if progress:
            progress(size, size)
        return {"bytes": size}

    def _put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if self._local:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(path, data)

    def _get(self, key: str, local_path: str, progress: Optional[Progress]) -> None:
        path = self._path(key)
        if not self.fs.exists(path):
            raise FileNotFoundError(f"{self.provider}:{path} does not exist")
        self.fs.get_file(path, local_path)
        if progress:
            size = os.path.getsize(local_path)
            progress(size, size)

    def _get_bytes(self, key: str) -> Optional[bytes]:
        path = self._path(key)
        return self.fs.cat_file(path) if self.fs.exists(path) else None

    def head(self, key: str) -> Optional[ObjectInfo]:
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        etag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("content_md5")
        if etag is None and self._local:  # a local file has no etag: size and mtime stand in for it
            etag = f"{info.get('size')}-{int(info.get('mtime', 0) * 1e6)}"
        return ObjectInfo(key=key, size=int(info.get("size") or 0), etag=str(etag).strip('"') if etag else None)

    def exists(self, key: str) -> bool:
        return self.fs.isfile(self._path(key))

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = posixpath.join(self.root, self.prefix) if self.prefix else self.root
        start = posixpath.join(base, prefix) if prefix else base
        if not self.fs.exists(start):
            return
        found = self.fs.find(start, detail=True) if self.fs.isdir(start) else {start: self.fs.info(start)}
        root = self.fs._strip_protocol(base).rstrip("/") + "/"
        for path, info in sorted(found.items()):
            rel = self.fs._strip_protocol(path)
            if rel.endswith(".uploading"):
                continue
            yield ObjectInfo(key=rel[len(root):] if rel.startswith(root) else rel, size=int(info.get("size") or 0))

    def _delete(self, key: str) -> None:
        self.fs.rm_file(self._path(key))


class LocalBackend(FsspecBackend):
    """A local (or mounted network) folder: ``provider: local, bucket: /path/to/folder``."""

    def __init__(self, bucket: str, prefix: str = "", **_: Any) -> None:
        import fsspec

        if not bucket:
            raise ValueError("the local provider needs a folder: set 'bucket' (or 'path') in the cloud-storage config")
        root = os.path.abspath(os.path.expanduser(bucket))
        os.makedirs(root, exist_ok=True)
        super().__init__(fsspec.filesystem("file"), root, prefix, provider="local")


def _require(provider: str, package: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise missing_package(provider, package, ModuleNotFoundError(f"No module named '{package}'"))


class GCSBackend(FsspecBackend):
    """A Google Cloud Storage bucket through gcsfs (``gs://``). Credentials: ``credentials.token``
    (a service-account JSON path) or Google's default credentials (GOOGLE_APPLICATION_CREDENTIALS)."""

    def __init__(self, bucket: str, prefix: str = "", credentials: Optional[Dict[str, Any]] = None,
                 project: Optional[str] = None, **_: Any) -> None:
        _require("gcp", "gcsfs")
        import fsspec

        creds = dict(credentials or {})
        opts = {k: v for k, v in {"project": project or creds.get("project"),
                                  "token": creds.get("token") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
                                  }.items() if v}
        super().__init__(fsspec.filesystem("gs", **opts), bucket, prefix, provider="gcp")


class AzureBackend(FsspecBackend):
    """An Azure Blob Storage container through adlfs (``abfs://``). Credentials: a connection string,
    or an account name with a key or SAS token, from the config or AZURE_STORAGE_* variables."""

    def __init__(self, bucket: str, prefix: str = "", credentials: Optional[Dict[str, Any]] = None, **_: Any) -> None:
        _require("azure", "adlfs")
        import fsspec

        creds = dict(credentials or {})
        opts = {
            "connection_string": creds.get("connection_string") or os.environ.get("AZURE_STORAGE_CONNECTION_STRING"),
            "account_name": creds.get("account_name") or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME"),
            "account_key": creds.get("account_key") or os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"),
            "sas_token": creds.get("sas_token") or os.environ.get("AZURE_STORAGE_SAS_TOKEN"),
        }
        opts = {k: v for k, v in opts.items() if v}
        if not (opts.get("connection_string") or opts.get("account_name")):
            raise StorageCredentialsError(
                "the azure provider needs credentials: set AZURE_STORAGE_CONNECTION_STRING, or "
                "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN, "
                "or 'credentials' in the cloud-storage config")
        super().__init__(fsspec.filesystem("abfs", **opts), bucket, prefix, provider="azure")
