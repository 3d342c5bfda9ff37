"""Anthropic autolog: record ``client.messages.create`` / ``.parse`` / ``.stream(...)`` (and ``client.beta.messages``).

    from seetrain.integration import enable_anthropic_autolog
    autolog = enable_anthropic_autolog(project="claude")
    client = anthropic.Anthropic()
    client.messages.create(model="claude-sonnet-4-5", max_tokens=256, messages=[...])   # recorded

Sync and async clients, ``stream=True``, the ``messages.stream()`` helper (recorded when the
stream ends or is closed), structured outputs (``messages.parse``) and the same methods under
``client.beta.messages``. Prompt tokens include cached input tokens. Extended thinking is recorded
apart from the answer, as ``anthropic/thinking``. What is recorded: see
:mod:`seetrain.integration.autolog._base`.
"""

from __future__ import annotations

from typing import Any, Callable

from . import _patch
from ._base import AutologBase, CallRecorder
from ._anthropic_format import AnthropicMessages
from ._formats import Endpoint

_MSG = AnthropicMessages()


class AnthropicAutolog(AutologBase):
    """Autolog for ``anthropic`` (tested with 0.30 to 2.x); keys start with ``anthropic/``."""

    provider = "anthropic"
    distribution = "anthropic"
    tested_versions = ">=0.30,<3"
    targets = tuple(
        (module, prefix + "Messages", method, _MSG, prefix == "Async")
        for module in ("anthropic.resources.messages", "anthropic.resources.beta.messages")
        for method in ("create", "parse", "stream")
        for prefix in ("", "Async")
    )

    def _patch(self, cls: type, method: str, endpoint: Endpoint, is_async: bool) -> _patch.Patch:
        if method != "stream":
            return super()._patch(cls, method, endpoint, is_async)

        def make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
            def stream(resource, *args, **kwargs):
                manager = original(resource, *args, **kwargs)
                if self.enabled:
                    _patch.guarded(self.provider, "hook messages.stream()", self._hook_manager,
                                   manager, resource, kwargs, endpoint, is_async)
                return manager

            return stream

        return _patch.apply(cls, method, None, self.provider, make_wrapper=make_wrapper)  # type: ignore[arg-type]

    def _hook_manager(self, manager: Any, resource: Any, kwargs: dict, endpoint: Endpoint, is_async: bool) -> None:
        """Record the raw event stream the stream manager opens on ``with``/``async with``."""
        attr = next((a for a in vars(manager) if a.endswith("__api_request")), None)
        if attr is None:
            return
        request = getattr(manager, attr)
        owner = self.provider

        def begin() -> Any:
            rec = _patch.guarded(owner, "start recording a call", CallRecorder, self, endpoint, resource, kwargs)
            return None if rec is _patch._MISSING or not self.enabled else rec

        def finish(rec: Any, raw: Any) -> Any:
            out = _patch.guarded(owner, "record a call", rec.done, raw)
            return raw if out is _patch._MISSING else out

        if is_async:
            async def api_request() -> Any:
                rec = begin()
                if rec is None:
                    return await request
                try:
                    raw = await request
                except BaseException as exc:
                    _patch.guarded(owner, "record a failed call", rec.fail, exc)
                    raise
                return finish(rec, raw)

            setattr(manager, attr, api_request())
        else:
            def api_request() -> Any:  # type: ignore[misc]
                rec = begin()
                if rec is None:
                    return request()
                try:
                    raw = request()
                except BaseException as exc:
                    _patch.guarded(owner, "record a failed call", rec.fail, exc)
                    raise
                return finish(rec, raw)

            setattr(manager, attr, api_request)
