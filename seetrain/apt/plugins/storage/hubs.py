"""Model hubs as stores: a Hugging Face Hub repository (huggingface_hub.HfApi) and a ModelScope
repository (modelscope.HubApi). ``bucket`` is the repository id; keys are paths in the repository."""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict, Iterator, Optional

from .base import ObjectInfo, Progress, StorageBackend, StorageCredentialsError, StorageError, missing_package


class HuggingFaceBackend(StorageBackend):
    """A Hugging Face Hub repository. Token from ``credentials.token``, HF_TOKEN or ``hf auth login``.

    Each upload is a commit. The SHA-256 of a file is kept in a ``<path>.sha256`` sidecar file.
    """

    provider = "huggingface"

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: Optional[str] = None,
                 credentials: Optional[Dict[str, Any]] = None, repo_type: str = "model",
                 create_repo: bool = False, private: bool = True, **_: Any) -> None:
        super().__init__(prefix)
        try:
            import huggingface_hub
        except ImportError as exc:
            raise missing_package(self.provider, "huggingface_hub", exc) from None
        if not bucket:
            raise ValueError("the huggingface provider needs the repository id in 'bucket' (e.g. 'user/my-model')")
        token = (credentials or {}).get("token") or os.environ.get("HF_TOKEN") or huggingface_hub.get_token()
        if not token:
            raise StorageCredentialsError(
                "the huggingface provider needs a token with write access: set HF_TOKEN, run "
                "`hf auth login`, or put 'credentials: {token: ...}' in the cloud-storage config")
        self.api = huggingface_hub.HfApi(endpoint=endpoint_url, token=token)
        self.repo_id = bucket
        self.repo_type = repo_type
        if create_repo:
            self._call(self.api.create_repo, "creating", repo_id=bucket, repo_type=repo_type,
                       private=private, exist_ok=True)

    def _call(self, fn: Any, what: str, *args: Any, **kwargs: Any) -> Any:
        from huggingface_hub import errors

        try:
            return fn(*args, **kwargs)
        except errors.EntryNotFoundError:
            raise
        except errors.HfHubHTTPError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (401, 403):
                raise StorageCredentialsError(f"{what} {self.repo_id}: the Hub refused the token ({exc})") from exc
            raise StorageError(f"{what} {self.repo_id} on the Hugging Face Hub failed: {exc}") from exc
        except errors.OfflineModeIsEnabled as exc:
            raise StorageError(f"{what} {self.repo_id}: HF_HUB_OFFLINE is set, the Hub cannot be reached") from exc

    def _put(self, local_path: str, key: str, sha256: str, progress: Optional[Progress]) -> Dict[str, Any]:
        self._call(self.api.upload_file, "uploading to", path_or_fileobj=local_path,
                   path_in_repo=self.full_key(key), repo_id=self.repo_id, repo_type=self.repo_type,
                   commit_message=f"seetrain: upload {self.full_key(key)}")
        size = os.path.getsize(local_path)
        if progress:
            progress(size, size)
        return {"bytes": size}

    def _put_bytes(self, key: str, data: bytes) -> None:
        self._call(self.api.upload_file, "uploading to", path_or_fileobj=data, path_in_repo=self.full_key(key),
                   repo_id=self.repo_id, repo_type=self.repo_type)

    def _get(self, key: str, local_path: str, progress: Optional[Progress]) -> None:
        import tempfile
        from huggingface_hub import errors

        with tempfile.TemporaryDirectory(prefix="seetrain-hf-") as tmp:
            try:
                path = self._call(self.api.hf_hub_download, "downloading from", repo_id=self.repo_id,
                                  filename=self.full_key(key), repo_type=self.repo_type, local_dir=tmp)
            except errors.EntryNotFoundError as exc:
                raise FileNotFoundError(f"{self.repo_id}/{self.full_key(key)} does not exist") from exc
            shutil.move(path, local_path)

    def head(self, key: str) -> Optional[ObjectInfo]:
        infos = self._call(self.api.get_paths_info, "reading", self.repo_id, [self.full_key(key)],
                           repo_type=self.repo_type)
        for info in infos or []:
            if hasattr(info, "size"):
                lfs = getattr(info, "lfs", None)
                return ObjectInfo(key=key, size=int(info.size), etag=getattr(info, "blob_id", None),
                                  sha256=getattr(lfs, "sha256", None) if lfs else None)
        return None

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.full_key(prefix) if prefix else self.prefix
        for path in self._call(self.api.list_repo_files, "listing", self.repo_id, repo_type=self.repo_type):
            if not base or path == base or path.startswith(base.rstrip("/") + "/"):
                yield ObjectInfo(key=self.relative_key(path), size=-1)

    def _delete(self, key: str) -> None:
        self._call(self.api.delete_file, "deleting from", self.full_key(key), self.repo_id, repo_type=self.repo_type)


