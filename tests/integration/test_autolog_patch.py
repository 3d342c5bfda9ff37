"""Class-level safe patching: exact restore, no double wrapping, errors kept apart."""

from __future__ import annotations

import asyncio
import traceback
import warnings

import pytest

import seetrain
from seetrain.integration.autolog import _patch
from seetrain.resilience import get_integration_error_stats, reset_integration_error_stats


class APIBoom(Exception):
    pass


class Base:
    def inherited(self, x):
        return ("base", x)


class Client(Base):
    def create(self, x, *, y=1):
        """Create something."""
        if x == "boom":
            raise APIBoom("from the API")
        return {"x": x, "y": y}

    async def acreate(self, x):
        if x == "boom":
            raise APIBoom("async from the API")
        return {"x": x}

    @staticmethod
    def helper(x):
        return x * 2


class Recorder:
    """A start hook that records calls (``fail``/``done``), optionally broken on purpose."""

    def __init__(self, broken: str = ""):
        self.events = []
        self.broken = broken

    def __call__(self, instance, args, kwargs):
        if self.broken == "start":
            raise RuntimeError("logging bug in start")
        return self._Call(self, args)

    class _Call:
        def __init__(self, owner, args):
            self.owner, self.args = owner, args

        def done(self, result):
            if self.owner.broken == "done":
                raise RuntimeError("logging bug in done")
            self.owner.events.append(("done", self.args, result))
            return result

        def fail(self, exc):
            if self.owner.broken == "fail":
                raise RuntimeError("logging bug in fail")
            self.owner.events.append(("fail", self.args, exc))


def test_restore_is_exact_including_inherited_and_staticmethods():
    originals = {name: Client.__dict__.get(name) for name in ("create", "acreate", "helper", "inherited")}
    rec = Recorder()
    patches = [_patch.apply(Client, "create", rec, "t1"), _patch.apply(Client, "acreate", rec, "t1"),
               _patch.apply(Client, "helper", rec, "t1"), _patch.apply(Client, "inherited", rec, "t1")]
    assert Client.__dict__["create"] is not originals["create"]
    assert Client.create.__name__ == "create" and Client.create.__doc__ == "Create something."
    assert Client().create(3, y=4) == {"x": 3, "y": 4}
    assert Client.helper(5) == 10 and Client().inherited(1) == ("base", 1)
    assert asyncio.run(Client().acreate(2)) == {"x": 2}
    assert [e[0] for e in rec.events] == ["done"] * 4
    for p in patches:
        assert _patch.restore(p)
    for name in ("create", "acreate", "helper"):
        assert Client.__dict__[name] is originals[name]
    assert "inherited" not in Client.__dict__
    assert not _patch.restore(patches[0])  # restoring twice is a no-op


def test_client_created_before_patching_is_covered():
    client = Client()
    rec = Recorder()
    p = _patch.apply(Client, "create", rec, "t2")
    try:
        client.create("a")
    finally:
        _patch.restore(p)
    client.create("b")
    assert [e[1] for e in rec.events] == [("a",)]


def test_patching_twice_does_not_double_wrap():
    original = Client.__dict__["create"]
    first, second = Recorder(), Recorder()
    p1 = _patch.apply(Client, "create", first, "t3")
    p2 = _patch.apply(Client, "create", second, "t3")
    try:
        assert Client.__dict__["create"].__wrapped__ is original
        Client().create(1)
        assert len(second.events) == 1 and first.events == []
        assert not _patch.restore(p1)  # superseded: leaves the newer patch in place
        assert Client.__dict__["create"] is p2.wrapper
    finally:
        assert _patch.restore(p2)
    assert Client.__dict__["create"] is original


def _raise_directly():
    try:
        Client().create("boom")
    except APIBoom as exc:
        return exc


@pytest.mark.parametrize("broken", ["", "start", "fail"])
def test_api_exception_reaches_caller_unchanged(broken, shielded):
    reference = _raise_directly()
    rec = Recorder(broken)
    p = _patch.apply(Client, "create", rec, f"t4{broken}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(APIBoom) as info:
                Client().create("boom")
    finally:
        _patch.restore(p)
    exc = info.value
    assert type(exc) is APIBoom and str(exc) == str(reference)
    # the innermost frame is the real method, not SeeTrain's wrapper
    origin = traceback.extract_tb(exc.__traceback__)[-1]
    assert origin.name == "create" and origin.filename == __file__
    assert exc.__context__ is None and exc.__cause__ is None
    if not broken:
        assert rec.events[0][0] == "fail" and rec.events[0][2] is exc


def test_async_api_exception_reaches_caller_unchanged():
    rec = Recorder()
    p = _patch.apply(Client, "acreate", rec, "t5")
    try:
        with pytest.raises(APIBoom) as info:
            asyncio.run(Client().acreate("boom"))
    finally:
        _patch.restore(p)
    assert rec.events[0][2] is info.value
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "acreate"


@pytest.mark.parametrize("broken", ["start", "done"])
def test_logging_bug_is_counted_and_warned_once(broken, shielded):
    reset_integration_error_stats()
    owner = f"t6{broken}"
    p = _patch.apply(Client, "create", Recorder(broken), owner)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert Client().create(1) == {"x": 1, "y": 1}
            assert Client().create(2) == {"x": 2, "y": 1}
    finally:
        _patch.restore(p)
    ours = [w for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)]
    assert len(ours) == 1 and "logging bug" in str(ours[0].message)
    stats = get_integration_error_stats()[f"autolog.{owner}"]
    assert stats["failures"] == 2 and "logging bug" in stats["last_error"]


def test_missing_method_gives_clear_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _patch.apply(Client, "nope", Recorder(), "t7")


def test_real_client_classes_restored_exactly(logdir):
    import anthropic.resources.messages as am
    import openai.resources.chat.completions as oc
    import openai.resources.embeddings as oe
    import openai.resources.responses as orr
    import zhipuai.api_resource.chat.completions as zc

    from seetrain.integration import enable_anthropic_autolog, enable_openai_autolog, enable_zhipuai_autolog

    classes = [oc.Completions, oc.AsyncCompletions, orr.Responses, orr.AsyncResponses, oe.Embeddings,
               oe.AsyncEmbeddings, am.Messages, am.AsyncMessages, zc.Completions]
    before = [dict(vars(c)) for c in classes]
    handles = [enable_openai_autolog(project="p"), enable_anthropic_autolog(project="p"),
               enable_zhipuai_autolog(project="p")]
    assert oc.Completions.__dict__["create"] is not before[0]["create"]
    assert am.Messages.__dict__["stream"] is not before[6]["stream"]
    for h in handles:
        h.disable()
    for cls, attrs in zip(classes, before):
        now = dict(vars(cls))
        assert now.keys() == attrs.keys()
        assert all(now[k] is attrs[k] for k in attrs), cls
    for h in handles:
        h.finish()
    from seetrain import integration

    assert not any(it.adapter in handles for it in integration.active_integrations())
