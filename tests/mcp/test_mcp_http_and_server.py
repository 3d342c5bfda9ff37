"""`seetrain mcp --http` (streamable HTTP on loopback, a real subprocess) with the mcp SDK's client,
and `seetrain mcp --host URL --api-key K` against a real `seetrain server` (its own downsampling)."""

from __future__ import annotations

import pytest

import seetrain
from seetrain.sender import Client, RunSync
from seetrain.mcp.server import TOOL_NAMES
from tests.server.conftest import ServerProc

from .conftest import HttpMCP, answer, error_text, http_session, run_async, stdio_session


@pytest.fixture(scope="module")
def http_mcp(mcp_logdir):
    server = HttpMCP(mcp_logdir)
    yield server
    server.stop()


def test_streamable_http_lists_tools_pages_runs_and_polls_alerts(http_mcp):
    async def go():
        async with http_session(http_mcp.url) as s:
            assert sorted(t.name for t in (await s.list_tools()).tools) == sorted(TOOL_NAMES)
            names, cursor = [], None
            while True:
                args = {"project": "sweep", "limit": 1, "sort": "name", "fields": ["name"]}
                if cursor:
                    args["cursor"] = cursor
                page = answer(await s.call_tool("list_runs", args))
                assert page["total"] == 3 and page["count"] == 1
                names += [r["name"] for r in page["runs"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert names == ["lr0.001", "lr0.01", "lr0.1"]
            first = answer(await s.call_tool("get_events", {"run": "lr0.1", "event": "alert", "limit": 1}))
            assert [e["title"] for e in first["events"]] == ["warmup done"] and first["more"]
            rest = answer(await s.call_tool("get_events", {"run": "lr0.1", "event": "alert",
                                                            "after_seq": first["next_after_seq"]}))
            assert [e["title"] for e in rest["events"]] == ["loss plateau"] and not rest["more"]
            assert "did you mean 'loss'" in error_text(await s.call_tool("get_metric_history",
                                                                         {"run": "lr0.1", "keys": "los"}))

    run_async(go)


def test_against_a_server_with_an_api_key(tmp_path):
    key = "st-admin-" + "k" * 32
    server = ServerProc(str(tmp_path / "db.sqlite"), str(tmp_path / "blobs"), api_key=key).start()
    try:
        run = seetrain.init(project="remote", experiment_name="spiky", logdir=str(tmp_path / "logs"),
                            system_metrics=False, config={"lr": 0.1})
        for step in range(50_000):
            seetrain.log({"loss": 9.5 if step == 31_337 else 1.0 + (step % 10) * 0.01})
        print("training done", flush=True)
        run.alert("spike", "loss=9.5", level="error")
        seetrain.finish()
        RunSync(run.dir, Client(server.url, key)).drain()
        alert_time = next(e["time"] for e in seetrain.read_run(run.dir).events if e["event"] == "alert")

        async def go():
            async with stdio_session("--host", server.url, "--api-key", key) as s:
                projects = answer(await s.call_tool("list_projects", {}))
                assert [p["name"] for p in projects["projects"]] == ["remote"] and projects["source"] == server.url
                page = answer(await s.call_tool("list_runs", {"filter": "lr>0.05", "fields": ["name", "config.lr"]}))
                assert page["runs"] == [{"name": "spiky", "config.lr": 0.1}] and page["next_cursor"] is None
                assert answer(await s.call_tool("list_runs", {"filter": "lr>0.5"}))["runs"] == []
                con = answer(await s.call_tool("tail_console", {"run": "spiky", "lines": 1}))
                assert [ln["line"] for ln in con["lines"]] == ["training done"]
                one = answer(await s.call_tool("get_run", {"run": run.uuid}))
                assert one["config"] == {"lr": 0.1} and one["alerts"]["count"] == 1
                h = answer(await s.call_tool("get_metric_history", {"run": "spiky", "keys": "loss", "points": 200}))
                h = h["series"][0]
                assert h["total"] == 50_000 and h["downsampled"] and len(h["x"]) <= 200
                top = h["y"].index(max(h["y"]))
                assert (h["x"][top], h["y"][top]) == (31_337, 9.5)
                zoom = answer(await s.call_tool("get_metric_history", {"run": "spiky", "keys": "loss", "points": 200,
                                                                       "start": 31_330, "end": 31_340}))["series"][0]
                assert zoom["x"] == list(range(31_330, 31_341)) and not zoom["downsampled"]
                ev = answer(await s.call_tool("get_events", {"run": run.uuid, "event": "alert", "since": alert_time}))
                assert [(e["title"], e["level"]) for e in ev["events"]] == [("spike", "error")]
                none = answer(await s.call_tool("get_events", {"run": run.uuid, "since": alert_time + 3600}))
                assert none["events"] == []
            async with stdio_session("--host", server.url, "--api-key", "wrong-key") as s:
                msg = error_text(await s.call_tool("list_projects", {}))
                assert "401" in msg or "API key" in msg, msg

        run_async(go)
    finally:
        server.stop()
