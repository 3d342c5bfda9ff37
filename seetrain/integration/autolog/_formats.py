"""Reading requests and responses of the LLM APIs, by duck typing (no client library is imported).

An :class:`Endpoint` knows, for one API method, which request fields hold the prompt, how to read
model / usage / finish reason from a response, how to accumulate a stream, and how to render the
answer as text. Reading happens on the caller's thread and only touches a few attributes;
rendering text happens later, on the run's writer thread.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

# request fields that are not parameters worth recording as such
_NOT_PARAMS = frozenset({"model", "messages", "input", "instructions", "system", "prompt", "stream", "tools",
                         "functions", "extra_headers", "extra_query", "extra_body", "timeout", "response_format",
                         "text_format", "output_format"})
_SENTINELS = frozenset({"Omit", "NotGiven"})


def given(value: Any) -> bool:
    """False for the clients' "not given" sentinels (``omit``, ``NOT_GIVEN``) and None."""
    return value is not None and type(value).__name__ not in _SENTINELS


def request_params(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The request parameters (temperature, max_tokens, ...) without the prompt and transport options."""
    return {k: v for k, v in kwargs.items() if k not in _NOT_PARAMS and given(v)}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def snapshot(messages: Any) -> Any:
    """A shallow copy of a message list, so later edits by the caller do not change the record."""
    if isinstance(messages, (list, tuple)):
        return [dict(m) if isinstance(m, dict) else m for m in messages]
    return messages


# --- rendering (writer thread) -------------------------------------------------------------------
def render_content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
                continue
            kind = _get(part, "type", "part")
            text = _get(part, "text")
            if text is None and kind in ("tool_result",):
                text = render_content(_get(part, "content"))
            if isinstance(text, str):
                parts.append(text)
            elif kind in ("tool_use",):
                parts.append(f"[tool_use {_get(part, 'name', '')}({_to_json(_get(part, 'input'))})]")
            else:
                parts.append(f"[{kind}]")
        return "\n".join(parts)
    return str(content)


def _to_json(obj: Any) -> str:
    import json

    try:
        return json.dumps(obj, ensure_ascii=False, default=str)
    except Exception:
        return str(obj)


def render_tool_calls(tool_calls: Any) -> List[str]:
    out = []
    for tc in tool_calls or ():
        fn = _get(tc, "function")
        if fn is not None:
            out.append(f"[tool_call {_get(fn, 'name', '')}({_get(fn, 'arguments', '') or ''})]")
    return out


def render_messages(messages: Any, system: Any = None) -> str:
    """``[role]`` headed blocks, one per message (a plain string prompt is returned as is)."""
    blocks = []
    if given(system):
        blocks.append(f"[system]\n{render_content(system)}")
    if isinstance(messages, str):
        blocks.append(messages if not blocks else f"[user]\n{messages}")
    elif isinstance(messages, (list, tuple)):
        for m in messages:
            if isinstance(m, str):
                blocks.append(m)
                continue
            role = _get(m, "role") or _get(m, "type") or "message"
            body = render_content(_get(m, "content"))
            calls = render_tool_calls(_get(m, "tool_calls"))
            if calls:
                body = "\n".join([body] + calls if body else calls)
            if role == "function_call_output" or _get(m, "type") == "function_call_output":
                body = str(_get(m, "output", body))
            blocks.append(f"[{role}]\n{body}")
    elif given(messages):
        blocks.append(str(messages))
    return "\n\n".join(blocks)


class Call:
    """What one API call produced (filled by an :class:`Endpoint`)."""

    __slots__ = ("model", "prompt_tokens", "completion_tokens", "total_tokens", "finish_reason", "result",
                 "parts", "info", "first_token", "tools", "blocks", "thinking")

    def __init__(self, model: Any) -> None:
        self.model = model
        self.prompt_tokens: Optional[int] = None
        self.completion_tokens: Optional[int] = None
        self.total_tokens: Optional[int] = None
        self.finish_reason: Optional[str] = None
        self.result: Any = None            # the non-streamed response (read lazily for the answer)
        self.parts: Optional[Dict[int, List[str]]] = None   # streamed text, by choice index
        self.info: Dict[str, Any] = {}
        self.first_token: Optional[float] = None
        self.tools: Optional[Dict[int, Dict[int, List[str]]]] = None  # streamed tool calls: choice -> index -> [name, args]
        self.blocks: Optional[Dict[int, List[Any]]] = None  # streamed content blocks by index: [type, name, pieces]
        self.thinking: Optional[List[str]] = None  # reasoning text, kept apart from the answer

    def add_tool_piece(self, choice: int, index: int, name: Optional[str], arguments: Optional[str]) -> None:
        """One streamed piece of a tool call; pieces are joined per tool-call index (as OpenAI sends them)."""
        if self.tools is None:
            self.tools = {}
        slot = self.tools.setdefault(choice, {}).setdefault(index, ["", ""])
        if name:
            slot[0] += name
        if arguments:
            slot[1] += arguments

    def add_thinking(self, text: str) -> None:
        if self.thinking is None:
            self.thinking = []
        self.thinking.append(text)

    def add_text(self, index: int, text: str) -> None:
        if self.parts is None:
            self.parts = {}
        self.parts.setdefault(index, []).append(text)

    def streamed_text(self) -> str:
        if not self.parts:
            return ""
        if len(self.parts) == 1:
            return "".join(next(iter(self.parts.values())))
        return "\n\n".join(f"[choice {i}]\n{''.join(p)}" for i, p in sorted(self.parts.items()))


class Endpoint:
    """One API method: ``name`` is used in records (``"chat.completions"``)."""

    name = "call"
    has_answer = True

    def prompt(self, kwargs: Dict[str, Any]) -> Any:
        return snapshot(kwargs.get("messages"))

    def render_prompt(self, prompt: Any) -> str:
        return render_messages(prompt)

    def response(self, call: Call, result: Any) -> None:  # pragma: no cover - overridden
        call.result = result

    def chunk(self, call: Call, item: Any) -> bool:
        """Accumulate one stream item; True if it carried generated content."""
        return False

    def answer(self, call: Call) -> Optional[str]:
        return call.streamed_text() if call.parts is not None else None


class ChatCompletions(Endpoint):
    """OpenAI-style chat completions (OpenAI and ZhipuAI share the wire format)."""

    name = "chat.completions"

    def response(self, call: Call, result: Any) -> None:
        call.result = result
        call.model = getattr(result, "model", None) or call.model
        usage = getattr(result, "usage", None)
        if usage is not None:
            call.prompt_tokens = getattr(usage, "prompt_tokens", None)
            call.completion_tokens = getattr(usage, "completion_tokens", None)
            call.total_tokens = getattr(usage, "total_tokens", None)
        choices = getattr(result, "choices", None)
        if choices:
            call.finish_reason = getattr(choices[0], "finish_reason", None)

    def chunk(self, call: Call, item: Any) -> bool:
        got = False
        model = getattr(item, "model", None)
        if model:
            call.model = model
        usage = getattr(item, "usage", None)
        if usage is not None:
            call.prompt_tokens = getattr(usage, "prompt_tokens", None)
            call.completion_tokens = getattr(usage, "completion_tokens", None)
            call.total_tokens = getattr(usage, "total_tokens", None)
        for choice in getattr(item, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            text = getattr(delta, "content", None) if delta is not None else None
            if text:
                call.add_text(getattr(choice, "index", 0) or 0, text)
                got = True
            calls = getattr(delta, "tool_calls", None) if delta is not None else None
            if calls:
                got = True
                for n, tc in enumerate(calls):
                    fn = getattr(tc, "function", None)
                    index = getattr(tc, "index", None)
                    call.add_tool_piece(getattr(choice, "index", 0) or 0, n if index is None else index,
                                        getattr(fn, "name", None), getattr(fn, "arguments", None))
            reason = getattr(choice, "finish_reason", None)
            if reason:
                call.finish_reason = reason
        return got

    def answer(self, call: Call) -> Optional[str]:
        texts = []
        if call.result is None:  # streamed: text and tool calls per choice, as the non-streamed form
            indexes = sorted(set(call.parts or ()) | set(call.tools or ()))
            for i in indexes:
                body = "".join((call.parts or {}).get(i, ()))
                tools = (call.tools or {}).get(i, {})
                extra = [f"[tool_call {name}({args})]" for _, (name, args) in sorted(tools.items())]
                texts.append("\n".join([body] + extra if body else extra))
        else:
            for choice in getattr(call.result, "choices", None) or []:
                msg = getattr(choice, "message", None)
                body = render_content(getattr(msg, "content", None))
                extra = render_tool_calls(getattr(msg, "tool_calls", None))
                texts.append("\n".join([body] + extra if body else extra))
        if len(texts) == 1:
            return texts[0]
        return "\n\n".join(f"[choice {i}]\n{t}" for i, t in enumerate(texts))


class Completions(Endpoint):
    """OpenAI legacy completions (``client.completions.create(prompt=...)``)."""

    name = "completions"

    def prompt(self, kwargs: Dict[str, Any]) -> Any:
        return snapshot(kwargs.get("prompt"))

    def render_prompt(self, prompt: Any) -> str:
        if isinstance(prompt, list) and len(prompt) > 1 and all(isinstance(p, str) for p in prompt):
            return "\n\n".join(f"[prompt {i}]\n{p}" for i, p in enumerate(prompt))
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        return prompt if isinstance(prompt, str) else _to_json(prompt)

    def response(self, call: Call, result: Any) -> None:
        ChatCompletions.response(self, call, result)  # type: ignore[arg-type]  # same usage and choices

    def chunk(self, call: Call, item: Any) -> bool:
        got = False
        call.model = getattr(item, "model", None) or call.model
        usage = getattr(item, "usage", None)
        if usage is not None:
            call.prompt_tokens = getattr(usage, "prompt_tokens", None)
            call.completion_tokens = getattr(usage, "completion_tokens", None)
            call.total_tokens = getattr(usage, "total_tokens", None)
        for choice in getattr(item, "choices", None) or ():
            text = getattr(choice, "text", None)
            if text:
                call.add_text(getattr(choice, "index", 0) or 0, text)
                got = True
            if getattr(choice, "finish_reason", None):
                call.finish_reason = choice.finish_reason
        return got

    def answer(self, call: Call) -> Optional[str]:
        if call.result is None:
            return super().answer(call)
        texts = [getattr(c, "text", "") or "" for c in getattr(call.result, "choices", None) or []]
        if len(texts) == 1:
            return texts[0]
        return "\n\n".join(f"[choice {i}]\n{t}" for i, t in enumerate(texts))


class Responses(Endpoint):
    """OpenAI Responses API (``client.responses.create``)."""

    name = "responses"

    def prompt(self, kwargs: Dict[str, Any]) -> Any:
        return (kwargs.get("instructions"), snapshot(kwargs.get("input")))

    def render_prompt(self, prompt: Any) -> str:
        instructions, inp = prompt
        return render_messages(inp, system=instructions)

    def _final(self, call: Call, resp: Any) -> None:
        call.model = getattr(resp, "model", None) or call.model
        usage = getattr(resp, "usage", None)
        if usage is not None:
            call.prompt_tokens = getattr(usage, "input_tokens", None)
            call.completion_tokens = getattr(usage, "output_tokens", None)
            call.total_tokens = getattr(usage, "total_tokens", None)
        details = getattr(resp, "incomplete_details", None)
        call.finish_reason = getattr(details, "reason", None) or getattr(resp, "status", None)

    def response(self, call: Call, result: Any) -> None:
        call.result = result
        self._final(call, result)

    def chunk(self, call: Call, item: Any) -> bool:
        kind = getattr(item, "type", "")
        if kind == "response.output_text.delta":
            delta = getattr(item, "delta", "")
            if delta:
                call.add_text(0, delta)
                return True
        elif kind == "response.function_call_arguments.delta":
            return True
        elif kind in ("response.completed", "response.incomplete", "response.failed", "response.created"):
            resp = getattr(item, "response", None)
            if resp is not None:
                self._final(call, resp)
                if kind != "response.created":
                    call.result = resp  # the whole response: the answer reads as a non-streamed one
        return False

    def answer(self, call: Call) -> Optional[str]:
        """Output text, and function calls as ``[tool_call name(arguments)]`` (as chat completions)."""
        if call.result is None:
            return super().answer(call)
        lines = []
        for item in getattr(call.result, "output", None) or ():
            kind = _get(item, "type")
            if kind == "message":
                text = "".join(_get(p, "text", "") or "" for p in _get(item, "content", None) or ()
                               if _get(p, "type") == "output_text")
                if text:
                    lines.append(text)
            elif kind in ("function_call", "custom_tool_call"):
                args = _get(item, "arguments", None)
                args = _get(item, "input", "") if args is None else args
                lines.append(f"[tool_call {_get(item, 'name', '')}({args or ''})]")
        return "\n".join(lines)


class Embeddings(Endpoint):
    """Embeddings: usage and the number / size of the vectors; no answer text."""

    name = "embeddings"
    has_answer = False

    def prompt(self, kwargs: Dict[str, Any]) -> Any:
        return snapshot(kwargs.get("input"))

    def render_prompt(self, prompt: Any) -> str:
        if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
            return "\n".join(f"[input {i}]\n{p}" for i, p in enumerate(prompt))
        return render_messages(prompt)

    def response(self, call: Call, result: Any) -> None:
        call.model = getattr(result, "model", None) or call.model
        usage = getattr(result, "usage", None)
        if usage is not None:
            call.prompt_tokens = getattr(usage, "prompt_tokens", None)
            call.total_tokens = getattr(usage, "total_tokens", None)
        data = getattr(result, "data", None)
        if data:
            call.info["vectors"] = len(data)
            emb = getattr(data[0], "embedding", None)
            if emb is not None:
                try:
                    call.info["dimensions"] = len(emb)
                except TypeError:
                    pass

    def answer(self, call: Call) -> Optional[str]:
        return None

