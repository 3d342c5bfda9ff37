"""Storage backends of the cloud-storage plugin, one interface over several providers.

    backend = make_backend("aws", bucket="models", prefix="runs/a", endpoint_url="http://127.0.0.1:9000")
    backend.put("model.safetensors", "model.safetensors")   # SHA-256 recorded with the object
    backend.get("model.safetensors", "/tmp/m.safetensors")  # verified against it

Each provider's SDK is imported only when that provider is used; a missing one raises an
ImportError that names the package to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import (ChecksumMismatchError, ObjectInfo, StorageBackend, StorageCredentialsError, StorageError,
                   file_sha256)

# provider name -> "module:Class" (relative to this package)
PROVIDERS = {
    "aws": "s3:S3Backend",
    "gcp": "fsspec_backend:GCSBackend",
    "azure": "fsspec_backend:AzureBackend",
    "aliyun": "oss:OSSBackend",
    "huggingface": "hubs:HuggingFaceBackend",
    "modelscope": "hubs:ModelScopeBackend",
    "local": "fsspec_backend:LocalBackend",
}
ALIASES = {"s3": "aws", "gcs": "gcp", "oss": "aliyun", "hf": "huggingface", "file": "local"}


def canonical_provider(provider: str) -> str:
    name = ALIASES.get(str(provider).lower(), str(provider).lower())
    if name not in PROVIDERS:
        raise ValueError(f"unknown cloud-storage provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    return name


def make_backend(provider: str, **options: Any) -> StorageBackend:
    """The backend for ``provider`` with ``bucket``, ``prefix``, ``endpoint_url``, ``region``,
    ``credentials`` and provider-specific options."""
    module, cls = PROVIDERS[canonical_provider(provider)].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**options)


__all__ = ["make_backend", "canonical_provider", "PROVIDERS", "StorageBackend", "ObjectInfo", "StorageError",
           "StorageCredentialsError", "ChecksumMismatchError", "file_sha256"]
