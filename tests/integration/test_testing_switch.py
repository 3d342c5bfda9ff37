"""The test switch (``SEETRAIN_TESTING=1``, set by tests/conftest.py): an adapter's or autolog's own
bug is raised in the test suite, while users (switch off) get a warning and their call goes on."""

from __future__ import annotations

import pytest

import seetrain
from seetrain.integration.autolog import _patch
from seetrain.integration.run_holder import RunHolder


class Client:
    def create(self, x):
        return {"x": x}


def broken_start(instance, args, kwargs):
    raise RuntimeError("logging bug in start")


def test_the_suite_runs_with_the_switch_on():
    from seetrain.errors import testing

    assert testing()


def test_an_autolog_bug_is_raised_under_the_switch():
    p = _patch.apply(Client, "create", broken_start, "switch-on")
    try:
        with pytest.raises(RuntimeError, match="logging bug in start"):
            Client().create(1)
    finally:
        _patch.restore(p)


def test_an_autolog_bug_only_warns_for_users(shielded):
    p = _patch.apply(Client, "create", broken_start, "switch-off")
    try:
        with pytest.warns(seetrain.SeeTrainWarning, match="logging bug in start"):
            assert Client().create(1) == {"x": 1}
    finally:
        _patch.restore(p)


class BrokenRun:
    finished = False

    def finish(self, status="success"):
        raise KeyError("bug in finish")


class Adapter(RunHolder):
    FRAMEWORK, SUBJECT = "toy", "the toy adapter"

    def _create_run(self):
        return BrokenRun()


def test_an_adapter_bug_is_raised_under_the_switch():
    adapter = Adapter()
    adapter.experiment
    with pytest.raises(KeyError, match="bug in finish"):
        adapter.finish()


def test_an_adapter_bug_only_warns_for_users(shielded):
    adapter = Adapter()
    adapter.experiment
    with pytest.warns(seetrain.SeeTrainWarning, match="the toy adapter could not finish.*bug in finish"):
        adapter.finish()
