"""The API the dashboard uses, against a real `seetrain ui` process over real run directories
written by the SDK: every endpoint the page calls, with what a user would check."""

from __future__ import annotations

import csv
import io
import math
import os
import re

import orjson
import pytest

STATIC = os.path.join(os.path.dirname(__file__), "..", "..", "seetrain", "server", "static")


def _uuid(ui, name):
    return ui.run_by_name("demo", name)["uuid"]


def test_page_and_assets_are_served_from_the_package(ui):
    import httpx

    index = httpx.get(ui.url + "/")
    assert index.status_code == 200 and "<title>SeeTrain</title>" in index.text
    assets = re.findall(r'(?:src|href)="([^"#][^"]*)"', index.text)
    assert "vendor/uPlot.iife.min.js" in assets and "js/main.js" in assets
    for asset in assets:
        if asset.startswith("data:"):
            continue
        r = httpx.get(f"{ui.url}/{asset}")
        assert r.status_code == 200, asset
    js = sorted(os.listdir(os.path.join(STATIC, "js")))
    for name in js:  # every module the page imports is served
        assert httpx.get(f"{ui.url}/js/{name}").status_code == 200


# URLs that appear in the files but are never fetched: the vendored library's banner comment.
NAMED_NOT_LOADED = {"https://github.com/leeoniya/uPlot"}


def test_static_files_name_no_outside_url():
    """No CDN, no web fonts: nothing in the page's files points outside the server."""
    bad = []
    for root, _dirs, files in os.walk(STATIC):
        for f in files:
            if not f.endswith((".html", ".js", ".css")):
                continue
            text = open(os.path.join(root, f), encoding="utf-8").read()
            for m in re.finditer(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/\w.-]*", text, re.I):
                if m.group(0) in NAMED_NOT_LOADED or m.group(0).startswith("http://www.w3.org/"):
                    continue
                bad.append(f"{f}: {m.group(0)}")
    assert not bad, bad
    assert os.path.isfile(os.path.join(STATIC, "vendor", "uPlot.LICENSE.txt"))


def test_projects_and_run_list_filters_sort_and_pages(ui):
    projects = {p["name"]: p for p in ui.get("/projects")}
    assert projects["demo"]["runs"] == 4
    runs = ui.runs("demo")
    assert sorted(r["status"] for r in runs) == ["crashed", "success", "success", "success"]
    assert {r["name"] for r in ui.runs("demo", status="crashed")} == {"run-crash"}
    assert {r["name"] for r in ui.runs("demo", tag="best")} == {"run-0"}
    assert {r["name"] for r in ui.runs("demo", q="run-1")} == {"run-1"}
    assert {r["name"] for r in ui.get("/runs", project="demo", **{"config.lr": "0.01"})["runs"]} == {"run-1"}
    assert {r["name"] for r in ui.get("/runs", project="demo", **{"config.model.depth": "5"})["runs"]} == {"run-2"}
    names = [r["name"] for r in ui.get("/runs", project="demo", sort="name")["runs"]]
    assert names == sorted(names)
    page = ui.get("/runs", project="demo", sort="name", limit=2, offset=2)
    assert page["total"] == 4 and [r["name"] for r in page["runs"]] == names[2:4]
    one = next(r for r in runs if r["name"] == "run-0")
    assert one["tags"] == ["best"] and one["config"]["model"]["depth"] == 4
    assert one["summary"]["train/loss"] == pytest.approx(math.exp(-119 / 40))
    assert one["duration"] >= 0 and one["start_time"] > 0


def test_run_detail_and_keys(ui):
    uuid = _uuid(ui, "run-2")
    run = ui.get(f"/runs/{uuid}")
    assert run["name"] == "run-2" and run["status"] == "success" and run["config"]["lr"] == 0.001
    assert "python" in run["environment"] or "host" in run["environment"]
    keys = {k["key"]: k for k in ui.get(f"/runs/{uuid}/keys")}
    assert keys["train/loss"]["kind"] == "scalar" and keys["train/loss"]["count"] == 120
    assert {keys[k]["kind"] for k in ("samples", "weights", "speech", "notes")} == {"image", "histogram", "audio", "text"}
    assert ui.http.get("/runs/" + "0" * 32).status_code == 404


def test_events_and_console_by_cursor(ui):
    uuid = _uuid(ui, "run-crash")
    events = ui.get(f"/runs/{uuid}/events")
    exc = next(e for e in events if e["event"] == "exception")
    assert exc["exc_type"] == "RuntimeError" and "loss exploded" in exc["traceback"]
    later = ui.get(f"/runs/{uuid}/events", after_seq=exc["seq"])
    assert [e["event"] for e in later] == ["finish"]
    lines = ui.get(f"/runs/{uuid}/console")
    assert lines[-1]["line"] == "RuntimeError: loss exploded at step 10" and lines[-1]["stream"] == "stderr"
    assert ui.get(f"/runs/{uuid}/console", after_seq=lines[-1]["seq"]) == []
    assert len(ui.get(f"/runs/{uuid}/console", after_seq=lines[0]["seq"])) == len(lines) - 1


