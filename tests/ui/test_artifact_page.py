"""The artifact page (real ``seetrain ui`` over a log folder, headless Chromium): the project's
artifacts, a version's aliases and files (downloadable: the ui stored them from the log folder's
store), and the lineage graph of a dataset -> train -> evaluate chain."""

from __future__ import annotations

import os

import pytest

import seetrain
from tests.artifacts.helpers import write_file
from tests.ui.conftest import UI, Page, wait_for


@pytest.fixture(scope="module")
def chain_ui(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("art_logs"))
    src = tmp_path_factory.mktemp("art_src")
    write_file(str(src / "data" / "train.csv"), b"x,y\n1,2\n")

    def start(name):
        return seetrain.init(project="ap", experiment_name=name, logdir=logdir, system_metrics=False, console="off")

    prep = start("prepare")
    prep.log_artifact(str(src / "data"), name="dataset", type="dataset")
    prep.finish()
    train = start("train")
    train.use_artifact("dataset:latest")
    for i in range(2):
        write_file(str(src / f"m{i}" / "weights.bin"), os.urandom(1000 + i))
        train.log_artifact(str(src / f"m{i}"), name="model", type="model", aliases=["best"] if i == 0 else [],
                           metadata={"epoch": i})
    train.finish()
    ev = start("evaluate")
    ev.use_artifact("model:best")
    ev.finish()
    server = UI(logdir, str(tmp_path_factory.mktemp("art_index")))
    try:
        wait_for(lambda: len(server.runs("ap")) == 3 and all(r["status"] == "success" for r in server.runs("ap"))
                 and len(server.get("/projects/ap/artifacts")["artifacts"]) == 2, 60, "the runs and artifacts indexed")
        yield server, {"prepare": prep.uuid, "train": train.uuid, "evaluate": ev.uuid}, src
    finally:
        server.stop()


def test_the_artifact_page_shows_versions_aliases_files_and_the_lineage_graph(browser, chain_ui):  # noqa: F811
    ui, uuids, src = chain_ui
    p = Page(browser, ui)
    try:
        page = p.open("/p/ap")
        page.locator("a.artifacts-link").click()
        page.locator('table.artifacts tr[data-artifact="model"]').wait_for(timeout=30_000)
        assert page.locator('table.artifacts tr[data-artifact="model"] td').nth(2).inner_text() == "2"
        page.locator('table.artifacts tr[data-artifact="model"] a').click()
        page.locator("table.versions tr[data-version='1']").wait_for(timeout=30_000)
        rows = page.locator("table.versions tbody tr")
        assert [rows.nth(i).locator("td").nth(1).inner_text().split() for i in range(2)] == [["latest"], ["best"]]
        page.locator("table.versions tr[data-version='0'] a").first.click()
        page.locator("h2:has-text('model:v0')").wait_for(timeout=30_000)
        assert page.locator("table.files tr[data-path='weights.bin']").count() == 1
        graph = page.locator("svg.lineage")
        graph.wait_for(timeout=30_000)
        nodes = sorted(graph.locator("a.gnode").evaluate_all("els => els.map(e => e.dataset.node)"))
        assert nodes == sorted([f"run:{uuids['prepare']}", f"run:{uuids['train']}", f"run:{uuids['evaluate']}",
                                "artifact:dataset:v0", "artifact:model:v0", "artifact:model:v1"])
        edges = sorted(graph.locator("line.edge").evaluate_all("els => els.map(e => [e.dataset.from, e.dataset.to])"))
        assert edges == sorted([[f"run:{uuids['prepare']}", "artifact:dataset:v0"],
                                ["artifact:dataset:v0", f"run:{uuids['train']}"],
                                [f"run:{uuids['train']}", "artifact:model:v0"],
                                [f"run:{uuids['train']}", "artifact:model:v1"],
                                ["artifact:model:v0", f"run:{uuids['evaluate']}"]])
        x = {n: graph.locator(f'a.gnode[data-node="{n}"] rect').get_attribute("x") for n in
             ("artifact:dataset:v0", "artifact:model:v0", f"run:{uuids['evaluate']}")}
        assert float(x["artifact:dataset:v0"]) < float(x["artifact:model:v0"]) < float(x[f"run:{uuids['evaluate']}"])
        p.shot("artifact_page")
        with page.expect_download() as dl:
            page.locator("table.files tr[data-path='weights.bin'] a").click()
        with open(dl.value.path(), "rb") as f, open(str(src / "m0" / "weights.bin"), "rb") as g:
            assert f.read() == g.read()
        page.locator(f'a.gnode[data-node="run:{uuids["evaluate"]}"]').click()
        page.wait_for_url(f"**/#/run/{uuids['evaluate']}")
        assert not p.errors, p.errors
    finally:
        p.close()
