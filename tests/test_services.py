"""A missing service (PostgreSQL, Chromium, llama.cpp) skips a test locally and fails it where CI requires it."""

from __future__ import annotations

import os

import pytest

from tests._child import run_python

NEEDS = '''
import pytest
from tests._services import require_or_skip

@pytest.mark.needs_service("llama.cpp not available: no node")
def test_marked():
    pass

@pytest.mark.needs_service(None)
def test_marked_but_present():
    pass

def test_calls_the_helper():
    require_or_skip("PostgreSQL could not start: no initdb")
'''


def _pytest(tmp_path, **env):
    (tmp_path / "test_needs.py").write_text(NEEDS)
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "SEETRAIN_REQUIRE_SERVICES")}
    return run_python(["-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-rs", "-q",
                       "--rootdir", str(tmp_path), str(tmp_path / "test_needs.py")],
                      env=dict(base, **env), cwd=str(tmp_path), capture_output=True, text=True, timeout=120)


def test_a_missing_service_skips_with_the_reason_by_default(tmp_path):
    out = _pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed, 2 skipped" in out.stdout
    assert "llama.cpp not available: no node" in out.stdout and "PostgreSQL could not start" in out.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {"SEETRAIN_REQUIRE_SERVICES": "1"}])
def test_a_missing_service_fails_the_run_where_services_are_required(tmp_path, env):
    out = _pytest(tmp_path, **env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "skipped" not in out.stdout and "1 passed" in out.stdout
    assert "llama.cpp not available: no node (CI requires" in out.stdout
    assert "PostgreSQL could not start: no initdb (CI requires" in out.stdout
