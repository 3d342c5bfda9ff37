"""Content-addressed blob store: a local folder or any S3-compatible bucket (``s3://bucket/prefix``).

Blobs are named by their sha256 only (``ab/abcdef...``), so no client-chosen name ever becomes a
path or an object key: nothing can escape the store. S3 endpoint and credentials come from the usual
environment (``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ...).
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Iterator, Optional, Tuple

_SHA = re.compile(r"^[0-9a-f]{64}$")


def check_sha(sha: str) -> str:
    if not _SHA.match(sha or ""):
        raise ValueError(f"not a sha256 hex digest: {sha[:80]!r}")
    return sha


class BlobStore:
    """Interface: ``exists``, ``put_file`` (moves/uploads a finished temp file), ``open_iter``, ``local_path``."""

    def exists(self, sha: str) -> bool: raise NotImplementedError
    def put_file(self, sha: str, tmp_path: str, content_type: str) -> None: raise NotImplementedError
    def open_iter(self, sha: str, chunk: int = 1 << 20) -> Iterator[bytes]: raise NotImplementedError
    def local_path(self, sha: str) -> Optional[str]: return None
    # garbage collection (server/gc.py): every stored blob with its size, and removal
    def iter_blobs(self) -> Iterator[Tuple[str, int]]: raise NotImplementedError
    def size(self, sha: str) -> Optional[int]: raise NotImplementedError  # None: no such blob
    def delete(self, sha: str) -> None: raise NotImplementedError


class LocalBlobs(BlobStore):
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _path(self, sha: str) -> str:
        check_sha(sha)
        return os.path.join(self.root, sha[:2], sha)

    def exists(self, sha: str) -> bool:
        return os.path.isfile(self._path(sha))

    def put_file(self, sha: str, tmp_path: str, content_type: str) -> None:
        dest = self._path(sha)
        if os.path.isfile(dest):
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        staged = f"{dest}.{os.getpid()}.tmp"
        shutil.copyfile(tmp_path, staged)
        with open(staged, "rb") as f:
            os.fsync(f.fileno())
        os.replace(staged, dest)  # atomic: readers never see half a blob

    def local_path(self, sha: str) -> Optional[str]:
        p = self._path(sha)
        return p if os.path.isfile(p) else None

    def iter_blobs(self) -> Iterator[Tuple[str, int]]:
        """``(sha256, size)`` of every blob (staged ``*.tmp`` files and foreign names left out)."""
        for sub in sorted(os.scandir(self.root), key=lambda e: e.name):
            if not sub.is_dir(follow_symlinks=False) or len(sub.name) != 2:
                continue
            for e in os.scandir(sub.path):
                if _SHA.match(e.name) and e.name[:2] == sub.name and e.is_file(follow_symlinks=False):
                    yield e.name, e.stat(follow_symlinks=False).st_size

    def size(self, sha: str) -> Optional[int]:
        try:
            return os.stat(self._path(sha)).st_size
        except FileNotFoundError:
            return None

    def delete(self, sha: str) -> None:
        try:
            os.unlink(self._path(sha))
        except FileNotFoundError:
            pass

    def open_iter(self, sha: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        with open(self._path(sha), "rb") as f:
            while True:
                b = f.read(chunk)
                if not b:
                    return
                yield b


class S3Blobs(BlobStore):
    def __init__(self, url: str) -> None:
        import boto3

        rest = url[len("s3://"):]
        self.bucket, _, prefix = rest.partition("/")
        if not self.bucket:
            raise ValueError(f"--blobs {url!r}: say s3://BUCKET/PREFIX")
        self.prefix = prefix.strip("/")
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        self.client = boto3.client("s3", endpoint_url=endpoint)

    def _key(self, sha: str) -> str:
        check_sha(sha)
        return f"{self.prefix}/{sha[:2]}/{sha}" if self.prefix else f"{sha[:2]}/{sha}"

    def exists(self, sha: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put_file(self, sha: str, tmp_path: str, content_type: str) -> None:
        if not self.exists(sha):
            self.client.upload_file(tmp_path, self.bucket, self._key(sha), ExtraArgs={"ContentType": content_type})

    def iter_blobs(self) -> Iterator[Tuple[str, int]]:
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                sub, _, sha = name.partition("/")
                if _SHA.match(sha) and sub == sha[:2]:
                    yield sha, int(obj["Size"])

    def size(self, sha: str) -> Optional[int]:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(sha))["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete(self, sha: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(sha))

    def open_iter(self, sha: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(sha))["Body"]
        yield from body.iter_chunks(chunk)


def open_store(location: str) -> BlobStore:
    """``s3://bucket/prefix`` or a folder path."""
    if location.startswith("s3://"):
        return S3Blobs(location)
    return LocalBlobs(location)
