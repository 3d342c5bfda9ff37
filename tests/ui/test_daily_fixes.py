"""What trips a daily user, each seen in real Chromium: system charts under x = step, clipped
y-axis labels, NaN/Inf, the runs table's redraws, keyboard and selection, its width, media,
the environment panel's units, dark mode."""

from __future__ import annotations

import json
import re

ROWS = "table.runs tbody tr"


def _axis(pg, key):
    """The y axis of a chart as drawn: its labels, its width and the widest label's width (px)."""
    return pg.evaluate("""key => {
        const u = window.seetrain.charts.get(key).u, ax = u.axes[1];
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = ax.font[0];
        const labels = ax._values || [];
        return {labels, size: ax._size, widest: Math.max(...labels.map(l => ctx.measureText(l).width))};
    }""", key)


def test_system_charts_have_points_under_x_step(page, edges_run):
    pg = page.open(f"/run/{edges_run['uuid']}")
    page.wait_rendered()
    c = page.chart("sys/cpu_percent")
    assert int(c["points"]) > 0 and int(c["total"]) > 0
    assert pg.eval_on_selector("select[name=xmode]", "s => s.value") == "step"


def test_y_axis_labels_fit_and_read_as_numbers(page, edges_run):
    pg = page.open(f"/run/{edges_run['uuid']}")
    page.wait_rendered()
    for key, lo, hi in (("tiny", 1e-4, 2e-4), ("huge", 9.7e7, 9.71e7)):
        page.chart(key)
        ax = _axis(pg, key)
        assert ax["labels"], key
        for label in ax["labels"]:
            assert re.fullmatch(r"-?[0-9.]+(e-?[0-9]+)?", label), (key, label)
            assert lo * 0.9 <= float(label) <= hi * 1.1, (key, label)
        assert ax["widest"] + 4 <= ax["size"], (key, ax)  # the widest label fits inside the axis
    page.shot("axes-tiny-huge")


def test_nan_and_inf_are_marked_not_joined_and_hover_names_them(page, edges_run):
    pg = page.open(f"/run/{edges_run['uuid']}")
    page.wait_rendered()
    page.chart("nan/loss")
    marks = pg.eval_on_selector_all('.chart[data-key="nan/loss"] .nonfinite', "ms => ms.map(m => m.title)")
    assert marks == ["NaN at step 40", "+Inf at step 60", "-Inf at step 80"]
    assert pg.evaluate("window.seetrain.charts.get('nan/loss').u.series[1].spanGaps") is False
    mark = pg.locator('.chart[data-key="nan/loss"] .nonfinite').first
    mark.scroll_into_view_if_needed()
    box = mark.bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + 60)  # below the NaN mark, inside the plot
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + 40, steps=3)
    pg.wait_for_function("""[...document.querySelectorAll('.chart[data-key="nan/loss"] .u-legend .u-value')]
                            .map(e => e.textContent).join('|') === '40|NaN'""", timeout=10_000)
    page.shot("nan-inf")


def test_runs_table_does_no_dom_work_when_nothing_changed(page):
    pg = page.open("/p/demo")
    pg.wait_for_selector(ROWS)
    pg.evaluate("""() => { window.__mut = 0; new MutationObserver(ms => { window.__mut += ms.length; })
                   .observe(document.querySelector('table.runs'), {subtree: true, childList: true, attributes: true, characterData: true}); }""")
    before = sum("/api/v1/runs?" in u for u in page.requests)
    pg.wait_for_function(f"true", timeout=1000)
    import time
    deadline = time.monotonic() + 20
    while sum("/api/v1/runs?" in u for u in page.requests) < before + 2 and time.monotonic() < deadline:
        pg.wait_for_timeout(200)
    assert sum("/api/v1/runs?" in u for u in page.requests) >= before + 2  # two live refreshes happened
    assert pg.evaluate("window.__mut") == 0


def test_runs_table_headers_sort_from_the_keyboard(page):
    pg = page.open("/p/demo")
    pg.wait_for_selector(ROWS)
    th = pg.locator("table.runs th[data-sort=name]")
    th.focus()
    assert pg.evaluate("document.activeElement.dataset.sort") == "name"
    pg.keyboard.press("Enter")
    pg.wait_for_function("document.querySelector('table.runs th[data-sort=name]').getAttribute('aria-sort') === 'descending'")
    pg.keyboard.press("Enter")
    pg.wait_for_function("document.querySelector('table.runs th[data-sort=name]').getAttribute('aria-sort') === 'ascending'")
    pg.wait_for_function(f"[...document.querySelectorAll('{ROWS}')].map(r => r.dataset.name).join() === 'run-0,run-1,run-2,run-crash'")
    assert pg.evaluate("document.activeElement.dataset.sort") == "name"  # focus survives the redraw


