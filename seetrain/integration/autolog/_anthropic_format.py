"""Reading Anthropic Messages API requests and responses (``messages.create`` / ``.parse`` / ``.stream``,
also under ``client.beta``), by duck typing.

The answer is the text and tool-use blocks, in the same form streamed or not: text as is, a tool
use as ``[tool_use name({...})]``, blocks joined by new lines. Extended thinking is kept apart from
the answer (``Call.thinking``; recorded as ``anthropic/thinking``), again the same either way.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from ._formats import Call, Endpoint, _get, _to_json, render_messages, snapshot

_THINKING = ("thinking", "redacted_thinking")


def _tool_use(name: Any, arguments: Any) -> str:
    return f"[tool_use {name or ''}({_to_json(arguments)})]"


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return raw


class AnthropicMessages(Endpoint):
    """Anthropic Messages API."""

    name = "messages"

    def prompt(self, kwargs: Dict[str, Any]) -> Any:
        return (kwargs.get("system"), snapshot(kwargs.get("messages")))

    def render_prompt(self, prompt: Any) -> str:
        system, messages = prompt
        return render_messages(messages, system=system)

    @staticmethod
    def _usage(call: Call, usage: Any) -> None:
        inp = getattr(usage, "input_tokens", None)
        if inp is not None:
            cached = (getattr(usage, "cache_creation_input_tokens", None) or 0) + \
                     (getattr(usage, "cache_read_input_tokens", None) or 0)
            call.prompt_tokens = inp + cached
        out = getattr(usage, "output_tokens", None)
        if out is not None:
            call.completion_tokens = out
        if call.prompt_tokens is not None or call.completion_tokens is not None:
            call.total_tokens = (call.prompt_tokens or 0) + (call.completion_tokens or 0)

    def response(self, call: Call, result: Any) -> None:
        call.result = result
        call.model = getattr(result, "model", None) or call.model
        usage = getattr(result, "usage", None)
        if usage is not None:
            self._usage(call, usage)
        call.finish_reason = getattr(result, "stop_reason", None)
        for block in getattr(result, "content", None) or ():
            kind = _get(block, "type")
            if kind == "thinking":
                call.add_thinking(_get(block, "thinking", "") or "")
            elif kind == "redacted_thinking":
                call.add_thinking("[redacted_thinking]")

    def chunk(self, call: Call, item: Any) -> bool:
        kind = getattr(item, "type", "")
        if kind == "content_block_delta":
            delta = item.delta
            dtype = getattr(delta, "type", "")
            if dtype == "thinking_delta":  # pieces of the block content_block_start opened
                if not call.thinking:
                    call.add_thinking("")
                call.thinking[-1] += getattr(delta, "thinking", "") or ""  # type: ignore[index]
                return True
            piece = getattr(delta, "text", None)
            if piece is None:
                piece = getattr(delta, "partial_json", None)
            if piece:
                self._block(call, getattr(item, "index", 0) or 0)[2].append(piece)
                return True
        elif kind == "content_block_start":
            block = getattr(item, "content_block", None)
            btype = getattr(block, "type", None)
            if btype == "redacted_thinking":
                call.add_thinking("[redacted_thinking]")
            elif btype == "thinking":
                call.add_thinking("")
            elif btype not in _THINKING:
                slot = self._block(call, getattr(item, "index", 0) or 0)
                slot[0], slot[1] = btype, getattr(block, "name", None)
                text = getattr(block, "text", None)
                if text:
                    slot[2].append(text)
        elif kind == "message_start":
            msg = getattr(item, "message", None)
            call.model = getattr(msg, "model", None) or call.model
            usage = getattr(msg, "usage", None)
            if usage is not None:
                self._usage(call, usage)
        elif kind == "message_delta":
            reason = getattr(getattr(item, "delta", None), "stop_reason", None)
            if reason:
                call.finish_reason = reason
            usage = getattr(item, "usage", None)
            if usage is not None:
                self._usage(call, usage)
        return False

    @staticmethod
    def _block(call: Call, index: int) -> List[Any]:
        if call.blocks is None:
            call.blocks = {}
        return call.blocks.setdefault(index, ["text", None, []])

    def answer(self, call: Call) -> Optional[str]:
        parts = []
        if call.result is None:
            for _, (btype, name, pieces) in sorted((call.blocks or {}).items()):
                raw = "".join(pieces)
                parts.append(_tool_use(name, _json_or_text(raw)) if btype in ("tool_use", "server_tool_use")
                             else raw)
            return "\n".join(parts)
        for block in getattr(call.result, "content", None) or ():
            kind = _get(block, "type")
            if kind in _THINKING:
                continue
            if kind in ("tool_use", "server_tool_use"):
                parts.append(_tool_use(_get(block, "name"), _get(block, "input")))
            else:
                text = _get(block, "text")
                parts.append(text if isinstance(text, str) else f"[{kind}]")
        return "\n".join(parts)
