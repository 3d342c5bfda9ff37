"""`seetrain ui` never follows a symbolic link inside a run directory (issue 21 item 8): a real
`seetrain ui` process over a LOGDIR whose runs link to a secret outside them serves the rest of
each run, says which files it refused, and the secret's bytes reach neither its index nor any
answer."""

from __future__ import annotations

import pytest

from tests.symlinked_runs import GOOD, SECRET, files_holding, run_with_linked_file, run_with_media_links

from .conftest import UI, wait_for

pytest.importorskip("fastapi", reason="the dashboard needs the server extra")


@pytest.fixture
def linked_ui(tmp_path):
    logdir = str(tmp_path / "logs")
    runs = {"media": run_with_media_links(logdir),
            "records": run_with_linked_file(logdir, "records.jsonl"),
            "meta": run_with_linked_file(logdir, "run.json")}
    index = tmp_path / "index"
    index.mkdir()
    ui = UI(logdir, str(index))
    try:
        yield ui, runs, index
    finally:
        ui.stop()


def test_links_are_refused_named_and_the_rest_is_served(linked_ui):
    ui, runs, index = linked_ui
    media_run, records_run = runs["media"], runs["records"]
    wait_for(lambda: len(ui.get(f"/runs/{media_run.uuid}/media")) == 3, 60, "the media run to be indexed")
    assert files_holding(str(index), SECRET) == []  # not in the index, not in the blobs
    state = wait_for(lambda: (s := ui.get("/ui/state")["runs"]).get(media_run.uuid, {}).get("refused_links") == 2
                     and records_run.uuid in s and s, 60, "the watcher to report the refused links")
    assert "is a symbolic link" in state[media_run.uuid]["refused_reason"]
    assert "records.jsonl" in state[records_run.uuid]["error"] and "symbolic link" in state[records_run.uuid]["error"]
    assert runs["meta"].uuid not in state  # its run.json was never read
    assert files_holding(str(index), SECRET) == []
    listed = ui.runs("p")
    assert {r["uuid"] for r in listed} == {media_run.uuid, records_run.uuid} and SECRET.decode() not in str(listed)
    media = {m["key"]: m for m in ui.get(f"/runs/{media_run.uuid}/media")}
    assert media["x"]["url"] is None and media["leak"]["url"] is None
    assert ui.http.get(media["good"]["url"].removeprefix("/api/v1")).content == GOOD
    assert ui.get(f"/runs/{media_run.uuid}/keys") and ui.get(f"/runs/{records_run.uuid}")["records"] == 0
    assert SECRET.decode() not in str(ui.get(f"/runs/{records_run.uuid}/console"))
    log = ui.read_log()
    assert f"{runs['meta'].links['run.json']} is a symbolic link" in log  # the run the page cannot show
