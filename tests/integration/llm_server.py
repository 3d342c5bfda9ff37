"""A tiny local LLM API server for tests and benchmarks (stdlib only, 127.0.0.1, a free port).

It answers in the wire formats of the OpenAI (chat completions, legacy completions, Responses,
embeddings), Anthropic (messages, also ``/v1/messages?beta=true``) and ZhipuAI (chat completions)
APIs, with server-sent-event streams. Answers are deterministic (fixed ids and timestamps) so that
responses can be compared byte for byte.

The model name steers it: ``"error-429"`` / ``"error-500"`` answer with that HTTP status and the
API's error body; ``"tool-..."`` answers with tool calls (chat: two ``get_weather`` calls;
Responses: one ``function_call``; Anthropic: a ``tool_use`` block), ``"thinking-..."`` (Anthropic)
with a thinking block before the text. Structured output requests (OpenAI ``response_format``,
Anthropic ``output_config.format``) get ``{"answer": ...}`` as JSON text. Every request is kept in
``server.requests`` (path, headers, body).

    with LLMServer() as srv:
        client = openai.OpenAI(api_key="sk-test", base_url=srv.url + "/v1", max_retries=0)
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

CREATED = 1_700_000_000


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    for m in reversed(messages or []):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


def answer_for(prompt: str) -> str:
    """The server's deterministic answer to a prompt."""
    return f"You said: {prompt}. That is all."


