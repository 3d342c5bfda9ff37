"""Everything a user sets lives in the URL: a reload and the same link pasted into a new browser
context show the same page (runs table: filters, sort, page, selection; run page: tab, x axis,
smoothing, log scale, zoom)."""

from __future__ import annotations

from .conftest import Page

ROWS = "table.runs tbody tr"


def _runs_state(pg):
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 10 && "
                         f"document.querySelector('{ROWS}').dataset.name === 'w-050'")
    return {"status": pg.eval_on_selector("select[name=status]", "s => s.value"),
            "rows": pg.eval_on_selector_all(ROWS, "rs => rs.map(r => r.dataset.name)"),
            "checked": pg.eval_on_selector_all(f"{ROWS} input[type=checkbox]:checked", "cs => cs.map(c => c.closest('tr').dataset.name)"),
            "sort": pg.eval_on_selector("table.runs th[data-sort=name]", "t => t.getAttribute('aria-sort')"),
            "count": pg.inner_text(".pager .count")}


def test_runs_table_state_survives_reload_and_a_pasted_link(browser, ui, wide_runs):
    p = Page(browser, ui)
    pg = p.open("/p/wide")
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 50")
    pg.select_option("select[name=status]", "success")
    pg.click("table.runs th[data-sort=name]")
    pg.wait_for_function("document.querySelector('table.runs th[data-sort=name]').getAttribute('aria-sort') === 'descending'")
    pg.click("table.runs th[data-sort=name]")
    pg.wait_for_function("document.querySelector('table.runs th[data-sort=name]').getAttribute('aria-sort') === 'ascending'")
    pg.click("button:has-text('next ›')")
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 10")
    pg.check(f"{ROWS}[data-name='w-055'] input[type=checkbox]")
    want = _runs_state(pg)
    assert want["checked"] == ["w-055"] and want["sort"] == "ascending" and want["status"] == "success"
    link = pg.url
    pg.reload()
    assert _runs_state(pg) == want
    p.close()
    fresh = Page(browser, ui)
    fresh.page.goto(link)
    assert _runs_state(fresh.page) == want
    fresh.close()


def _run_state(pg):
    pg.wait_for_function("window.seetrain && window.seetrain.rendered")
    pg.wait_for_function("""(() => { const c = document.querySelector('.chart[data-key="train/loss"]');
                            return c && c.dataset.points && c.dataset.zoomed === '1'; })()""")
    return {"tab": pg.eval_on_selector(".tabs button.on", "b => b.dataset.tab"),
            "x": pg.eval_on_selector("select[name=xmode]", "s => s.value"),
            "smoothing": pg.eval_on_selector("input[name=smoothing]", "s => s.value"),
            "logy": pg.is_checked("input[name=logy]"),
            "zoom": pg.evaluate("window.seetrain.charts.get('train/loss').zoom.map(v => Math.round(v))")}


def test_run_page_view_survives_reload_and_a_pasted_link(browser, ui):
    uuid = ui.run_by_name("demo", "run-1")["uuid"]
    p = Page(browser, ui)
    pg = p.open(f"/run/{uuid}")
    p.wait_rendered()
    p.chart("train/loss")
    pg.select_option("select[name=xmode]", "step")
    pg.fill("input[name=smoothing]", "0.6")
    pg.dispatch_event("input[name=smoothing]", "input")
    pg.check("input[name=logy]")
    over = pg.locator('.chart[data-key="train/loss"] .u-over')
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    pg.mouse.move(box["x"] + box["width"] * 0.25, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    pg.mouse.up()
    pg.wait_for_function("document.querySelector('.chart[data-key=\"train/loss\"]').dataset.zoomed === '1'")
    pg.click("button[data-tab=charts]")
    want = _run_state(pg)
    assert want["logy"] and want["smoothing"] == "0.6" and 20 <= want["zoom"][0] < want["zoom"][1] <= 90
    link = pg.url
    pg.reload()
    assert _run_state(pg) == want
    p.close()
    fresh = Page(browser, ui)
    fresh.page.goto(link)
    assert _run_state(fresh.page) == want
    fresh.page.click("button[data-tab=media]")
    assert "tab=media" in fresh.page.url
    fresh.page.reload()
    fresh.page.wait_for_selector("section.media")
    fresh.close()
