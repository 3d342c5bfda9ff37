"""Artifacts tests use the server tests' real server processes (tests/server/conftest.py)."""

from tests.server.conftest import api, make_server, server  # noqa: F401 - fixtures and helpers
