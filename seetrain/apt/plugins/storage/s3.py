"""Amazon S3 and S3-compatible stores (MinIO, moto, ...) through boto3, with resumable multipart uploads.

A file larger than ``multipart_threshold`` goes up in ``part_size`` parts. The upload id and the
ETags of the finished parts are kept in a JSON state file under ``state_dir``; when an interrupted
upload of the same (unchanged) file to the same key starts again, the parts the server already has
(``ListParts``) are reused and only the missing ones are sent. S3 wants every part but the last to
be at least 5 MiB.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any, Dict, Iterator, Optional

from .base import (CHUNK, ObjectInfo, Progress, StorageBackend, StorageCredentialsError, StorageError,
                   missing_package)

MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB
S3_MAX_PARTS = 10000
_CREDENTIAL_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                     "InvalidToken", "AuthorizationHeaderMalformed"}


def default_state_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "seetrain", "uploads")


class S3Backend(StorageBackend):
    """A bucket on S3 or an S3-compatible server (``endpoint_url``)."""

    provider = "aws"
    supports_metadata = True

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: Optional[str] = None,
                 region: Optional[str] = None, credentials: Optional[Dict[str, Any]] = None,
                 multipart_threshold: int = 64 * MIB, part_size: int = 16 * MIB,
                 state_dir: Optional[str] = None, min_part_size: int = S3_MIN_PART, **_: Any) -> None:
        super().__init__(prefix)
        if not bucket:
            raise ValueError("the aws provider needs a bucket name: set 'bucket' in the cloud-storage config")
        try:
            import boto3
            import botocore.config
        except ImportError as exc:
            raise missing_package(self.provider, "boto3", exc) from None
        creds = dict(credentials or {})
        session = boto3.session.Session(
            aws_access_key_id=creds.get("aws_access_key_id") or creds.get("access_key_id"),
            aws_secret_access_key=creds.get("aws_secret_access_key") or creds.get("secret_access_key"),
            aws_session_token=creds.get("aws_session_token") or creds.get("session_token"),
            profile_name=creds.get("profile"),
            region_name=region)
        if session.get_credentials() is None:
            raise StorageCredentialsError(
                f"no AWS credentials found for bucket {bucket!r}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE) in the environment, or 'credentials' in the cloud-storage config")
        self.client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region or session.region_name or "us-east-1",
            config=botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}))
        self.bucket = bucket
        self.multipart_threshold = int(multipart_threshold)
        self.part_size = int(part_size)
        self.min_part_size = int(min_part_size)
        self.state_dir = state_dir or default_state_dir()

    # --- errors ------------------------------------------------------------------------------
    def _wrap(self, exc: Exception, what: str, key: str = "") -> Exception:
        from botocore.exceptions import ClientError, NoCredentialsError

        where = f"s3://{self.bucket}/{self.full_key(key)}" if key else f"s3://{self.bucket}"
        if isinstance(exc, NoCredentialsError):
            return StorageCredentialsError(f"{what} {where}: no AWS credentials ({exc})")
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _CREDENTIAL_CODES:
                return StorageCredentialsError(f"{what} {where}: credentials rejected ({code}): {exc}")
            if code == "NoSuchBucket":
                return StorageError(f"{what} {where}: the bucket {self.bucket!r} does not exist; create it first")
        return StorageError(f"{what} {where} failed: {type(exc).__name__}: {exc}")

    @staticmethod
    def _not_found(exc: Exception) -> bool:
        from botocore.exceptions import ClientError

        return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
            "404", "NoSuchKey", "NotFound")

    # --- StorageBackend ----------------------------------------------------------------------
    def _put(self, local_path: str, key: str, sha256: str, progress: Optional[Progress]) -> Dict[str, Any]:
        size = os.path.getsize(local_path)
        if size > self.multipart_threshold:
            return self._put_multipart(local_path, key, sha256, progress)
        try:
            with open(local_path, "rb") as fh:
                self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=fh,
                                       Metadata={"sha256": sha256})
        except Exception as exc:
            raise self._wrap(exc, "upload to", key) from exc
        if progress:
            progress(size, size)
        return {"bytes": size, "multipart": False}

    def _put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=data,
                                   Metadata={"sha256": hashlib.sha256(data).hexdigest()})
        except Exception as exc:
            raise self._wrap(exc, "upload to", key) from exc

    def _get(self, key: str, local_path: str, progress: Optional[Progress]) -> None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))
            total, done = int(obj.get("ContentLength", 0)), 0
            with open(local_path, "wb") as fh:
                for chunk in obj["Body"].iter_chunks(CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except Exception as exc:
            if self._not_found(exc):
                raise FileNotFoundError(f"s3://{self.bucket}/{self.full_key(key)} does not exist") from exc
            raise self._wrap(exc, "download of", key) from exc

    def _get_bytes(self, key: str) -> Optional[bytes]:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))["Body"].read()
        except Exception as exc:
            if self._not_found(exc):
                return None
            raise self._wrap(exc, "download of", key) from exc

    def head(self, key: str) -> Optional[ObjectInfo]:
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=self.full_key(key))
        except Exception as exc:
            if self._not_found(exc):
                return None
            raise self._wrap(exc, "head of", key) from exc
        return ObjectInfo(key=key, size=int(r["ContentLength"]), etag=r.get("ETag", "").strip('"'),
                          sha256=(r.get("Metadata") or {}).get("sha256"))

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        full = self.full_key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                for o in page.get("Contents", []):
                    yield ObjectInfo(key=self.relative_key(o["Key"]), size=int(o["Size"]),
                                     etag=o.get("ETag", "").strip('"'))
        except Exception as exc:
            raise self._wrap(exc, "listing of", prefix) from exc

    def _delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))
        except Exception as exc:
            raise self._wrap(exc, "delete of", key) from exc

    # --- resumable multipart -----------------------------------------------------------------
    def state_path(self, local_path: str, key: str) -> str:
        """Where the state of an upload of ``local_path`` to ``key`` is kept."""
        ident = f"{self.client.meta.endpoint_url}\n{self.bucket}\n{self.full_key(key)}\n{os.path.abspath(local_path)}"
        return os.path.join(self.state_dir, hashlib.sha1(ident.encode()).hexdigest() + ".json")

    def _save_state(self, path: str, state: Dict[str, Any]) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)

    def _server_parts(self, full_key: str, upload_id: str) -> Dict[int, Dict[str, Any]]:
        parts: Dict[int, Dict[str, Any]] = {}
        for page in self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=full_key, UploadId=upload_id):
            for p in page.get("Parts", []):
                parts[int(p["PartNumber"])] = {"etag": p["ETag"].strip('"'), "size": int(p["Size"])}
        return parts

    def _resume(self, state_file: str, fingerprint: Dict[str, Any], full_key: str):
        """(state, parts on the server) of an unfinished upload of this very file, else (None, {})."""
        if not os.path.exists(state_file):
            return None, {}
        try:
            with open(state_file) as fh:
                state = json.load(fh)
        except (OSError, ValueError):
            return None, {}
        if {k: state.get(k) for k in fingerprint} != fingerprint:
            try:  # the file or the settings changed: the old parts are useless
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=state["upload_id"])
            except Exception:
                pass
            return None, {}
        try:
            return state, self._server_parts(full_key, state["upload_id"])
        except Exception as exc:
            if "NoSuchUpload" in str(exc):
                return None, {}
            raise self._wrap(exc, "listing parts of", full_key) from exc

    def _put_multipart(self, local_path: str, key: str, sha256: str,
                       progress: Optional[Progress]) -> Dict[str, Any]:
        size = os.path.getsize(local_path)
        part_size = max(self.part_size, math.ceil(size / S3_MAX_PARTS))
        if part_size < self.min_part_size:
            raise ValueError(f"part_size={part_size} bytes is below the {self.min_part_size}-byte minimum part size "
                             "of S3 (5 MiB); raise part_size (or min_part_size for a server that allows less)")
        full_key = self.full_key(key)
        state_file = self.state_path(local_path, key)
        fingerprint = {"bucket": self.bucket, "key": full_key, "size": size, "sha256": sha256,
                       "part_size": part_size}
        state, on_server = self._resume(state_file, fingerprint, full_key)
        try:
            if state is None:
                upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=full_key, Metadata={"sha256": sha256})["UploadId"]
                state = dict(fingerprint, upload_id=upload_id, parts={})
                self._save_state(state_file, state)
            n_parts = max(1, math.ceil(size / part_size))
            etags: Dict[int, str] = {}
            sent = reused = sent_bytes = done_bytes = 0
            with open(local_path, "rb") as fh:
                for pn in range(1, n_parts + 1):
                    offset = (pn - 1) * part_size
                    length = min(part_size, size - offset)
                    have = on_server.get(pn)
                    if have and have["size"] == length:
                        known = state["parts"].get(str(pn))
                        if known is None:  # uploaded but not recorded (crash in between): compare MD5
                            fh.seek(offset)
                            known = hashlib.md5(fh.read(length)).hexdigest()
                        if known == have["etag"]:
                            etags[pn] = have["etag"]
                            reused += 1
                            done_bytes += length
                            continue
                    fh.seek(offset)
                    body = fh.read(length)
                    etag = self.client.upload_part(Bucket=self.bucket, Key=full_key, UploadId=state["upload_id"],
                                                   PartNumber=pn, Body=body)["ETag"].strip('"')
                    etags[pn] = etag
                    state["parts"][str(pn)] = etag
                    self._save_state(state_file, state)
                    sent += 1
                    sent_bytes += length
                    done_bytes += length
                    if progress:
                        progress(done_bytes, size)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full_key, UploadId=state["upload_id"],
                MultipartUpload={"Parts": [{"PartNumber": pn, "ETag": f'"{etags[pn]}"'} for pn in sorted(etags)]})
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(exc, (BotoCoreError, ClientError)):
                raise self._wrap(exc, "multipart upload to", key) from exc
            raise  # e.g. an interruption: the state file stays for the next attempt
        os.remove(state_file)
        return {"bytes": sent_bytes, "multipart": True, "parts_total": n_parts, "parts_uploaded": sent,
                "parts_resumed": reused}

    def __repr__(self) -> str:
        return f"<S3Backend s3://{self.bucket}/{self.prefix}>"
