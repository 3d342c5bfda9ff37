"""ZhipuAI autolog against a local server speaking its chat API (real client, real HTTP)."""

from __future__ import annotations

import json

import pytest
import zhipuai

import seetrain
from seetrain.integration import enable_zhipuai_autolog
from tests.integration.llm_server import answer_for, grep_dir, read_text

API_KEY = "zhipu-test-id.VERYSECRET42"
MSGS = [{"role": "user", "content": "ni hao"}]


pytestmark = pytest.mark.usefixtures("finish_integrations")


@pytest.fixture
def client(server):
    return zhipuai.ZhipuAI(api_key=API_KEY, base_url=server.url + "/zhipu", max_retries=0)


def _exercise(client):
    out = client.chat.completions.create(model="glm-test", messages=MSGS, temperature=0.5, max_tokens=40)
    chunks = [c.model_dump() for c in client.chat.completions.create(model="glm-test", messages=MSGS, stream=True)]
    with pytest.raises(zhipuai.APIInternalError) as info:
        client.chat.completions.create(model="error-500", messages=MSGS)
    return out.model_dump(), chunks, (type(info.value), info.value.status_code)


def test_chat_identical_recorded_no_secrets_and_disable(logdir, client, server):
    from zhipuai.api_resource.chat.completions import Completions

    original = Completions.__dict__["create"]
    off = _exercise(client)
    autolog = enable_zhipuai_autolog(project="llm", experiment_name="glm")
    on = _exercise(client)
    assert on == off
    autolog.disable()
    assert Completions.__dict__["create"] is original
    client.chat.completions.create(model="glm-test", messages=MSGS)  # not recorded
    run_dir = autolog.experiment.dir
    autolog.finish()
    run = seetrain.read_run(run_dir)
    assert run.config["_framework"] == "zhipuai"
    calls = [json.loads(read_text(m)) for m in run.media("zhipuai/call")]
    assert [c["stream"] for c in calls] == [False, True, False]
    assert calls[0]["finish_reason"] == calls[1]["finish_reason"] == "stop"
    assert calls[2]["error"]["status"] == 500 and "APIInternalError" in calls[2]["error"]["type"]
    usage = off[0]["usage"]
    assert run.scalars("zhipuai/tokens/total").values == [usage["total_tokens"]] * 2
    assert run.scalars("zhipuai/params/temperature").values == [0.5]
    assert run.scalars("zhipuai/total/calls").values == [1, 2, 3]
    assert run.scalars("zhipuai/ttft_s").steps == [1]
    assert run.scalars("zhipuai/error/status").values == [500]
    assert [read_text(m) for m in run.media("zhipuai/response")] == [answer_for("ni hao")] * 2
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert grep_dir(run_dir, API_KEY) == [] and grep_dir(run_dir, "Bearer") == []
    assert grep_dir(run_dir, "VERYSECRET") == []


def test_stream_dropped_unread_is_still_recorded(logdir, client):
    import gc

    autolog = enable_zhipuai_autolog(project="llm")
    stream = client.chat.completions.create(model="glm-test", messages=MSGS, stream=True)
    assert next(stream).choices[0].delta.role == "assistant"
    del stream
    gc.collect()
    run_dir = autolog.experiment.dir
    autolog.finish()
    calls = [json.loads(read_text(m)) for m in seetrain.read_run(run_dir).media("zhipuai/call")]
    assert len(calls) == 1 and calls[0]["closed_early"] is True and calls[0]["stream"] is True


def test_finish_through_the_handle_ends_the_integration(logdir):
    from seetrain import integration

    autolog = enable_zhipuai_autolog(project="llm")
    assert [it.adapter for it in integration.active_integrations()][-1] is autolog
    it = integration.active_integrations()[-1]
    assert it.get_autolog() is autolog and it.run is autolog.experiment
    autolog.finish()
    assert it not in integration.active_integrations() and it.finished
    assert autolog.experiment is it.run and seetrain.read_run(it.run.dir).status == "success"
