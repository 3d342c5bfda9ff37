"""Chart layout on a run page: enlarge a chart, per-chart log scale and smoothing, a custom panel
with several metrics, hide a chart, zoom synced across charts on demand, export PNG and SVG; the
layout is kept in the URL."""

from __future__ import annotations

import pytest


@pytest.fixture
def run_page(page, ui):
    uuid = ui.run_by_name("demo", "run-1")["uuid"]
    pg = page.open(f"/run/{uuid}")
    page.wait_rendered()
    page.chart("train/loss")
    return pg


def act(pg, key, what):
    pg.click(f'.chart[data-key="{key}"] [data-act={what}]')


def test_enlarge_a_chart(run_page, page):
    pg = run_page
    act(pg, "train/loss", "enlarge")
    pg.wait_for_function("""document.querySelector('.chart[data-key="train/loss"]').classList.contains('big')""")
    w = pg.evaluate("""[document.querySelector('.chart[data-key="train/loss"] canvas').getBoundingClientRect().width, innerWidth]""")
    assert w[0] > 0.8 * w[1], w
    page.shot("chart-enlarged", full_page=False)
    pg.keyboard.press("Escape")
    pg.wait_for_function("""!document.querySelector('.chart[data-key="train/loss"]').classList.contains('big')""")


def test_per_chart_log_scale_and_smoothing(run_page):
    pg = run_page
    act(pg, "train/loss", "log")
    pg.wait_for_function("window.seetrain.charts.get('train/loss').u.scales.y.distr === 3")
    assert pg.evaluate("window.seetrain.charts.get('eval/loss').u.scales.y.distr") == 1
    pg.fill('.chart[data-key="train/loss"] input[name=csmooth]', "0.8")
    pg.dispatch_event('.chart[data-key="train/loss"] input[name=csmooth]', "input")
    pg.wait_for_function("""document.querySelector('.chart[data-key="train/loss"]').dataset.smoothing === '0.8'""")
    assert pg.eval_on_selector('.chart[data-key="eval/loss"]', "e => e.dataset.smoothing") == "0"
    assert "clog=train%2Floss" in pg.url or "clog=train/loss" in pg.url


def test_hide_a_chart_and_bring_it_back(run_page):
    pg = run_page
    act(pg, "train/acc", "hide")
    pg.wait_for_selector('.chart[data-key="train/acc"]', state="hidden")
    pg.reload()
    pg.wait_for_function("window.seetrain && window.seetrain.rendered")
    pg.wait_for_selector('.chart[data-key="train/loss"][data-points]')
    assert not pg.is_visible('.chart[data-key="train/acc"]')  # kept in the URL
    pg.click("button.hidden-charts")
    pg.click(".hidden-list button:has-text('train/acc')")
    pg.wait_for_selector('.chart[data-key="train/acc"]', state="visible")


def test_custom_panel_with_several_metrics(run_page, page):
    pg = run_page
    pg.click("button.add-panel")
    pg.check(".panel-form input[value='train/loss']")
    pg.check(".panel-form input[value='eval/loss']")
    pg.click(".panel-form button:has-text('add')")
    sel = '.chart[data-key="train/loss,eval/loss"]'
    pg.wait_for_selector(f"{sel}[data-points]")
    labels = pg.evaluate("window.seetrain.charts.get('train/loss,eval/loss').u.series.slice(1).map(s => s.label)")
    assert labels == ["train/loss", "eval/loss"]
    page.shot("custom-panel")
    pg.reload()
    pg.wait_for_selector(f"{sel}[data-points]")


def test_zoom_synced_across_charts_on_demand(run_page):
    pg = run_page

    def drag(key):
        over = pg.locator(f'.chart[data-key="{key}"] .u-over')
        over.scroll_into_view_if_needed()
        box = over.bounding_box()
        y = box["y"] + box["height"] / 2
        pg.mouse.move(box["x"] + box["width"] * 0.2, y)
        pg.mouse.down()
        pg.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
        pg.mouse.up()

    drag("train/loss")
    pg.wait_for_function("""document.querySelector('.chart[data-key="train/loss"]').dataset.zoomed === '1'""")
    assert pg.eval_on_selector('.chart[data-key="eval/loss"]', "e => e.dataset.zoomed") == "0"  # not synced by default
    pg.dblclick('.chart[data-key="train/loss"] .u-over')
    pg.wait_for_function("""document.querySelector('.chart[data-key="train/loss"]').dataset.zoomed === '0'""")
    pg.check("input[name=synczoom]")
    drag("train/loss")
    pg.wait_for_function("""['train/loss', 'eval/loss', 'train/acc'].every(k =>
        document.querySelector(`.chart[data-key="${k}"]`).dataset.zoomed === '1')""")
    z = pg.evaluate("['train/loss', 'eval/loss'].map(k => window.seetrain.charts.get(k).zoom)")
    assert z[0] == z[1]


def test_export_a_chart_as_png_and_svg(run_page):
    pg = run_page
    with pg.expect_download() as d:
        act(pg, "train/loss", "png")
    png = d.value
    assert png.suggested_filename.endswith(".png")
    with open(png.path(), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pg.expect_download() as d:
        act(pg, "train/loss", "svg")
    svg = d.value
    assert svg.suggested_filename.endswith(".svg")
    with open(svg.path()) as f:
        text = f.read()
    assert text.startswith("<svg") and "<path" in text and "train/loss" in text
