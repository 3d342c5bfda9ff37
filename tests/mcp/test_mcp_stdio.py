"""`seetrain mcp LOGDIR` over stdio, driven by the mcp SDK's ClientSession: every tool, paging, the
token budget on a million points with a spike, and bad arguments as tool errors."""

from __future__ import annotations

import json

import pytest

import seetrain
from seetrain.mcp.budget import CHARS_PER_TOKEN, DEFAULT_MAX_TOKENS
from seetrain.mcp.server import TOOL_NAMES
from tests._child import run_python

from .conftest import MILLION, SPIKE_STEP, SPIKE_VALUE, answer, error_text, mcp_cmd, run_async, stdio_session


def _runs(logdir, project):
    return {r.name: r for r in seetrain.list_runs(logdir, project=project)}


def test_lists_every_tool_and_each_answers_what_the_runs_hold(mcp_logdir):
    runs = _runs(mcp_logdir, "sweep")
    mid = seetrain.read_run(runs["lr0.01"].path)

    async def go():
        async with stdio_session(mcp_logdir) as s:
            tools = (await s.list_tools()).tools
            assert sorted(t.name for t in tools) == sorted(TOOL_NAMES)
            assert all(t.annotations.read_only_hint for t in tools)
            assert all(t.description for t in tools)

            projects = answer(await s.call_tool("list_projects", {}))["projects"]
            assert {p["name"]: p["runs"] for p in projects} == {"sweep": 3, "big": 1}

            page = answer(await s.call_tool("list_runs", {"project": "sweep", "filter": "opt=adam",
                                                          "sort": "config.lr", "fields": ["name", "config.lr"]}))
            assert page["runs"] == [{"name": "lr0.001", "config.lr": 0.001}, {"name": "lr0.01", "config.lr": 0.01}]

            one = answer(await s.call_tool("get_run", {"run": "lr0.01"}))
            assert one["run"]["uuid"] == mid.uuid and one["config"] == mid.config
            assert one["summary"] == pytest.approx(mid.summary())
            assert one["metric_keys"] == ["loss", "val/acc"]
            assert one["alerts"]["count"] == 1 and one["alerts"]["latest"][0]["title"] == "warmup done"

            h = answer(await s.call_tool("get_metric_history", {"run": mid.uuid, "keys": ["loss"], "points": 100,
                                                                "start": 100, "end": 1099}))["series"][0]
            loss = mid.scalars("loss")
            assert h["total"] == 1000 and h["downsampled"] and len(h["x"]) <= 100
            assert h["x"][0] == 100 and h["x"][-1] == 1099
            assert max(h["y"]) == pytest.approx(loss.values[100]) and min(h["y"]) == pytest.approx(loss.values[1099])

            cmp_ = answer(await s.call_tool("compare_runs", {"runs": ["lr0.1", "lr0.001"]}))
            labels = [r["label"] for r in cmp_["runs"]]
            assert set(cmp_["config_differs"]) == {"lr", "opt", "model.width"}
            assert cmp_["config_same"] == {"model.depth": 4}
            loss_cmp = cmp_["metrics"]["loss"]
            assert loss_cmp["goal"] == "min" and loss_cmp["best_run"] == labels[1]
            assert loss_cmp["runs"][labels[1]]["last"] == pytest.approx(2.0 / 3000 + 0.001)
            assert cmp_["metrics"]["val/acc"]["goal"] == "max" and cmp_["metrics"]["val/acc"]["best_run"] == labels[1]

            sql = answer(await s.call_tool("query_sql", {
                "sql": "SELECT r.name, max(m.value) AS best FROM metrics m JOIN runs r ON r.run = m.run "
                       "WHERE m.key = 'val/acc' AND r.project = 'sweep' GROUP BY r.name ORDER BY best DESC"}))
            assert [row[0] for row in sql["rows"]] == ["lr0.001", "lr0.01", "lr0.1"]

            con = answer(await s.call_tool("tail_console", {"run": "lr0.01", "lines": 2}))
            assert [ln["line"] for ln in con["lines"]] == ["epoch 4 of run 1", "epoch 5 of run 1"]
            after = answer(await s.call_tool("tail_console", {"run": "lr0.01", "after_seq": con["next_after_seq"]}))
            assert after["lines"] == []

            ev = answer(await s.call_tool("get_events", {"run": "lr0.1", "event": "alert"}))
            assert [(e["title"], e["level"]) for e in ev["events"]] == [("warmup done", "info"), ("loss plateau", "warn")]
            later = answer(await s.call_tool("get_events", {"run": "lr0.1", "event": "alert",
                                                             "since": ev["events"][1]["time"]}))
            assert [e["title"] for e in later["events"]] == ["loss plateau"]
            polled = answer(await s.call_tool("get_events", {"run": "lr0.1", "after_seq": ev["next_after_seq"]}))
            assert [e["event"] for e in polled["events"]] == ["finish"]

    run_async(go)