def test_select_all_ticks_and_a_second_click_clears(page):
    pg = page.open("/p/demo")
    pg.wait_for_selector(ROWS)
    pg.click("table.runs thead input[type=checkbox]")
    assert pg.is_checked("table.runs thead input[type=checkbox]")
    assert all(pg.eval_on_selector_all(f"{ROWS} input[type=checkbox]", "cs => cs.map(c => c.checked)"))
    assert "Compare (4)" in pg.inner_text("button.primary")
    pg.click("table.runs thead input[type=checkbox]")
    assert not pg.is_checked("table.runs thead input[type=checkbox]")
    assert not any(pg.eval_on_selector_all(f"{ROWS} input[type=checkbox]", "cs => cs.map(c => c.checked)"))


def test_selection_on_another_page_is_shown(page, wide_runs):
    pg = page.open("/p/wide")
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 50")
    first = pg.eval_on_selector_all(ROWS, "rs => rs.slice(0, 2).map(r => r.dataset.name)")
    for name in first:
        pg.check(f"{ROWS}[data-name='{name}'] input[type=checkbox]")
    pg.click("button:has-text('next ›')")
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 10")
    assert not pg.is_checked("table.runs thead input[type=checkbox]")
    note = pg.inner_text(".selection")
    assert "2 selected" in note and "other pages" in note
    pg.click(".selection button:has-text('clear')")
    assert "Compare (0)" in pg.inner_text("button.primary")


def test_runs_table_fits_1280_px_with_every_column(browser, ui, wide_runs):
    from .conftest import Page

    p = Page(browser, ui)
    p.page.set_viewport_size({"width": 1280, "height": 800})
    cols = {"config": ["batch_size", "dropout", "lr", "optimizer", "scheduler", "warmup_steps", "weight_decay"],
            "metric": ["train/loss", "val/acc", "val/loss"]}
    p.page.add_init_script(f"localStorage.setItem('seetrain.cols.wide', {json.dumps(json.dumps(cols))})")
    pg = p.open("/p/wide")
    pg.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 50")
    width = pg.evaluate("document.documentElement.scrollWidth")
    p.shot("runs-table-1280", full_page=False)
    p.close()
    assert width <= 1280, width


def test_media_full_text_enlarged_image_histogram_axes(page, edges_run):
    pg = page.open(f"/run/{edges_run['uuid']}")
    page.wait_rendered()
    pg.click("button[data-tab=media]")
    txt = "section.media[data-type=text] .mtext"
    pg.wait_for_function(f"(document.querySelector('{txt}') || {{}}).textContent?.includes('THE END')", timeout=15_000)
    text = pg.eval_on_selector(txt, "e => e.textContent")
    assert "tokens = tokenize(prompt)\n        # indented twice\n" in text
    style = pg.eval_on_selector(txt, "e => [getComputedStyle(e).whiteSpace, e.scrollHeight > e.clientHeight, getComputedStyle(e).overflowY]")
    assert style[0] in ("pre-wrap", "pre") and style[1] and style[2] in ("auto", "scroll")
    img = "section.media[data-key=big] img"
    pg.wait_for_function(f"document.querySelector('{img}').complete && document.querySelector('{img}').naturalWidth === 600")
    assert pg.eval_on_selector(img, "e => e.getBoundingClientRect().width") <= 256
    pg.click(img)
    pg.wait_for_selector(".lightbox img")
    assert pg.eval_on_selector(".lightbox img", "e => e.getBoundingClientRect().width") >= 600
    page.shot("media-lightbox", full_page=False)
    pg.keyboard.press("Escape")
    pg.wait_for_selector(".lightbox", state="detached")
    hist = "section.media[data-key=weights]"
    assert len(pg.eval_on_selector_all(f"{hist} .hist-axis span", "s => s")) >= 3  # tick labels under the bars
    bars = pg.locator(f"{hist} canvas.bars")
    bars.scroll_into_view_if_needed()
    box = bars.bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 5)
    pg.wait_for_function(f"/count [0-9]+/.test(document.querySelector('{hist} .hist-readout').textContent)")
    page.shot("media-text-hist")


def test_environment_shows_memory_in_gib_and_durations_with_units(page, edges_run):
    pg = page.open(f"/run/{edges_run['uuid']}")
    page.wait_rendered()
    pg.click("button[data-tab=config]")
    env = dict(pg.eval_on_selector_all("table.kv.env tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"))
    assert re.fullmatch(r"[0-9.]+ GiB", env["memory_total"]), env["memory_total"]
    assert re.fullmatch(r"[0-9.]+ ?(ms|s)|[0-9]+m [0-9]+s", env["duration"]), env["duration"]


def test_dark_mode_follows_the_system(browser, ui):
    from .conftest import Page

    p = Page(browser, ui)
    p.ctx.close()
    p.ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True, color_scheme="dark")
    p.page = p.ctx.new_page()
    pg = p.open("/p/demo")
    pg.wait_for_selector(ROWS)
    bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    cell = pg.evaluate("getComputedStyle(document.querySelector('table.runs')).backgroundColor")
    p.shot("runs-dark", full_page=False)
    p.close()
    lum = lambda c: sum(int(v) for v in re.findall(r"\d+", c)[:3]) / 3  # noqa: E731
    assert lum(bg) < 60 and lum(cell) < 80, (bg, cell)
