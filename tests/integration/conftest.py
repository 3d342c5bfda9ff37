"""Fixtures shared by the integration tests."""

import pytest

from tests.integration.llm_server import LLMServer


@pytest.fixture
def finish_integrations(logdir):
    """Finish every active integration after the test (this also unpatches autologged clients)."""
    yield
    from seetrain import integration

    integration.finish()


@pytest.fixture
def shielded(monkeypatch):
    """The test switch off (``SEETRAIN_TESTING=0``): adapters warn about their own errors as they do
    for users, for the tests of that shield (everywhere else the suite has them raise)."""
    monkeypatch.setenv("SEETRAIN_TESTING", "0")


@pytest.fixture(scope="module")
def server():
    """A local server speaking the OpenAI, Anthropic and ZhipuAI wire formats."""
    with LLMServer() as srv:
        yield srv
