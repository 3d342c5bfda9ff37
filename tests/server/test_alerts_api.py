"""Alerts through a real server: GET /runs/{uuid}/events?event=alert&since=T polls them, and the
runs list carries each run's alert count and highest level (the dashboard's marker); SQLite and
PostgreSQL."""

from __future__ import annotations

import time
import urllib.parse

import pytest

import seetrain
from seetrain.sender import Client, RunSync

from .conftest import api


def _sdk_run(logdir: str, name: str, alerts) -> seetrain.Run:
    run = seetrain.init(project="alerts", experiment_name=name, logdir=logdir, system_metrics=False, console="off")
    for i, (title, level) in enumerate(alerts):
        seetrain.log({"loss": float(i)})
        run.alert(title, f"text of {title}", level=level)
    seetrain.finish()
    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def db_server(request, make_server):
    """A server on SQLite, then on PostgreSQL (the alert level is read from the JSON body on both)."""
    return make_server(request.getfixturevalue("pg_db") if request.param == "postgresql" else None)


def test_events_poll_alerts_with_since_and_the_runs_list_marks_them(db_server, tmp_path):
    server = db_server
    logdir = str(tmp_path / "logs")
    noisy = _sdk_run(logdir, "noisy", [("a", "info"), ("b", "error"), ("c", "warn")])
    quiet = _sdk_run(logdir, "quiet", [])
    for run in (noisy, quiet):
        RunSync(run.dir, Client(server.url)).drain()
    uuid = noisy.uuid
    alerts = [e for e in seetrain.read_run(noisy.dir).events if e["event"] == "alert"]

    status, got = api(server.url, f"/api/v1/runs/{uuid}/events?event=alert")
    assert status == 200 and [(e["title"], e["level"], e["seq"]) for e in got] == \
        [(a["title"], a["level"], a["seq"]) for a in alerts]
    # since: at or after a time (what an agent polls with); after_seq: a cursor
    since = alerts[1]["time"]
    status, got = api(server.url, f"/api/v1/runs/{uuid}/events?event=alert&since={since!r}")
    assert [e["title"] for e in got] == ["b", "c"]
    status, got = api(server.url, f"/api/v1/runs/{uuid}/events?event=alert&after_seq={alerts[2]['seq']}")
    assert got == []
    status, got = api(server.url, f"/api/v1/runs/{uuid}/events?since={time.time() + 3600}")
    assert got == []
    status, every = api(server.url, f"/api/v1/runs/{uuid}/events")
    assert {"start", "alert", "finish"} <= {e["event"] for e in every}

    status, page = api(server.url, "/api/v1/runs?project=alerts")
    marks = {r["name"]: r["alerts"] for r in page["runs"]}
    assert marks["quiet"] is None
    assert marks["noisy"]["count"] == 3 and marks["noisy"]["level"] == "error"
    assert marks["noisy"]["last_time"] == alerts[2]["time"]


def test_bad_since_is_a_422_naming_it(server, tmp_path):
    run = _sdk_run(str(tmp_path / "logs"), "r", [("a", "info")])
    RunSync(run.dir, Client(server.url)).drain()
    for bad in ("yesterday", "nan", "inf"):
        status, body = api(server.url, f"/api/v1/runs/{run.uuid}/events?since={urllib.parse.quote(bad)}")
        assert status == 422, (bad, body)
        assert "since" in str(body)
