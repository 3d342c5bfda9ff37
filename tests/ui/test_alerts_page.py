"""Alerts on the dashboard (real `seetrain ui`, headless Chromium): the runs table marks a run with
alerts (count, highest level), and the run page lists them at the top, newest first."""

from __future__ import annotations

import pytest

import seetrain

from .conftest import UI, Page, wait_for


@pytest.fixture(scope="module")
def alert_ui(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("alert_logs"))
    for name, alerts in (("calm", []), ("stormy", [("lr warmup done", "", "info"),
                                                   ("loss spike", "loss=87.5 at step 3", "error"),
                                                   ("grad norm high", "norm=1e4", "warn")])):
        run = seetrain.init(project="al", experiment_name=name, logdir=logdir, system_metrics=False, console="off")
        for step in range(5):
            seetrain.log({"loss": 1.0 / (step + 1)})
        for title, text, level in alerts:
            run.alert(title, text, level=level)
        seetrain.finish()
    server = UI(logdir, str(tmp_path_factory.mktemp("alert_index")))
    try:
        wait_for(lambda: len(server.runs("al")) == 2 and all(r["status"] == "success" for r in server.runs("al")), 60,
                 "both runs indexed")
        yield server
    finally:
        server.stop()


def test_runs_table_marks_the_run_with_alerts_and_its_page_lists_them(browser, alert_ui):
    p = Page(browser, alert_ui)
    try:
        page = p.open("/p/al")
        p.wait_rendered()
        stormy = page.locator('tr[data-name="stormy"] .alertmark')
        stormy.wait_for(timeout=30_000)
        assert stormy.get_attribute("data-count") == "3" and stormy.get_attribute("data-level") == "error"
        assert "3" in stormy.inner_text()
        assert page.locator('tr[data-name="calm"] .alertmark').count() == 0

        page.locator('tr[data-name="stormy"] td.name a').click()
        box = page.locator(".alerts[data-count='3']")
        box.wait_for(timeout=30_000)
        assert box.get_attribute("data-level") == "error"
        items = box.locator("li.alert")
        assert [items.nth(i).locator(".title").inner_text() for i in range(3)] == \
            ["grad norm high", "loss spike", "lr warmup done"]
        assert items.nth(1).get_attribute("data-level") == "error"
        assert "loss=87.5 at step 3" in items.nth(1).inner_text()
        p.shot("run_page_alerts")
        # the events tab shows them too, readable
        page.locator('.tabs button[data-tab="events"]').click()
        row = page.locator("tr.ev-alert").filter(has_text="loss spike")
        row.wait_for(timeout=10_000)
        assert "[error] loss spike" in row.inner_text()
        assert not p.errors, p.errors
    finally:
        p.close()


def test_a_run_without_alerts_shows_no_alert_box(browser, alert_ui):
    p = Page(browser, alert_ui)
    try:
        calm = alert_ui.run_by_name("al", "calm")
        page = p.open(f"/run/{calm['uuid']}")
        p.wait_rendered()
        page.locator('.tabs button[data-tab="events"]').click()
        page.locator("tr.ev-finish").wait_for(timeout=30_000)  # the events were read
        assert page.locator(".alerts").is_hidden()
        assert not p.errors, p.errors
    finally:
        p.close()
