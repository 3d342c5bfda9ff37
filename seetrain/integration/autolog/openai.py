"""OpenAI autolog: record every chat completion, Responses API call and embedding request.

    from seetrain.integration import enable_openai_autolog
    autolog = enable_openai_autolog(project="chatbot")
    client = openai.OpenAI()
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])   # recorded
    autolog.disable()                                                     # classes restored

Patches the resource classes of the ``openai`` package (every client, also those created before
enabling; sync and async; streamed and not): ``create`` and ``parse`` of chat completions and of
the Responses API (the ``.stream()`` helpers go through ``create``), embeddings and legacy
completions (``client.completions.create(prompt=...)``). What is recorded: see
:mod:`seetrain.integration.autolog._base`.
"""

from __future__ import annotations

from ._base import AutologBase
from ._formats import ChatCompletions, Completions, Embeddings, Responses

_CHAT, _RESP, _EMB, _COMP = ChatCompletions(), Responses(), Embeddings(), Completions()


class OpenAIAutolog(AutologBase):
    """Autolog for ``openai`` (tested with 1.x to 3.x); keys start with ``openai/``."""

    provider = "openai"
    distribution = "openai"
    tested_versions = ">=1.0,<4"
    targets = (
        ("openai.resources.chat.completions", "Completions", "create", _CHAT, False),
        ("openai.resources.chat.completions", "AsyncCompletions", "create", _CHAT, True),
        ("openai.resources.chat.completions", "Completions", "parse", _CHAT, False),
        ("openai.resources.chat.completions", "AsyncCompletions", "parse", _CHAT, True),
        ("openai.resources.responses", "Responses", "create", _RESP, False),
        ("openai.resources.responses", "AsyncResponses", "create", _RESP, True),
        ("openai.resources.responses", "Responses", "parse", _RESP, False),
        ("openai.resources.responses", "AsyncResponses", "parse", _RESP, True),
        ("openai.resources.embeddings", "Embeddings", "create", _EMB, False),
        ("openai.resources.embeddings", "AsyncEmbeddings", "create", _EMB, True),
        ("openai.resources.completions", "Completions", "create", _COMP, False),
        ("openai.resources.completions", "AsyncCompletions", "create", _COMP, True),
    )
