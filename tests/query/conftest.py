"""The SDK-written sweep every query and API test reads (written once per module)."""

from __future__ import annotations

import pytest

from tests.query.sweep import write_sweep



@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> str:
    return write_sweep(str(tmp_path_factory.mktemp("sweep") / "logs"))


@pytest.fixture(autouse=True)
def query_cache(tmp_path, monkeypatch) -> str:
    """Each test keeps its offline query cache in its own folder (never ~/.cache)."""
    path = str(tmp_path / "query-cache")
    monkeypatch.setenv("SEETRAIN_QUERY_CACHE", path)
    return path
