"""What autolog stores for the less common API shapes, streamed and not, with real clients over HTTP:
Anthropic structured outputs (messages.parse), client.beta.messages, extended thinking and tool use;
OpenAI legacy completions, Responses API function calls and streamed chat tool calls."""

from __future__ import annotations

import json

import anthropic
import openai
import pydantic
import pytest

import seetrain
from seetrain.integration import enable_anthropic_autolog, enable_openai_autolog
from tests.integration.llm_server import THINKING, TOOL_CALLS, answer_for, read_text

MSGS = [{"role": "user", "content": "hello claude"}]
CHAT = [{"role": "user", "content": "weather?"}]

pytestmark = pytest.mark.usefixtures("finish_integrations")


class Answer(pydantic.BaseModel):
    answer: str


@pytest.fixture
def claude(server):
    with anthropic.Anthropic(api_key="sk-ant-test", base_url=server.url, max_retries=0) as c:
        yield c


@pytest.fixture
def oai(server):
    with openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0) as c:
        yield c


def _texts(run, key):
    return [read_text(m) for m in run.media(key)]


def _record(autolog, calls):
    """Run ``calls`` with autolog on; return the run."""
    for call in calls:
        call()
    run_dir = autolog.experiment.dir
    autolog.finish()
    return seetrain.read_run(run_dir)


# --- Anthropic --------------------------------------------------------------------------------
def test_messages_parse_is_recorded_with_its_structured_answer(logdir, claude):
    autolog = enable_anthropic_autolog(project="llm", experiment_name="parse")
    parsed = claude.messages.parse(model="claude-test", max_tokens=64, messages=MSGS, output_format=Answer)
    run = _record(autolog, [])
    assert parsed.parsed_output == Answer(answer=answer_for("hello claude"))
    (call,) = [json.loads(t) for t in _texts(run, "anthropic/call")]
    assert call["endpoint"] == "messages" and call["finish_reason"] == "end_turn"
    assert json.loads(_texts(run, "anthropic/response")[0]) == {"answer": answer_for("hello claude")}


def test_beta_messages_create_stream_and_parse_are_recorded(logdir, claude):
    autolog = enable_anthropic_autolog(project="llm", experiment_name="beta")

    def stream():
        with claude.beta.messages.stream(model="claude-test", max_tokens=64, messages=MSGS) as s:
            return s.get_final_message()

    run = _record(autolog, [
        lambda: claude.beta.messages.create(model="claude-test", max_tokens=64, messages=MSGS),
        stream,
        lambda: claude.beta.messages.parse(model="claude-test", max_tokens=64, messages=MSGS, output_format=Answer),
    ])
    calls = [json.loads(t) for t in _texts(run, "anthropic/call")]
    assert [c["stream"] for c in calls] == [False, True, False]
    answers = _texts(run, "anthropic/response")
    assert answers[:2] == [answer_for("hello claude")] * 2 and json.loads(answers[2])["answer"] == answers[0]


@pytest.mark.parametrize("model", ["thinking-test", "tool-test"])
def test_thinking_and_tool_use_read_the_same_streamed_or_not(logdir, claude, model):
    autolog = enable_anthropic_autolog(project="llm", experiment_name=model)

    def streamed():
        with claude.messages.stream(model=model, max_tokens=64, messages=MSGS) as s:
            list(s.text_stream)

    run = _record(autolog, [
        lambda: claude.messages.create(model=model, max_tokens=64, messages=MSGS),
        lambda: list(claude.messages.create(model=model, max_tokens=64, messages=MSGS, stream=True)),
        streamed,
    ])
    answers = _texts(run, "anthropic/response")
    expected = answer_for("hello claude")
    if model.startswith("tool"):
        expected += "\n[tool_use get_weather(" + json.dumps(json.loads(TOOL_CALLS[0][2])) + ")]"
    assert answers == [expected] * 3
    if model.startswith("thinking"):
        assert _texts(run, "anthropic/thinking") == [THINKING] * 3  # the text, apart from the answer
    else:
        assert run.media("anthropic/thinking") == []


# --- OpenAI -----------------------------------------------------------------------------------
def test_legacy_completions_are_recorded(logdir, oai):
    autolog = enable_openai_autolog(project="llm", experiment_name="completions")
    plain = oai.completions.create(model="davinci-test", prompt="say hi", max_tokens=16, temperature=0.5)
    run = _record(autolog, [lambda: list(oai.completions.create(model="davinci-test", prompt="say hi", stream=True))])
    assert plain.choices[0].text == answer_for("say hi")
    calls = [json.loads(t) for t in _texts(run, "openai/call")]
    assert [(c["endpoint"], c["stream"]) for c in calls] == [("completions", False), ("completions", True)]
    assert _texts(run, "openai/response") == [answer_for("say hi")] * 2
    assert _texts(run, "openai/messages") == ["say hi"] * 2
    assert run.scalars("openai/tokens/total").values == [plain.usage.total_tokens]
    assert run.scalars("openai/params/temperature").values == [0.5]


def test_responses_function_calls_are_stored_with_the_call(logdir, oai):
    autolog = enable_openai_autolog(project="llm", experiment_name="responses-tools")
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    run = _record(autolog, [
        lambda: oai.responses.create(model="tool-test", input="weather?", tools=tools),
        lambda: list(oai.responses.create(model="tool-test", input="weather?", tools=tools, stream=True)),
    ])
    _, name, args = TOOL_CALLS[0]
    assert _texts(run, "openai/response") == [f"[tool_call {name}({args})]"] * 2


def test_streamed_chat_tool_calls_are_assembled_like_the_non_streamed_form(logdir, oai):
    autolog = enable_openai_autolog(project="llm", experiment_name="chat-tools")
    run = _record(autolog, [
        lambda: oai.chat.completions.create(model="tool-test", messages=CHAT),
        lambda: list(oai.chat.completions.create(model="tool-test", messages=CHAT, stream=True)),
    ])
    expected = "\n".join(f"[tool_call {name}({args})]" for _, name, args in TOOL_CALLS)
    assert _texts(run, "openai/response") == [expected] * 2
    assert [json.loads(t)["finish_reason"] for t in _texts(run, "openai/call")] == ["tool_calls"] * 2
