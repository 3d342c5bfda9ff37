"""Curating runs in the dashboard (real ``seetrain ui`` over a log folder, real Chromium): edit a
run's name, tags and notes on its page; archive, unarchive, delete, restore and purge from the runs
table (each confirmed); the archived/deleted filter; a purge frees only the blobs no other run uses;
edits made with the CLI meanwhile show up; and no run directory is ever written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from tests._child import child_env

from .conftest import UI, Page, wait_for

ROWS = "table.runs tbody tr"


def tree_hash(path: str) -> str:
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, path).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def blob_names(root: str) -> set:
    return {n for sub in (os.listdir(root) if os.path.isdir(root) else []) for n in os.listdir(os.path.join(root, sub))}


@pytest.fixture
def cur_ui(tmp_path):
    import seetrain

    logdir = str(tmp_path / "logs")
    shared = np.full((8, 8, 3), 7, dtype=np.uint8)
    dirs = {}
    for i, rid in enumerate(("keep", "gone", "other")):
        run = seetrain.init(project="cur", id=rid, experiment_name=rid, logdir=logdir, system_metrics=False, console="off",
                            tags=["base"])
        for s in range(5):
            run.log({"loss": 1.0 / (s + 1)}, step=s)
        if rid != "other":
            run.log({"shared": seetrain.Image(shared), "own": seetrain.Image(np.full((8, 8, 3), 50 + i, dtype=np.uint8))},
                    step=5)
        run.finish()
        dirs[rid] = run.dir
    (tmp_path / "index").mkdir()
    ui = UI(logdir, str(tmp_path / "index"))
    try:
        wait_for(lambda: len(ui.runs("cur")) == 3 and all(r["records"] >= 5 for r in ui.runs("cur")), 60, "three runs indexed")
        for rid in ("keep", "gone"):
            u = ui.run_by_name("cur", rid)["uuid"]
            wait_for(lambda: len(ui.get(f"/runs/{u}/media")) == 2, 60, f"media of {rid} indexed")
        yield ui, logdir, dirs
    finally:
        ui.stop()


def _rows(pg):
    return pg.eval_on_selector_all(ROWS, "rs => rs.map(r => r.dataset.name)")


def _wait_rows(pg, names):
    pg.wait_for_function(f"want => JSON.stringify([...document.querySelectorAll('{ROWS}')].map(r => r.dataset.name).sort())"
                         " === JSON.stringify(want)", arg=sorted(names), timeout=15_000)


def test_edit_archive_delete_restore_purge_in_the_dashboard(browser, cur_ui):
    ui, logdir, dirs = cur_ui
    before = {k: tree_hash(d) for k, d in dirs.items()}
    keep, gone = ui.run_by_name("cur", "keep"), ui.run_by_name("cur", "gone")
    p = Page(browser, ui)
    pg = p.page
    pg.on("dialog", lambda d: d.accept())

    # the run page: edit name, tags and notes
    p.open(f"/run/{keep['uuid']}")
    p.wait_rendered()
    pg.click(".curate button[name=edit]")
    pg.fill("input[name=run-name]", "kept run")
    pg.fill("input[name=run-tags]", "best, v2")
    pg.fill("textarea[name=run-notes]", "lr 0.1 works\nsecond line")
    pg.click(".curate-edit button[name=save]")
    pg.wait_for_function("document.querySelector('.runhead h1').textContent === 'kept run'")
    assert pg.inner_text(".curate pre.notes") == "lr 0.1 works\nsecond line"
    assert pg.inner_text(".curate").startswith("lr 0.1 works")  # nothing else shown before the notes
    assert pg.eval_on_selector_all(".runhead .tag", "ts => ts.map(t => t.textContent)") == ["best", "v2"]
    p.shot("curation-run-page")
    pg.reload()
    p.wait_rendered()
    pg.wait_for_selector(".curate pre.notes")
    assert pg.inner_text(".runhead h1") == "kept run"

    # the runs table: archive, the archived filter, unarchive
    p.open("/p/cur")
    _wait_rows(pg, ["kept run", "gone", "other"])
    pg.click(f"{ROWS}[data-name=other] button[data-act=archive]")
    _wait_rows(pg, ["kept run", "gone"])
    pg.select_option("select[name=state]", "archived")
    _wait_rows(pg, ["other"])
    pg.click(f"{ROWS}[data-name=other] button[data-act=unarchive]")
    _wait_rows(pg, [])
    pg.select_option("select[name=state]", "active")
    _wait_rows(pg, ["kept run", "gone", "other"])

    # delete (to the trash), restore, delete again, purge
    pg.click(f"{ROWS}[data-name=gone] button[data-act=delete]")
    _wait_rows(pg, ["kept run", "other"])
    assert not os.path.exists(dirs["gone"]) and os.path.isdir(os.path.join(logdir, ".trash", "cur", "gone"))
    pg.select_option("select[name=state]", "deleted")
    _wait_rows(pg, ["gone"])
    p.shot("curation-deleted-filter")
    pg.click(f"{ROWS}[data-name=gone] button[data-act=restore]")
    _wait_rows(pg, [])
    assert tree_hash(dirs["gone"]) == before["gone"]              # back whole
    pg.select_option("select[name=state]", "active")
    _wait_rows(pg, ["kept run", "gone", "other"])
    pg.click(f"{ROWS}[data-name=gone] button[data-act=delete]")
    _wait_rows(pg, ["kept run", "other"])
    blobs = os.path.join(ui.index_dir, "blobs")
    shas = {m["key"]: m["sha256"] for m in ui.get(f"/runs/{gone['uuid']}/media")}
    assert {shas["shared"], shas["own"]} <= blob_names(blobs)
    pg.select_option("select[name=state]", "deleted")
    _wait_rows(pg, ["gone"])
    pg.click(f"{ROWS}[data-name=gone] button[data-act=purge]")
    _wait_rows(pg, [])
    assert ui.http.get(f"/runs/{gone['uuid']}").status_code == 404
    assert shas["shared"] in blob_names(blobs) and shas["own"] not in blob_names(blobs)  # shared blob survives
    for m in ui.get(f"/runs/{keep['uuid']}/media"):
        assert ui.http.get(m["url"].replace("/api/v1", "")).status_code == 200
    assert not os.path.exists(os.path.join(logdir, ".trash", "cur", "gone"))
    p.close()

    # the CLI meanwhile: the dashboard shows its edits on the watcher's next scan
    subprocess.run([sys.executable, "-m", "seetrain.cli", "tag", "other", "+from-cli", "--logdir", logdir],
                   env=child_env(), check=True, capture_output=True, timeout=120)
    wait_for(lambda: "from-cli" in ui.run_by_name("cur", "other")["tags"], 30, "the CLI's tag in the dashboard")

    # the run directories were never written; the edits live beside them
    assert {k: tree_hash(dirs[k]) for k in ("keep", "other")} == {k: before[k] for k in ("keep", "other")}
    assert len(os.listdir(os.path.join(logdir, ".seetrain", "edits"))) == 3

    # a purge from the CLI: the dashboard drops the run on its next scan
    other = ui.run_by_name("cur", "other")["uuid"]
    subprocess.run([sys.executable, "-m", "seetrain.cli", "rm", "other", "--purge", "--logdir", logdir],
                   env=child_env(), check=True, capture_output=True, timeout=120)
    wait_for(lambda: ui.http.get(f"/runs/{other}").status_code == 404, 30, "the purged run to leave the index")


def test_ui_edits_survive_a_fresh_index(browser, cur_ui, tmp_path):
    """The sidecar, not the dashboard's index, holds the edits: a new index shows them."""
    ui, logdir, _ = cur_ui
    u = ui.run_by_name("cur", "keep")["uuid"]
    r = ui.http.patch(f"/runs/{u}", json={"name": "renamed", "add_tags": ["x"], "archived": True})
    assert r.status_code == 200, r.text
    ui.stop()
    (tmp_path / "index2").mkdir()
    fresh = UI(logdir, str(tmp_path / "index2"))
    try:
        run = wait_for(lambda: next((x for x in fresh.runs("cur", state="archived") if x["uuid"] == u), None), 60,
                       "the archived run in a fresh index")
        assert run["name"] == "renamed" and run["tags"] == ["base", "x"]
        assert sorted(x["name"] for x in fresh.runs("cur")) == ["gone", "other"]
    finally:
        fresh.stop()


def test_ui_refuses_what_it_cannot_do_with_a_json_409(cur_ui):
    """A running run is not moved to the trash, nor one whose place in the trash is taken: a JSON
    409 says why and nothing moves."""
    import seetrain

    ui, logdir, dirs = cur_ui
    live = seetrain.init(project="cur", id="live", experiment_name="live", logdir=logdir, system_metrics=False,
                         console="off")
    try:
        u = ui.run_by_name("cur", "live")["uuid"]
        r = ui.http.request("DELETE", f"/runs/{u}", json={})
        assert r.status_code == 409 and "still running" in r.json()["detail"] and os.path.isdir(live.dir)
    finally:
        live.finish()
    taken = os.path.join(logdir, ".trash", "cur", "other")
    os.makedirs(taken)
    u = ui.run_by_name("cur", "other")["uuid"]
    r = ui.http.request("DELETE", f"/runs/{u}", json={})
    assert r.status_code == 409 and "exists already" in r.json()["detail"], r.text
    assert os.path.isdir(dirs["other"]) and ui.get(f"/runs/{u}")["deleted"] is None