def test_media_listing_and_blobs(ui, demo_logdir):
    uuid = _uuid(ui, "run-0")
    run_dir = ui.get("/ui/state")["runs"][uuid]["path"]
    items = ui.get(f"/runs/{uuid}/media", key="samples")
    assert [i["step"] for i in items] == [0, 50, 100] and items[0]["caption"] == "step 0"
    png = ui.http.get(items[0]["url"].replace("/api/v1", ""))
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(run_dir, items[0]["path"]), "rb") as f:
        assert f.read() == png.content
    audio = ui.get(f"/runs/{uuid}/media", key="speech")
    wav = ui.http.get(audio[-1]["url"].replace("/api/v1", ""))
    assert wav.content[:4] == b"RIFF" and audio[-1]["sample_rate"] == 8000
    hist = ui.get(f"/runs/{uuid}/media", key="weights")
    assert len(hist[0]["counts"]) == len(hist[0]["bins"]) - 1 and sum(hist[0]["counts"]) == 2000
    text = ui.get(f"/runs/{uuid}/media", key="notes")
    assert text[-1]["preview"] == "run 0 at step 100: all good"


def test_series_points_last_value_cursor_range_and_runs(ui):
    u0, u1 = _uuid(ui, "run-0"), _uuid(ui, "run-1")
    s = ui.get("/series", run=u1, key="train/loss")["series"][0]
    assert s["total"] == 120 and len(s["x"]) == 120 and not s["downsampled"]
    assert s["x"][-1] == 119 and s["y"][-1] == pytest.approx(math.exp(-119 / 40) + 0.1)
    new = ui.get("/series", run=u1, key="train/loss", after=100)["series"][0]
    assert new["x"] == list(range(101, 120))  # the live cursor: only what is after x=100
    rng = ui.get("/series", run=u1, key="train/loss", start=10, end=19)["series"][0]
    assert rng["x"] == list(range(10, 20))
    both = ui.get("/series", run=[u0, u1], key="train/loss", x="time")["series"]
    assert [b["run"] for b in both] == [u0, u1] and all(len(b["x"]) == 120 for b in both)
    assert both[0]["x"] == sorted(both[0]["x"]) and both[0]["x"][0] > 1e9
    small = ui.get("/series", run=u1, key="train/loss", points=40)["series"][0]
    assert small["downsampled"] and len(small["x"]) <= 40 and small["x"][0] == 0 and small["x"][-1] == 119
    assert max(small["ymax"]) == pytest.approx(max(s["y"]))
    bare = ui.get("/series", run=[u0, u1], key="train/loss", points=40, band=0)["series"]  # a chart of several runs
    assert [b["run"] for b in bare] == [u0, u1] and all("ymin" not in b and "ymax" not in b for b in bare)
    assert bare[1]["x"] == small["x"] and bare[1]["y"] == small["y"]


def test_export_csv_and_jsonl(ui, demo_logdir):
    uuid = _uuid(ui, "run-1")
    r = ui.http.get(f"/runs/{uuid}/export", params={"format": "csv", "key": "train/loss"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 120 and float(rows[-1]["value"]) == pytest.approx(math.exp(-119 / 40) + 0.1)
    r = ui.http.get(f"/runs/{uuid}/export", params={"format": "jsonl"})
    recs = [orjson.loads(line) for line in r.text.splitlines()]
    assert [x["seq"] for x in recs] == list(range(len(recs))) and len(recs) == ui.get(f"/runs/{uuid}")["records"]


def test_ui_state_names_the_logdir(ui, demo_logdir):
    state = ui.get("/ui/state")
    assert state["logdir"] == os.path.abspath(demo_logdir)
    uuid = _uuid(ui, "run-0")
    assert state["runs"][uuid]["torn_bytes"] == 0 and state["runs"][uuid]["missing"] is False


def test_series_answers_many_keys_in_one_request(ui):
    u0, u1 = _uuid(ui, "run-0"), _uuid(ui, "run-1")
    ans = ui.get("/series", run=[u0, u1], key=["train/loss", "eval/loss"], points=1000)["series"]
    assert [(s["key"], s["run"]) for s in ans] == [("train/loss", u0), ("train/loss", u1), ("eval/loss", u0), ("eval/loss", u1)]
    one = ui.get("/series", run=u1, key="eval/loss")["series"][0]
    assert ans[3]["x"] == one["x"] and ans[3]["y"] == one["y"]  # the same answer as /series, key by key
    assert ui.http.get("/series", params={"run": "0" * 32, "key": "x"}).status_code == 404
    too_many = ui.http.get("/series", params={"run": [u0, u1], "key": [f"k{i}" for i in range(1251)]})
    assert too_many.status_code == 422 and "2 runs x 1251 keys = 2502 series" in too_many.json()["detail"]
