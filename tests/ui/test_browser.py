"""The dashboard in real headless Chromium against a real `seetrain ui` process. Screenshots are
saved under test-artifacts/ui/ (see conftest)."""

from __future__ import annotations

import math

import pytest

ROWS = "table.runs tbody tr"


def rows(pg):
    return pg.eval_on_selector_all(ROWS, "rs => rs.map(r => r.dataset.name)")


def wait_rows(pg, expected):
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === {len(expected)} && "
                         f"[...document.querySelectorAll('{ROWS}')].map(r => r.dataset.name).sort().join() === {sorted(expected)!r}.join()",
                         timeout=15_000)


def test_runs_table_shows_live_statuses_and_filters(page):
    pg = page.open("/p/demo")
    pg.wait_for_selector(ROWS)
    wait_rows(pg, ["run-0", "run-1", "run-2", "run-crash"])
    statuses = dict(pg.eval_on_selector_all(ROWS, "rs => rs.map(r => [r.dataset.name, r.querySelector('[data-status]').dataset.status])"))
    assert statuses == {"run-0": "success", "run-1": "success", "run-2": "success", "run-crash": "crashed"}
    header = pg.inner_text("table.runs thead")
    assert "lr" in header and "train/loss" in header  # a config column that differs and a metric column
    page.shot("runs-table")
    pg.fill("input[name=q]", "run-1")
    wait_rows(pg, ["run-1"])
    pg.fill("input[name=q]", "")
    pg.select_option("select[name=status]", "crashed")
    wait_rows(pg, ["run-crash"])
    pg.select_option("select[name=status]", "")
    pg.fill("input[name=tag]", "best")
    wait_rows(pg, ["run-0"])
    pg.fill("input[name=tag]", "")
    pg.fill("input[name=config]", "model.depth=5")
    wait_rows(pg, ["run-2"])
    page.shot("runs-table-filtered")


def test_run_page_charts_have_the_logged_points(page, ui):
    pg = page.open("/p/demo")
    pg.wait_for_selector(ROWS)
    pg.click(f"{ROWS}[data-name='run-1'] td.name a")
    page.wait_rendered()
    groups = pg.eval_on_selector_all("section.group", "ss => ss.map(s => s.dataset.group)")
    assert groups == ["", "eval", "train"]  # grouped by key prefix, un-prefixed keys first
    c = page.chart("train/loss")
    assert int(c["points"]) == 120 and int(c["total"]) == 120 and c["downsampled"] == "0"
    assert float(c["last"]) == pytest.approx(math.exp(-119 / 40) + 0.1)
    # hover shows the values under the cursor in the legend
    pg.locator('.chart[data-key="train/loss"] .u-over').scroll_into_view_if_needed()
    box = pg.locator('.chart[data-key="train/loss"] .u-over').bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2, steps=5)
    pg.wait_for_function("""[...document.querySelectorAll('.chart[data-key="train/loss"] .u-legend .u-value')]
                            .map(e => e.textContent).join('|') === '119|0.15105'""", timeout=10_000)
    page.shot("run-charts")
    pg.select_option("select[name=xmode]", "relative")
    pg.wait_for_function("document.querySelector('.chart[data-key=\"train/loss\"]').dataset.points === '120'")
    pg.check("input[name=logy]")
    pg.fill("input[name=smoothing]", "0.9")
    pg.dispatch_event("input[name=smoothing]", "input")
    page.shot("run-charts-smoothed-log-relative")
    pg.click("button[data-tab=config]")
    assert "model.depth" in pg.inner_text("table.kv.config")
    pg.click("button[data-tab=console]")
    pg.wait_for_function("document.querySelector('pre.console').textContent.includes('hello from run-1')")


def test_media_images_slider_audio_text_histograms(page, ui):
    uuid = ui.run_by_name("demo", "run-0")["uuid"]
    pg = page.open(f"/run/{uuid}")
    page.wait_rendered()
    pg.click("button[data-tab=media]")
    pg.wait_for_selector("section.media[data-type=image] img")
    img = "section.media[data-type=image]"
    assert pg.inner_text(f"{img} .steplabel") == "step 100 (3 of 3)"
    pg.wait_for_function(f"document.querySelector('{img} img').complete && document.querySelector('{img} img').naturalWidth === 24")
    slider = pg.locator(f"{img} input[type=range]")
    slider.fill("0")
    slider.dispatch_event("input")
    assert pg.inner_text(f"{img} .steplabel") == "step 0 (1 of 3)" and pg.inner_text(f"{img} figcaption") == "step 0"
    assert pg.locator("section.media[data-type=audio] audio").count() == 1
    assert "run 0 at step 100: all good" in pg.inner_text("section.media[data-type=text]")
    assert pg.locator("section.media[data-type=histogram] canvas").count() == 2
    page.shot("run-media")


def test_compare_two_runs_overlays_and_diffs_config(page):
    pg = page.open("/p/demo")
    pg.wait_for_selector(ROWS)
    wait_rows(pg, ["run-0", "run-1", "run-2", "run-crash"])
    for name in ("run-0", "run-1"):
        pg.check(f"{ROWS}[data-name='{name}'] input[type=checkbox]")
    pg.click("button:has-text('Compare (2)')")
    page.wait_rendered()
    c = page.chart("train/loss")
    assert c["runs"] == "2" and int(c["points"]) == 120
    diff = pg.eval_on_selector_all("table.diff tbody tr", "rs => rs.map(r => r.dataset.key)")
    assert diff == ["lr"]  # batch and model.* are equal; only lr differs
    page.shot("compare")


def test_event_exception_with_traceback(page, ui):
    uuid = ui.run_by_name("demo", "run-crash")["uuid"]
    pg = page.open(f"/run/{uuid}")
    page.wait_rendered()
    pg.wait_for_selector("[data-problem=exception]")  # said at the top of the page
    assert "RuntimeError: loss exploded at step 10" in pg.inner_text("[data-problem=exception]")
    pg.click("button[data-tab=events]")
    pg.wait_for_selector("tr.ev-exception pre.tb")
    assert "RuntimeError: loss exploded" in pg.inner_text("tr.ev-exception")
    page.shot("run-events")


def test_the_page_requests_nothing_outside_the_server(browser, ui):
    from .conftest import Page

    p = Page(browser, ui)
    outside = []

    def guard(route):
        if route.request.url.startswith(ui.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    p.page.route("**/*", guard)
    uuid = ui.run_by_name("demo", "run-0")["uuid"]
    for where in ("/", "/p/demo", f"/run/{uuid}", f"/compare?runs={uuid}"):
        p.open(where)
        p.page.wait_for_load_state("networkidle")
        if where.startswith("/run/"):  # the run page's media tab too
            p.page.click("button[data-tab=media]")
            p.page.wait_for_load_state("networkidle")
    assert len(p.requests) > 10 and not outside, outside
    p.close()