class ModelScopeBackend(StorageBackend):
    """A ModelScope repository through modelscope's HubApi. Token from ``credentials.token`` or
    MODELSCOPE_API_TOKEN."""

    provider = "modelscope"

    def __init__(self, bucket: str, prefix: str = "", credentials: Optional[Dict[str, Any]] = None,
                 repo_type: str = "model", **_: Any) -> None:
        super().__init__(prefix)
        try:
            from modelscope.hub.api import HubApi
        except ImportError as exc:
            raise missing_package(self.provider, "modelscope", exc) from None
        token = (credentials or {}).get("token") or os.environ.get("MODELSCOPE_API_TOKEN")
        if not token:
            raise StorageCredentialsError(
                "the modelscope provider needs an access token: set MODELSCOPE_API_TOKEN or "
                "'credentials: {token: ...}' in the cloud-storage config")
        if not bucket:
            raise ValueError("the modelscope provider needs the repository id in 'bucket' (e.g. 'user/my-model')")
        self.api = HubApi()
        self.api.login(token)
        self.repo_id = bucket
        self.repo_type = repo_type

    def _put(self, local_path: str, key: str, sha256: str, progress: Optional[Progress]) -> Dict[str, Any]:
        self.api.upload_file(path_or_fileobj=local_path, path_in_repo=self.full_key(key), repo_id=self.repo_id,
                             repo_type=self.repo_type, commit_message=f"seetrain: upload {self.full_key(key)}")
        return {"bytes": os.path.getsize(local_path)}

    def _put_bytes(self, key: str, data: bytes) -> None:
        self.api.upload_file(path_or_fileobj=data, path_in_repo=self.full_key(key), repo_id=self.repo_id,
                             repo_type=self.repo_type)

    def _get(self, key: str, local_path: str, progress: Optional[Progress]) -> None:
        import tempfile
        from modelscope.hub.file_download import model_file_download

        with tempfile.TemporaryDirectory(prefix="seetrain-ms-") as tmp:
            path = model_file_download(self.repo_id, self.full_key(key), local_dir=tmp)
            shutil.move(path, local_path)

    def _files(self) -> Dict[str, Dict[str, Any]]:
        return {f["Path"]: f for f in self.api.get_model_files(self.repo_id, recursive=True) if f.get("Type") != "tree"}

    def head(self, key: str) -> Optional[ObjectInfo]:
        f = self._files().get(self.full_key(key))
        return None if f is None else ObjectInfo(key=key, size=int(f.get("Size", -1)), sha256=f.get("Sha256"))

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.full_key(prefix) if prefix else self.prefix
        for path, f in self._files().items():
            if not base or path.startswith(base.rstrip("/") + "/") or path == base:
                yield ObjectInfo(key=self.relative_key(path), size=int(f.get("Size", -1)), sha256=f.get("Sha256"))

    def _delete(self, key: str) -> None:
        raise StorageError("deleting files from a ModelScope repository is not supported by its SDK; "
                           "delete it on modelscope.cn")
