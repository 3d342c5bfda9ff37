"""Alibaba Cloud OSS through its SDK, oss2. Large files use oss2's resumable upload, whose
checkpoint files live under ``state_dir`` (an interrupted upload continues where it stopped)."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Optional

from .base import ObjectInfo, Progress, StorageBackend, StorageCredentialsError, StorageError, missing_package
from .s3 import MIB, default_state_dir


class OSSBackend(StorageBackend):
    """A bucket on Alibaba Cloud OSS. ``endpoint_url`` like ``https://oss-cn-hangzhou.aliyuncs.com``;
    credentials from the config or OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET."""

    provider = "aliyun"
    supports_metadata = True

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: Optional[str] = None,
                 region: Optional[str] = None, credentials: Optional[Dict[str, Any]] = None,
                 multipart_threshold: int = 64 * MIB, part_size: int = 16 * MIB,
                 state_dir: Optional[str] = None, **_: Any) -> None:
        super().__init__(prefix)
        try:
            import oss2
        except ImportError as exc:
            raise missing_package(self.provider, "oss2", exc) from None
        creds = dict(credentials or {})
        key_id = creds.get("access_key_id") or os.environ.get("OSS_ACCESS_KEY_ID")
        secret = creds.get("access_key_secret") or os.environ.get("OSS_ACCESS_KEY_SECRET")
        if not (key_id and secret):
            raise StorageCredentialsError(
                "the aliyun provider needs credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, "
                "or 'credentials' {access_key_id, access_key_secret} in the cloud-storage config")
        endpoint = endpoint_url or (f"https://oss-{region}.aliyuncs.com" if region else None)
        if not (bucket and endpoint):
            raise ValueError("the aliyun provider needs 'bucket' and 'endpoint_url' (or 'region')")
        self.oss2 = oss2
        self.bucket = oss2.Bucket(oss2.Auth(key_id, secret), endpoint, bucket)
        self.multipart_threshold = int(multipart_threshold)
        self.part_size = int(part_size)
        self.state_dir = state_dir or default_state_dir()

    def _put(self, local_path: str, key: str, sha256: str, progress: Optional[Progress]) -> Dict[str, Any]:
        headers = {"x-oss-meta-sha256": sha256}
        cb = (lambda done, total: progress(done, total or 0)) if progress else None
        self.oss2.resumable_upload(
            self.bucket, self.full_key(key), local_path, headers=headers,
            store=self.oss2.ResumableStore(root=self.state_dir), multipart_threshold=self.multipart_threshold,
            part_size=self.part_size, progress_callback=cb)
        return {"bytes": os.path.getsize(local_path)}

    def _put_bytes(self, key: str, data: bytes) -> None:
        import hashlib

        self.bucket.put_object(self.full_key(key), data,
                               headers={"x-oss-meta-sha256": hashlib.sha256(data).hexdigest()})

    def _get(self, key: str, local_path: str, progress: Optional[Progress]) -> None:
        cb = (lambda done, total: progress(done, total or 0)) if progress else None
        try:
            self.bucket.get_object_to_file(self.full_key(key), local_path, progress_callback=cb)
        except self.oss2.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"oss://{self.bucket.bucket_name}/{self.full_key(key)} does not exist") from exc

    def _get_bytes(self, key: str) -> Optional[bytes]:
        try:
            return self.bucket.get_object(self.full_key(key)).read()
        except self.oss2.exceptions.NoSuchKey:
            return None

    def head(self, key: str) -> Optional[ObjectInfo]:
        try:
            r = self.bucket.head_object(self.full_key(key))
        except self.oss2.exceptions.NotFound:
            return None
        except self.oss2.exceptions.OssError as exc:
            raise StorageError(f"head of oss://{self.bucket.bucket_name}/{self.full_key(key)} failed: {exc}") from exc
        return ObjectInfo(key=key, size=int(r.content_length), etag=(r.etag or "").strip('"'),
                          sha256=r.headers.get("x-oss-meta-sha256"))

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        full = self.full_key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        for o in self.oss2.ObjectIterator(self.bucket, prefix=full):
            yield ObjectInfo(key=self.relative_key(o.key), size=int(o.size), etag=(o.etag or "").strip('"'))

    def _delete(self, key: str) -> None:
        self.bucket.delete_object(self.full_key(key))
