"""Anthropic autolog against a local server speaking the Messages API (real client, real HTTP)."""

from __future__ import annotations

import asyncio
import json

import anthropic
import pytest

import seetrain
from seetrain.integration import enable_anthropic_autolog
from tests.integration.llm_server import answer_for, grep_dir, read_text

API_KEY = "sk-ant-test-VERYSECRET-987654321"
MSGS = [{"role": "user", "content": "hello claude"}]


pytestmark = pytest.mark.usefixtures("finish_integrations")


@pytest.fixture
def client(server):
    with anthropic.Anthropic(api_key=API_KEY, base_url=server.url, max_retries=0) as c:
        yield c


def _calls(run):
    return [json.loads(read_text(m)) for m in run.media("anthropic/call")]


def _exercise(client):
    msg = client.messages.create(model="claude-test", max_tokens=64, system="be brief", messages=MSGS,
                                 stop_sequences=["END"])
    events = [e.model_dump() for e in client.messages.create(model="claude-test", max_tokens=64, messages=MSGS,
                                                             stream=True)]
    with client.messages.stream(model="claude-test", max_tokens=64, messages=MSGS) as stream:
        helper = (list(stream.text_stream), stream.get_final_message().model_dump())
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="error-429", max_tokens=8, messages=MSGS)
    return msg.model_dump(), events, helper, (type(info.value), info.value.status_code, str(info.value))


def test_messages_identical_recorded_and_no_secrets(logdir, client, server):
    off = _exercise(client)
    autolog = enable_anthropic_autolog(project="llm", experiment_name="claude")
    on = _exercise(client)
    assert on == off
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    assert run.config["_framework"] == "anthropic"
    calls = _calls(run)
    assert [c["stream"] for c in calls] == [False, True, True, False]
    assert [c.get("finish_reason") for c in calls[:3]] == ["end_turn"] * 3
    assert calls[3]["error"]["status"] == 429 and "RateLimitError" in calls[3]["error"]["type"]
    usage = off[0]["usage"]
    assert run.scalars("anthropic/tokens/prompt").values[0] == usage["input_tokens"]
    assert run.scalars("anthropic/tokens/completion").values == [usage["output_tokens"]] * 3
    assert run.scalars("anthropic/tokens/total").values[0] == usage["input_tokens"] + usage["output_tokens"]
    assert calls[0]["params"] == {"max_tokens": 64, "stop_sequences": ["END"]}
    assert run.scalars("anthropic/params/max_tokens").steps == [0, 1, 2, 3]
    assert run.scalars("anthropic/ttft_s").steps == [1, 2]
    assert run.scalars("anthropic/total/errors").values == [0, 0, 0, 1]
    assert run.scalars("anthropic/error/status").values == [429]
    assert [read_text(m) for m in run.media("anthropic/response")] == [answer_for("hello claude")] * 3
    assert read_text(run.media("anthropic/messages")[0]) == "[system]\nbe brief\n\n[user]\nhello claude"
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert grep_dir(run_dir, API_KEY) == [] and grep_dir(run_dir, "Bearer") == []


def test_async_create_stream_and_helper(logdir, server):
    async def go():
        async with anthropic.AsyncAnthropic(api_key=API_KEY, base_url=server.url, max_retries=0) as c:
            msg = await c.messages.create(model="claude-async", max_tokens=32, messages=MSGS)
            stream = await c.messages.create(model="claude-async", max_tokens=32, messages=MSGS, stream=True)
            events = [e.model_dump() async for e in stream]
            async with c.messages.stream(model="claude-async", max_tokens=32, messages=MSGS) as s:
                text = await s.get_final_text()
            with pytest.raises(anthropic.InternalServerError):
                await c.messages.create(model="error-500", max_tokens=8, messages=MSGS)
            return msg.model_dump(), events, text

    off = asyncio.run(go())
    autolog = enable_anthropic_autolog(project="llm")
    on = asyncio.run(go())
    assert on == off
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    calls = _calls(run)
    assert [c["model"] for c in calls] == ["claude-async"] * 3 + ["error-500"]
    assert [c["stream"] for c in calls] == [False, True, True, False]
    assert calls[3]["error"]["status"] == 500
    assert [read_text(m) for m in run.media("anthropic/response")] == [answer_for("hello claude")] * 3


def test_stream_closed_early_and_disable(logdir, client):
    from anthropic.resources.messages import Messages

    originals = {n: Messages.__dict__[n] for n in ("create", "stream")}
    autolog = enable_anthropic_autolog(project="llm")
    stream = client.messages.create(model="claude-test", max_tokens=64, messages=MSGS, stream=True)
    assert type(stream) is anthropic.Stream
    with stream:
        kinds = [next(stream).type for _ in range(3)]
    assert kinds == ["message_start", "content_block_start", "content_block_delta"]
    autolog.disable()
    assert all(Messages.__dict__[n] is o for n, o in originals.items())
    client.messages.create(model="claude-test", max_tokens=64, messages=MSGS)
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    calls = _calls(run)
    assert len(calls) == 1 and calls[0]["closed_early"] is True
    assert read_text(run.media("anthropic/response")[0]) == "You "
