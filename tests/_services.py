"""Services the tests start or drive (PostgreSQL, Chromium, llama.cpp): skip where missing, fail in CI.

On a developer's machine a test whose service is missing skips with the reason. Where the services
are required (``CI=true``, or ``SEETRAIN_REQUIRE_SERVICES=1``; scripts/test.sh sets the latter in CI)
the same test fails with that reason, so a CI run without them cannot pass by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

HOW = "CI requires the services the tests use (CI=true or SEETRAIN_REQUIRE_SERVICES=1); install it or unset both"


def services_required() -> bool:
    """Whether a missing service fails the run (``CI`` or ``SEETRAIN_REQUIRE_SERVICES`` set true)."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes")
               for var in ("CI", "SEETRAIN_REQUIRE_SERVICES"))


def require_or_skip(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it with ``reason`` where services are required."""
    if services_required():
        pytest.fail(f"{reason} ({HOW})", pytrace=False)
    pytest.skip(reason)

