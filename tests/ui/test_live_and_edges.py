"""The dashboard with runs that are not simply finished: one training in another process right now,
a 1,000,000-point series, a run with a torn last line whose process vanished, and a run whose
directory was removed after it was indexed. Real `seetrain ui`, real headless Chromium."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

from .conftest import Page, sdk, wait_for
from .rundirs import scalar_series_run, write_run_json

SPIKE_AT, SPIKE = 654_321, 50.0


@pytest.fixture(scope="module")
def big_run(ui):
    """Project "big": one run whose train/loss has 1,000,000 points, all within [-1, 1] but one spike."""
    values = np.sin(np.arange(1_000_000) / 1000.0)
    values[SPIKE_AT] = SPIKE
    scalar_series_run(os.path.join(ui.logdir, "big", "spike"), "train/loss", values, name="spike")
    run = ui.run_by_name("big", "spike")
    wait_for(lambda: ui.get(f"/runs/{run['uuid']}")["records"] == 1_000_000, 400, "the 1M-point run to be indexed", every=1)
    return run


def test_a_run_training_in_another_process_updates_on_the_page(browser, ui):
    progress = os.path.join(ui.logdir, "live.progress")
    p = Page(browser, ui)
    table = p.ctx.new_page()  # the runs table, open before the run exists: the run appears by itself
    table.goto(f"{ui.url}/#/p/live")
    table.wait_for_selector(".pager .count")
    assert table.locator("table.runs tbody tr").count() == 0
    proc = sdk(ui.logdir, "--live", "90", wait=False)
    try:
        table.wait_for_selector("table.runs tbody tr [data-status=running]", timeout=30_000)
        run = ui.run_by_name("live", "live-run")
        pg = p.open(f"/run/{run['uuid']}")
        p.wait_rendered()
        assert pg.get_attribute("[data-status]", "data-status") == "running"
        first = int(p.chart("train/loss")["total"])
        for _ in range(3):  # the page follows the run: each point logged shows up, with the right value
            step = int(open(progress).read().split()[0])
            pg.wait_for_function(f"+document.querySelector('.chart[data-key=\"train/loss\"]').dataset.total >= {step + 1}",
                                 timeout=15_000)  # how soon: benchmarks/bench_ui.py (the < 2 s target)
        c = p.chart("train/loss")
        total = int(c["total"])
        assert total > first and int(c["points"]) == total
        assert float(c["last"]) == pytest.approx(round(1.0 / total, 6))  # value logged at step total-1
        asked = [u for u in p.requests if "/api/v1/series" in u and "train%2Floss" in u]
        first_loads = [u for u in asked if "after=" not in u]
        assert len(first_loads) == 1  # one full load, then only what is new (a cursor: after=last x)
        assert len(asked) - len(first_loads) >= 2
        p.shot("live-run")
        open(os.path.join(ui.logdir, "stop"), "w").close()
        pg.wait_for_selector("[data-status=success]", timeout=30_000)
        table.wait_for_selector("table.runs tbody tr [data-status=success]", timeout=30_000)  # the status, live too
    finally:
        open(os.path.join(ui.logdir, "stop"), "w").close()
        proc.wait(30)
        p.close()


def test_a_spike_in_a_million_points_survives_downsampling_and_zoom_fetches_detail(browser, ui, big_run):
    p = Page(browser, ui)
    try:
        pg = p.open(f"/run/{big_run['uuid']}")
        p.wait_rendered()
        c = p.chart("train/loss")
        assert int(c["total"]) == 1_000_000 and c["downsampled"] == "1" and int(c["points"]) <= 4000
        assert float(c["max"]) == SPIKE  # the one spike among a million points is on the chart
        p.shot("spike-1m", full_page=False)
        over = pg.locator('.chart[data-key="train/loss"] .u-over')
        box = over.bounding_box()
        y = box["y"] + box["height"] / 2
        pg.mouse.move(box["x"] + box["width"] * 0.60, y)
        pg.mouse.down()
        pg.mouse.move(box["x"] + box["width"] * 0.70, y, steps=5)
        pg.mouse.up()
        pg.wait_for_selector('.chart[data-key="train/loss"][data-zoomed="1"]', timeout=15_000)
        pg.wait_for_function("+document.querySelector('.chart[data-key=\"train/loss\"]').dataset.total < 200000")
        zoomed = p.chart("train/loss")
        assert 50_000 < int(zoomed["total"]) < 200_000  # about a tenth of the run, fetched again in detail
        assert float(zoomed["max"]) == SPIKE  # step 654,321 lies in the zoomed range
        p.shot("spike-1m-zoomed", full_page=False)
        over.dblclick()
        pg.wait_for_selector('.chart[data-key="train/loss"][data-zoomed="0"][data-total="1000000"]', timeout=15_000)
    finally:
        p.close()


def test_a_torn_run_whose_process_vanished_still_loads_and_says_what_is_missing(browser, ui):
    d = os.path.join(ui.logdir, "edge", "torn")
    meta = write_run_json(d, name="torn", status="running", heartbeat=time.time() - 300, end_time=None)
    with open(os.path.join(d, "records.jsonl"), "wb") as f:
        for i in range(20):
            if i in (7, 8):  # lost to a full disk: named by the lost event below
                continue
            if i == 19:  # a record the index refuses (a media path outside media/)
                f.write(b'{"seq":19,"time":1,"type":"metrics","step":19,"data":{"img":{"_type":"image","path":"../x.png"}}}\n')
                continue
            f.write(b'{"seq":%d,"time":%r,"type":"metrics","step":%d,"data":{"loss":%r}}\n' % (i, time.time(), i, 1.0 / (i + 1)))
        f.write(b'{"seq":20,"time":%r,"type":"event","event":"lost","first_seq":7,"last_seq":8,"count":2,'
                b'"reason":"OSError: [Errno 28] No space left on device"}\n' % time.time())
        f.write(b'{"seq":21,"time":%r,"type":"event","event":"warning","message":"lr is NaN","key":"lr"}\n' % time.time())
        f.write(b'{"seq":22,"time":1,"type":"metr')  # the writer was killed mid-line
    wait_for(lambda: ui.get("/ui/state")["runs"].get(meta["uuid"], {}).get("torn_bytes"), 30, "the torn tail to be seen")
    p = Page(browser, ui)
    try:
        pg = p.open(f"/run/{meta['uuid']}")
        p.wait_rendered()
        assert pg.get_attribute("[data-status]", "data-status") == "crashed"
        pg.wait_for_selector("[data-problem=torn]")
        assert "incomplete line" in pg.inner_text("[data-problem=torn]")
        assert "stopped without finishing" in pg.inner_text("[data-problem=vanished]")
        assert "2 record(s) were lost" in pg.inner_text("[data-problem=lost]")
        assert "1 record(s) could not be indexed" in pg.inner_text("[data-problem=rejected]")
        assert int(p.chart("loss")["total"]) == 17
        p.shot("torn-vanished")
        pg.click("button[data-tab=events]")
        assert "seq 7–8" in pg.inner_text("tr.ev-lost") and "No space left" in pg.inner_text("tr.ev-lost")
        assert "[lr] lr is NaN" in pg.inner_text("tr.ev-warning")
    finally:
        p.close()


def test_a_run_whose_directory_was_removed_still_loads_from_the_index(browser, ui):
    d = os.path.join(ui.logdir, "edge", "gone")
    meta = write_run_json(d, name="gone")
    with open(os.path.join(d, "records.jsonl"), "wb") as f:
        for i in range(5):
            f.write(b'{"seq":%d,"time":%r,"type":"metrics","step":%d,"data":{"acc":%r}}\n' % (i, time.time(), i, i / 10))
    wait_for(lambda: ui.get(f"/runs/{meta['uuid']}")["records"] == 5, 30, "the run to be indexed")
    shutil.rmtree(d)
    wait_for(lambda: ui.get("/ui/state")["runs"][meta["uuid"]]["missing"], 30, "the watcher to notice")
    p = Page(browser, ui)
    try:
        pg = p.open(f"/run/{meta['uuid']}")
        p.wait_rendered()
        pg.wait_for_selector("[data-problem=missing]")
        assert "is gone" in pg.inner_text("[data-problem=missing]")
        assert int(p.chart("acc")["total"]) == 5
    finally:
        p.close()
