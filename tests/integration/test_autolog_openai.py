"""OpenAI autolog against a local server speaking the OpenAI wire format (real client, real HTTP)."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

import seetrain
from seetrain.integration import enable_openai_autolog
from tests.integration.llm_server import answer_for, grep_dir, read_text

API_KEY = "sk-test-VERYSECRET-1234567890"
MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


pytestmark = pytest.mark.usefixtures("finish_integrations")


@pytest.fixture
def client(server):
    with openai.OpenAI(api_key=API_KEY, base_url=server.url + "/v1", max_retries=0) as c:
        yield c


def _calls(run):
    return [json.loads(read_text(m)) for m in run.media("openai/call")]


def _exercise(client):
    """A chat call, a stream (with usage) and an error, returning what the user saw."""
    chat = client.chat.completions.create(model="gpt-test", messages=MSGS, temperature=0.3, max_tokens=50)
    chunks = [c.model_dump() for c in client.chat.completions.create(
        model="gpt-test", messages=MSGS, stream=True, stream_options={"include_usage": True})]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="error-429", messages=MSGS)
    return chat.model_dump(), chunks, (type(info.value), info.value.status_code, str(info.value))


def test_chat_identical_recorded_and_no_secrets(logdir, client, server):
    off = _exercise(client)
    autolog = enable_openai_autolog(project="llm", experiment_name="chat")
    on = _exercise(client)
    assert on == off
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    assert run.status == "success" and run.config["_framework"] == "openai"
    assert run.scalars("openai/total/calls").values == [1, 2, 3]
    assert run.scalars("openai/total/errors").values == [0, 0, 1]
    assert run.scalars("openai/tokens/prompt").values == [off[0]["usage"]["prompt_tokens"]] * 2
    assert run.scalars("openai/tokens/total").values == [off[0]["usage"]["total_tokens"]] * 2
    assert run.scalars("openai/total/tokens").values[-1] == 2 * off[0]["usage"]["total_tokens"]
    assert run.scalars("openai/params/temperature").values == [0.3]
    assert run.scalars("openai/params/max_tokens").values == [50]
    assert run.scalars("openai/error/status").values == [429]
    lat = run.scalars("openai/latency_s")
    assert lat.steps == [0, 1, 2] and all(0 < v < 10 for v in lat.values)
    ttft = run.scalars("openai/ttft_s")
    assert ttft.steps == [1] and 0 < ttft.values[0] <= lat.values[1]
    calls = _calls(run)
    assert [c["endpoint"] for c in calls] == ["chat.completions"] * 3
    assert calls[0]["model"] == "gpt-test" and calls[0]["finish_reason"] == "stop" and calls[0]["stream"] is False
    assert calls[1]["stream"] is True and calls[1]["finish_reason"] == "stop"
    assert calls[2]["error"]["status"] == 429 and "RateLimitError" in calls[2]["error"]["type"]
    expected = answer_for("hello there")
    assert [read_text(m) for m in run.media("openai/response")] == [expected, expected]
    assert read_text(run.media("openai/messages")[0]) == "[system]\nbe brief\n\n[user]\nhello there"
    # the key really went over the wire, and nowhere into the run
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert grep_dir(run_dir, API_KEY) == [] and grep_dir(run_dir, "Bearer") == []


def test_secret_looking_params_and_text_are_redacted(logdir, client):
    autolog = enable_openai_autolog(project="llm")
    leaked = "sk-live-abcdefghijklmnop1234"
    client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": f"my key is {leaked}"}],
                                   metadata={"password": "hunter2-pw", "team": "nlp"}, user="u1",
                                   extra_headers={"X-Api-Key": "hdr-secret-value"})
    run_dir = autolog.experiment.dir
    autolog.finish()
    call = _calls(seetrain.read_run(run_dir))[0]
    assert call["params"]["metadata"] == {"password": "[redacted]", "team": "nlp"}
    for secret in (leaked, "hunter2-pw", "hdr-secret-value", API_KEY, "Bearer"):
        assert grep_dir(run_dir, secret) == [], secret


def test_stream_closed_early_is_recorded(logdir, client):
    autolog = enable_openai_autolog(project="llm")
    stream = client.chat.completions.create(model="gpt-test", messages=MSGS, stream=True)
    assert type(stream) is openai.Stream
    with stream:
        first = [next(stream) for _ in range(3)]
    assert first[1].choices[0].delta.content == "You "
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    call = _calls(run)[0]
    assert call["closed_early"] is True and call["stream"] is True
    assert read_text(run.media("openai/response")[0]) == "You said: "
    assert run.scalars("openai/ttft_s").steps == [0]


def test_async_chat_and_stream(logdir, server):
    async def go():
        async with openai.AsyncOpenAI(api_key=API_KEY, base_url=server.url + "/v1", max_retries=0) as c:
            chat = await c.chat.completions.create(model="gpt-async", messages=MSGS)
            stream = await c.chat.completions.create(model="gpt-async", messages=MSGS, stream=True,
                                                     stream_options={"include_usage": True})
            chunks = [x.model_dump() async for x in stream]
            early = await c.chat.completions.create(model="gpt-async", messages=MSGS, stream=True)
            async with early:
                await early.__anext__()
            with pytest.raises(openai.InternalServerError):
                await c.chat.completions.create(model="error-500", messages=MSGS)
            return chat.model_dump(), chunks

    off = asyncio.run(go())
    autolog = enable_openai_autolog(project="llm")
    on = asyncio.run(go())
    assert on == off
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    calls = _calls(run)
    assert [c["stream"] for c in calls] == [False, True, True, False]
    assert calls[2].get("closed_early") is True
    assert calls[3]["error"]["status"] == 500
    assert run.scalars("openai/error/status").values == [500]
    assert run.scalars("openai/tokens/completion").steps == [0, 1]
    assert [read_text(m) for m in run.media("openai/response")][:2] == [answer_for("hello there")] * 2


def test_responses_and_embeddings(logdir, client):
    off = (client.responses.create(model="gpt-r", input="tell me", instructions="be kind").model_dump(),
           [e.model_dump() for e in client.responses.create(model="gpt-r", input="tell me", stream=True)],
           client.embeddings.create(model="emb-test", input=["one two", "three"], dimensions=4).model_dump())
    autolog = enable_openai_autolog(project="llm")
    on = (client.responses.create(model="gpt-r", input="tell me", instructions="be kind").model_dump(),
          [e.model_dump() for e in client.responses.create(model="gpt-r", input="tell me", stream=True)],
          client.embeddings.create(model="emb-test", input=["one two", "three"], dimensions=4).model_dump())
    assert on == off
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    calls = _calls(run)
    assert [c["endpoint"] for c in calls] == ["responses", "responses", "embeddings"]
    assert calls[0]["finish_reason"] == "completed" and calls[1]["stream"] is True
    assert calls[2]["vectors"] == 2 and calls[2]["dimensions"] == 4
    streamed = off[1][-1]["response"]["usage"]
    assert run.scalars("openai/tokens/prompt").values == [off[0]["usage"]["input_tokens"], streamed["input_tokens"],
                                                         off[2]["usage"]["prompt_tokens"]]
    assert run.scalars("openai/tokens/completion").steps == [0, 1]
    texts = [read_text(m) for m in run.media("openai/response")]
    assert texts == [answer_for("tell me")] * 2
    assert read_text(run.media("openai/messages")[0]) == "[system]\nbe kind\n\n[user]\ntell me"
    assert read_text(run.media("openai/messages")[2]) == "[input 0]\none two\n[input 1]\nthree"


def test_logs_into_the_active_run_and_disable_leaves_no_trace(logdir, client):
    from openai.resources.chat.completions import Completions

    original = Completions.__dict__["create"]
    user_run = seetrain.init(project="mine")
    autolog = enable_openai_autolog()
    assert autolog.experiment is user_run
    client.chat.completions.create(model="gpt-test", messages=MSGS)
    autolog.disable()
    assert Completions.__dict__["create"] is original
    client.chat.completions.create(model="gpt-test", messages=MSGS)
    autolog.finish()
    assert not user_run.finished  # the user's run is the user's to finish
    user_run.finish()
    run = seetrain.read_run(user_run.dir)
    assert run.scalars("openai/total/calls").values == [1]
    assert len(run.media("openai/call")) == 1


def test_log_messages_off_and_truncation(logdir, client):
    autolog = enable_openai_autolog(project="llm", log_messages=False)
    client.chat.completions.create(model="gpt-test", messages=MSGS)
    off_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(off_dir)
    assert "openai/messages" not in run.keys() and "openai/response" not in run.keys()
    assert grep_dir(off_dir, "hello there") == []
    assert run.scalars("openai/tokens/total").values

    autolog = enable_openai_autolog(project="llm", max_text_chars=12)
    client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x" * 500}])
    cut_dir = autolog.experiment.dir
    autolog.finish()
    text = read_text(seetrain.read_run(cut_dir).media("openai/messages")[0])
    assert text.startswith("[user]\nxxxxx") and "truncated" in text and len(text) < 120
    with pytest.raises(ValueError, match="max_text_chars"):
        enable_openai_autolog(project="llm", max_text_chars=-1)


def test_bug_in_recording_never_reaches_the_caller(logdir, client, monkeypatch, shielded):
    from seetrain.integration.autolog import _formats
    from seetrain.resilience import get_integration_error_stats, reset_integration_error_stats

    def broken(self, call, result):
        raise KeyError("simulated bug in SeeTrain")

    reset_integration_error_stats()
    expected = client.chat.completions.create(model="gpt-test", messages=MSGS).model_dump()
    autolog = enable_openai_autolog(project="llm")
    monkeypatch.setattr(_formats.ChatCompletions, "response", broken)
    monkeypatch.setattr(_formats.ChatCompletions, "chunk", broken)
    with pytest.warns(seetrain.SeeTrainWarning, match="simulated bug"):
        got = [client.chat.completions.create(model="gpt-test", messages=MSGS).model_dump() for _ in range(2)]
    chunks = list(client.chat.completions.create(model="gpt-test", messages=MSGS, stream=True))
    autolog.finish()
    assert got == [expected, expected]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer_for("hello there")
    assert get_integration_error_stats()["autolog.openai"]["failures"] >= 3


def test_version_outside_tested_range_warns_and_finish_is_final(logdir):
    from seetrain.integration.autolog.openai import OpenAIAutolog

    class OldRange(OpenAIAutolog):
        tested_versions = ">=0.1,<0.2"

    with pytest.warns(seetrain.SeeTrainWarning, match=r"outside the versions .* tested with \(>=0.1,<0.2\)"):
        autolog = OldRange(project="llm")
    autolog.finish()
    with pytest.raises(RuntimeError, match="finished"):
        autolog.enable()


def test_structured_parse_and_stream_helper(logdir, client):
    import pydantic

    class Answer(pydantic.BaseModel):
        answer: str

    autolog = enable_openai_autolog(project="llm")
    parsed = client.chat.completions.parse(model="gpt-test", messages=MSGS, response_format=Answer)
    assert parsed.choices[0].message.parsed == Answer(answer=answer_for("hello there"))
    with client.chat.completions.stream(model="gpt-test", messages=MSGS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == answer_for("hello there")
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    calls = _calls(run)
    assert [c["stream"] for c in calls] == [False, True]
    assert "response_format" not in calls[0]["params"]
    assert json.loads(read_text(run.media("openai/response")[0])) == {"answer": answer_for("hello there")}
    assert read_text(run.media("openai/response")[1]) == answer_for("hello there")
