"""Shared test fixtures: every test writes its runs under its own temporary log directory."""

from __future__ import annotations

import os
import signal

import pytest

from tests._services import require_or_skip

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
# adapters and autolog re-raise their own internal errors instead of warning (seetrain.errors.testing)
os.environ.setdefault("SEETRAIN_TESTING", "1")

# A suite started in the background (`pytest ... &` from a script) inherits SIGINT ignored, and an
# ignored signal passes through exec to every child: the Ctrl-C tests would then time out. Children
# must get Ctrl-C as from a terminal (tests/test_children.py).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionfinish(session, exitstatus):
    from tests._child import reap_children

    reap_children()  # children a failed test left running (e.g. a loop that ignored SIGINT)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_service(reason): the service the test needs is missing when reason is "
                            "not None: the test skips, or fails where services are required (tests/_services.py)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_service"):
        if mark.args and mark.args[0] is not None:
            require_or_skip(mark.args[0])


@pytest.fixture
def logdir(tmp_path, monkeypatch):
    """A fresh SEETRAIN_LOGDIR for the test; open runs are finished afterwards."""
    path = tmp_path / "seetrain_logs"
    monkeypatch.setenv("SEETRAIN_LOGDIR", str(path))
    yield str(path)
    from seetrain.run import active_runs

    for run in active_runs():
        run.finish()