def _pieces(text: str) -> List[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


TOOL_CALLS = [("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "get_weather", '{"city": "Rome"}')]
THINKING = "The user greets me. I should answer briefly."


def _halves(text: str) -> List[str]:
    mid = len(text) // 2
    return [text[:mid], text[mid:]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body writes
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # --- plumbing ------------------------------------------------------------------------------
    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", "req_test")
        self.end_headers()
        self.wfile.write(body)

    def _sse(self, events: List[tuple]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = self.server.owner.chunk_delay
        for i, (event, data) in enumerate(events):
            if delay and i:
                time.sleep(delay)
            payload = data if isinstance(data, str) else json.dumps(data)
            text = (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"
            raw = text.encode()
            try:
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.owner.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        model = str(body.get("model", ""))
        path = self.path.split("?")[0]
        if model.startswith("error-"):
            return self._error(path, int(model.split("-")[1]))
        if path == "/v1/chat/completions" or path == "/zhipu/chat/completions":
            return self._chat(body, zhipu=path.startswith("/zhipu"))
        if path == "/v1/responses":
            return self._responses(body)
        if path == "/v1/embeddings":
            return self._embeddings(body)
        if path == "/v1/completions":
            return self._completions(body)
        if path == "/v1/messages":
            return self._anthropic(body)
        self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _error(self, path: str, status: int) -> None:
        if path == "/v1/messages":
            kind = "rate_limit_error" if status == 429 else "api_error"
            return self._json(status, {"type": "error", "error": {"type": kind, "message": f"test error {status}"}})
        if path.startswith("/zhipu"):
            return self._json(status, {"error": {"code": str(1300 + status), "message": f"test error {status}"}})
        self._json(status, {"error": {"message": f"test error {status}", "type": "test_error", "code": str(status)}})

    # --- OpenAI / ZhipuAI chat ---------------------------------------------------------------
    def _chat(self, body: Dict[str, Any], zhipu: bool) -> None:
        prompt = _last_user_text(body.get("messages"))
        text = answer_for(prompt)
        if (body.get("response_format") or {}).get("type") == "json_schema":  # structured output
            text = json.dumps({"answer": text})
        n = int(body.get("n") or 1)
        pt = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []) if isinstance(m, dict))
        ct = _words(text) * n
        usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        model = body["model"]
        if model.startswith("tool-"):
            return self._chat_tools(body, usage)
        if not body.get("stream"):
            choices = [{"index": i, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text}} for i in range(n)]
            out = {"id": "chatcmpl-test", "created": CREATED, "model": model, "choices": choices, "usage": usage}
            if not zhipu:
                out["object"] = "chat.completion"
            else:
                out["request_id"] = "req-test"
            return self._json(200, out)
        base = {"id": "chatcmpl-test", "created": CREATED, "model": model}
        if not zhipu:
            base["object"] = "chat.completion.chunk"
        events: List[tuple] = [(None, dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                            "finish_reason": None}]))]
        for piece in _pieces(text):
            events.append((None, dict(base, choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}])))
        last = dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if zhipu:
            last["usage"] = usage
        events.append((None, last))
        if not zhipu and (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, dict(base, choices=[], usage=usage)))
        events.append((None, "[DONE]"))
        self._sse(events)

    def _chat_tools(self, body: Dict[str, Any], usage: Dict[str, int]) -> None:
        base = {"id": "chatcmpl-test", "created": CREATED, "model": body["model"], "object": "chat.completion"}
        calls = [{"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                 for cid, name, args in TOOL_CALLS]
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": calls}
            return self._json(200, dict(base, usage=usage, choices=[{"index": 0, "finish_reason": "tool_calls",
                                                                       "message": message}]))
        base["object"] = "chat.completion.chunk"

        def delta(d: Dict[str, Any], reason: Optional[str] = None) -> tuple:
            return (None, dict(base, choices=[{"index": 0, "delta": d, "finish_reason": reason}]))

        events = [delta({"role": "assistant", "content": None})]
        for i, (cid, name, args) in enumerate(TOOL_CALLS):  # as OpenAI streams them: name first, then arguments
            events.append(delta({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                                 "function": {"name": name, "arguments": ""}}]}))
            for piece in _halves(args):
                events.append(delta({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        events += [delta({}, "tool_calls"), (None, "[DONE]")]
        self._sse(events)

    # --- OpenAI legacy completions -------------------------------------------------------------
    def _completions(self, body: Dict[str, Any]) -> None:
        prompt = body.get("prompt")
        prompt = prompt[0] if isinstance(prompt, list) else str(prompt)
        text = answer_for(prompt)
        pt, ct = _words(prompt), _words(text)
        base = {"id": "cmpl-test", "object": "text_completion", "created": CREATED, "model": body["model"]}
        if not body.get("stream"):
            return self._json(200, dict(base, choices=[{"index": 0, "text": text, "finish_reason": "stop",
                                                         "logprobs": None}],
                                        usage={"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}))
        events: List[tuple] = [(None, dict(base, choices=[{"index": 0, "text": piece, "finish_reason": None,
                                                            "logprobs": None}])) for piece in _pieces(text)]
        events += [(None, dict(base, choices=[{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}])),
                   (None, "[DONE]")]
        self._sse(events)

    # --- OpenAI Responses --------------------------------------------------------------------
    def _responses(self, body: Dict[str, Any]) -> None:
        inp = body.get("input")
        prompt = inp if isinstance(inp, str) else _last_user_text(inp)
        text = answer_for(prompt)
        pt, ct = _words(prompt) + _words(str(body.get("instructions") or "")), _words(text)
        def resp(status: str, output: list, usage: Optional[dict]) -> Dict[str, Any]:
            return {"id": "resp_test", "object": "response", "created_at": CREATED, "status": status,
                    "model": body["model"], "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
                    "tools": [], "usage": usage, "incomplete_details": None, "error": None,
                    "instructions": body.get("instructions"), "metadata": {}, "temperature": body.get("temperature"),
                    "top_p": None}
        msg = {"id": "msg_test", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
        usage = {"input_tokens": pt, "output_tokens": ct, "total_tokens": pt + ct,
                 "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        if body["model"].startswith("tool-"):
            cid, name, args = TOOL_CALLS[0]
            item = {"type": "function_call", "id": "fc_1", "call_id": cid, "name": name, "arguments": args,
                    "status": "completed"}
            if not body.get("stream"):
                return self._json(200, resp("completed", [item], usage))
            events = [("response.created", {"type": "response.created", "sequence_number": 0,
                                            "response": resp("in_progress", [], None)}),
                      ("response.output_item.added", {"type": "response.output_item.added", "sequence_number": 1,
                                                      "output_index": 0, "item": dict(item, arguments="",
                                                                                      status="in_progress")})]
            for piece in _halves(args):
                events.append(("response.function_call_arguments.delta", {
                    "type": "response.function_call_arguments.delta", "sequence_number": len(events),
                    "item_id": "fc_1", "output_index": 0, "delta": piece}))
            events.append(("response.completed", {"type": "response.completed", "sequence_number": len(events),
                                                  "response": resp("completed", [item], usage)}))
            return self._sse(events)
        if not body.get("stream"):
            return self._json(200, resp("completed", [msg], usage))
        events: List[tuple] = [("response.created", {"type": "response.created", "sequence_number": 0,
                                                     "response": resp("in_progress", [], None)})]
        for i, piece in enumerate(_pieces(text)):
            events.append(("response.output_text.delta", {"type": "response.output_text.delta", "delta": piece,
                                                          "item_id": "msg_test", "output_index": 0,
                                                          "content_index": 0, "sequence_number": i + 1,
                                                          "logprobs": []}))
        events.append(("response.completed", {"type": "response.completed", "sequence_number": len(events),
                                              "response": resp("completed", [msg], usage)}))
        self._sse(events)

    def _embeddings(self, body: Dict[str, Any]) -> None:
        inp = body.get("input")
        items = [inp] if isinstance(inp, str) else list(inp)
        dims = int(body.get("dimensions") or 8)
        data = [{"object": "embedding", "index": i, "embedding": [round((i + 1) * 0.01 * (j + 1), 4) for j in range(dims)]}
                for i in range(len(items))]
        pt = sum(_words(str(x)) for x in items)
        self._json(200, {"object": "list", "model": body["model"], "data": data,
                         "usage": {"prompt_tokens": pt, "total_tokens": pt}})

    # --- Anthropic ---------------------------------------------------------------------------
    def _anthropic(self, body: Dict[str, Any]) -> None:
        prompt = _last_user_text(body.get("messages"))
        text = answer_for(prompt)
        if ((body.get("output_config") or {}).get("format") or {}).get("type") == "json_schema":
            text = json.dumps({"answer": text})  # structured output (messages.parse)
        system = body.get("system") or ""
        pt = sum(_words(str(m.get("content", ""))) for m in body.get("messages", [])) + (_words(system) if system else 0)
        ct = _words(text)
        model = body["model"]
        blocks: List[Dict[str, Any]] = [{"type": "text", "text": text}]
        if model.startswith("thinking-"):
            blocks.insert(0, {"type": "thinking", "thinking": THINKING, "signature": "sig-test"})
        if model.startswith("tool-"):
            blocks.append({"type": "tool_use", "id": "toolu_1", "name": TOOL_CALLS[0][1],
                           "input": json.loads(TOOL_CALLS[0][2])})
        stop = "tool_use" if model.startswith("tool-") else "end_turn"
        if not body.get("stream"):
            return self._json(200, {"id": "msg_test", "type": "message", "role": "assistant", "model": model,
                                    "content": blocks, "stop_reason": stop,
                                    "stop_sequence": None, "usage": {"input_tokens": pt, "output_tokens": ct}})
        start = {"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant",
                                                      "model": model, "content": [], "stop_reason": None,
                                                      "stop_sequence": None,
                                                      "usage": {"input_tokens": pt, "output_tokens": 1}}}
        events: List[tuple] = [("message_start", start), ("ping", {"type": "ping"})]
        for index, block in enumerate(blocks):
            kind = block["type"]
            empty = {"thinking": {"type": "thinking", "thinking": "", "signature": ""},
                     "text": {"type": "text", "text": ""}}.get(kind, dict(block, input={}))
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": empty}))
            if kind == "thinking":
                deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(THINKING)]
                deltas.append({"type": "signature_delta", "signature": "sig-test"})
            elif kind == "text":
                deltas = [{"type": "text_delta", "text": p} for p in _pieces(text)]
            else:
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in _halves(TOOL_CALLS[0][2])]
            for d in deltas:
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": ct}}),
                   ("message_stop", {"type": "message_stop"})]
        self._sse(events)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "LLMServer"


class LLMServer:
    """The server on 127.0.0.1 (a free port) in a background thread; ``url`` is its base URL."""

    def __init__(self, chunk_delay: float = 0.0) -> None:
        self.chunk_delay = chunk_delay
        self.requests: List[Dict[str, Any]] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llm-test-server", daemon=True)

    def start(self) -> "LLMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def grep_dir(path: str, needle: str) -> List[str]:
    """Files under ``path`` whose bytes contain ``needle`` (case-sensitive)."""
    import os

    hits = []
    raw = needle.encode()
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                if raw in f.read():
                    hits.append(full)
    return hits


def read_text(item: Dict[str, Any]) -> str:
    """The content of a text media item from ``RunReader.media(key)``."""
    with open(item["path"], encoding="utf-8") as f:
        return f.read()


if __name__ == "__main__":  # python tests/integration/llm_server.py: serve until killed, print the URL
    import sys

    srv = LLMServer(chunk_delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
    print(srv.url, flush=True)
    try:
        srv._httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