def test_million_points_within_the_token_budget_with_the_spike_kept(mcp_logdir):
    async def go():
        async with stdio_session(mcp_logdir) as s:
            for points in (2000, 20_000):  # 20,000 points do not fit 20k tokens: asked again with fewer
                res = await s.call_tool("get_metric_history", {"run": "million", "keys": "loss", "points": points})
                text = res.content[0].text
                assert not res.is_error, text
                assert len(text) / CHARS_PER_TOKEN <= DEFAULT_MAX_TOKENS
                h = json.loads(text)["series"][0]
                assert h["total"] == MILLION and h["downsampled"] and h["points_used"] <= points
                top = h["y"].index(max(h["y"]))
                assert (h["x"][top], h["y"][top]) == (SPIKE_STEP, SPIKE_VALUE)
                assert max(h["ymax"]) == SPIKE_VALUE
                assert h["x"][0] == 0 and h["x"][-1] == MILLION - 1

    run_async(go)


def test_paging_through_a_long_history_gives_every_point_once(mcp_logdir):
    run = _runs(mcp_logdir, "sweep")["lr0.1"]
    loss = seetrain.read_run(run.path).scalars("loss")

    async def go():
        xs, ys, pages, cursor = [], [], 0, None
        async with stdio_session(mcp_logdir, "--max-tokens", "2000") as s:
            while True:
                args = {"run": run.uuid, "keys": ["loss", "val/acc"], "points": 0}
                if cursor:
                    args["cursor"] = cursor
                res = await s.call_tool("get_metric_history", args)
                assert len(res.content[0].text) <= 2000 * CHARS_PER_TOKEN
                page = answer(res)
                for one in page["series"]:
                    if one["key"] == "loss":
                        assert one["first_index"] == len(xs)
                        xs.extend(one["x"])
                        ys.extend(one["y"])
                pages += 1
                cursor = page["next_cursor"]
                if not cursor:
                    break
        return xs, ys, pages

    xs, ys, pages = run_async(go)
    assert pages > 10
    assert xs == list(range(3000)) and ys == pytest.approx(list(loss.values))


def test_bad_arguments_are_tool_errors_and_the_session_goes_on(mcp_logdir):
    async def go():
        async with stdio_session(mcp_logdir) as s:
            cases = [
                ("get_run", {"run": "no-such-run"}, "no run 'no-such-run'"),
                ("get_metric_history", {"run": "lr0.1", "keys": "los"}, "did you mean 'loss'"),
                ("get_metric_history", {"run": "lr0.1", "keys": "loss", "points": -5}, "points=-5"),
                ("get_metric_history", {"run": "lr0.1", "keys": "loss", "points": "many"}, "points"),
                ("get_metric_history", {"run": "lr0.1", "keys": "loss", "start": 50, "end": 10}, "start=50 is after"),
                ("get_metric_history", {"run": "lr0.1", "keys": "loss", "cursor": "garbage"}, "is not a cursor"),
                ("list_runs", {"filter": "lr >> 1"}, "expected a value"),
                ("list_runs", {"sort": "colour"}, "sort by one of"),
                ("list_runs", {"fields": ["nme"]}, "'nme' is not a run field"),
                ("list_runs", {"limit": 0}, "limit=0"),
                ("get_events", {"run": "lr0.1", "since": "yesterday"}, "is not a time"),
                ("compare_runs", {"runs": ["lr0.1"]}, "2 to 20 runs"),
                ("query_sql", {"sql": "DROP TABLE runs"}, "refused"),
                ("query_sql", {"sql": "SELECT * FROM read_csv('/etc/passwd')"}, "query"),
                ("tail_console", {"run": "lr0.1", "stream": "stdin"}, "stream='stdin'"),
                ("get_run", {}, "run"),
                ("no_such_tool", {}, "Unknown tool"),
                ("get_run", {"run": "lr0.1", "max_tokens": 10 ** 9}, "max_tokens="),
            ]
            for tool, args, expect in cases:
                msg = error_text(await s.call_tool(tool, args))
                assert expect in msg, (tool, args, msg)
            assert answer(await s.call_tool("get_run", {"run": "lr0.1"}))["run"]["name"] == "lr0.1"

    run_async(go)


def test_writes_need_a_server_and_a_key(mcp_logdir):
    done = run_python(mcp_cmd(mcp_logdir, "--allow-writes"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--allow-writes needs a server (--host) and a write API key" in done.stderr
    done = run_python(mcp_cmd(mcp_logdir, "--http", "--bind", "0.0.0.0"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "refusing to bind 0.0.0.0" in done.stderr


def test_query_sql_is_left_out_where_sql_cannot_run(mcp_logdir):
    from seetrain.mcp.server import build
    from seetrain.mcp.source import Source
    from seetrain.mcp.tools import Tools

    async def names(tools):
        return sorted(t.name for t in await build(tools).list_tools())

    with_sql = run_async(names, Tools(Source(logdir=mcp_logdir), sql=True))
    without = run_async(names, Tools(Source(logdir=mcp_logdir), sql=False))
    assert "query_sql" in with_sql and sorted(set(with_sql) - set(without)) == ["query_sql"]
