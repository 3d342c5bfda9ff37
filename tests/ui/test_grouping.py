"""Grouping runs by config keys in the compare charts (one line per group: the mean inside its min-max
band, the group's size in the legend) and in the runs table (a row per group with its size and the
mean of each metric; folding); legend highlight across charts; chart size presets kept in the URL.
Everything checked against values computed here from what the runs logged."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List

import orjson
import pytest

from .conftest import wait_for
from .rundirs import write_run_json

N, STEPS = 6, 10
KEYS = ("val/loss", "train/loss")


def value(i: int, key: str, step: int) -> float:
    """What run i logged: val/loss (i+1)(0.1+0.01 step); train/loss twice that."""
    return (i + 1) * (0.1 + 0.01 * step) * (1 if key == "val/loss" else 2)


def optimizer(i: int) -> str:
    return ("adam", "sgd")[i % 2]


@pytest.fixture(scope="module")
def grp_runs(ui, demo_logdir) -> List[Dict[str, Any]]:
    """Project "grp": N finished runs, optimizer adam (even i) or sgd (odd i), two metrics."""
    metas = []
    for i in range(N):
        d = os.path.join(demo_logdir, "grp", f"g{i}")
        t0 = time.time() - 100
        meta = write_run_json(d, name=f"g{i}", start_time=t0 + i, end_time=t0 + i + STEPS,
                              config={"optimizer": optimizer(i), "seed": i})
        with open(os.path.join(d, "records.jsonl"), "wb") as f:
            for s in range(STEPS):
                f.write(orjson.dumps({"seq": s, "time": t0 + s, "type": "metrics", "step": s,
                                      "data": {k: value(i, k, s) for k in KEYS}}) + b"\n")
        metas.append(meta)
    wait_for(lambda: len([r for r in ui.runs("grp") if r["records"] >= STEPS]) == N, 60, "the grp runs to be indexed")
    return metas


def _chart_lines(pg, key):
    """{series label: [y at each x]} of a chart as drawn, and its x values."""
    return pg.evaluate("""key => {
        const u = window.seetrain.charts.get(key).u;
        return {x: Array.from(u.data[0]), lines: Object.fromEntries(u.series.slice(1).map((s, i) => [s.label, Array.from(u.data[i + 1])]))};
    }""", key)


def test_compare_grouped_by_optimizer_draws_mean_and_min_max_band(page, grp_runs):
    uuids = ",".join(m["uuid"] for m in grp_runs)
    pg = page.open(f"/compare?runs={uuids}&group=optimizer")
    page.wait_rendered()
    pg.wait_for_function("document.querySelector('.chart[data-key=\"val/loss\"]').dataset.groups === '2'")
    for key in KEYS:
        got = _chart_lines(pg, key)
        assert got["x"] == list(range(STEPS))
        for name, members in (("adam", [0, 2, 4]), ("sgd", [1, 3, 5])):
            per_step = [[value(i, key, s) for i in members] for s in range(STEPS)]
            assert got["lines"][f"{name} (3)"] == pytest.approx([sum(v) / 3 for v in per_step])
            assert got["lines"][f"{name} (3) min"] == pytest.approx([min(v) for v in per_step])
            assert got["lines"][f"{name} (3) max"] == pytest.approx([max(v) for v in per_step])
    legend = pg.eval_on_selector_all(".shared-legend [data-group]", "es => es.map(e => [e.dataset.group, e.dataset.size])")
    assert legend == [["adam", "3"], ["sgd", "3"]]
    chart_legend = pg.eval_on_selector_all('.chart[data-key="val/loss"] .u-legend .u-series',
                                           "rs => rs.filter(r => r.style.display !== 'none').map(r => r.textContent)")
    assert any("adam (3)" in t for t in chart_legend) and not any(" min" in t for t in chart_legend)
    page.shot("compare-grouped")

    # the group-by lives in the URL: a new page from the same link shows the same groups
    link = pg.url
    other = page.ctx.new_page()
    other.goto(link)
    other.wait_for_function("window.seetrain && window.seetrain.rendered")
    other.wait_for_function("document.querySelector('.chart[data-key=\"train/loss\"]').dataset.groups === '2'")
    other.close()

    # cleared: one line a run again
    pg.fill("input[name=groupby]", "")
    pg.dispatch_event("input[name=groupby]", "change")
    pg.wait_for_function("document.querySelector('.chart[data-key=\"val/loss\"]').dataset.groups === ''")
    assert len([k for k in _chart_lines(pg, "val/loss")["lines"] if k.startswith("g")]) == N
    assert "group=" not in pg.url


def test_runs_table_groups_rows_with_counts_and_folds(page, grp_runs):
    pg = page.open("/p/grp?group=optimizer")
    page.wait_rendered()
    pg.wait_for_selector("table.runs tr.group-row")
    groups = pg.eval_on_selector_all("table.runs tr.group-row", "rs => rs.map(r => [r.dataset.group, r.dataset.size])")
    assert groups == [["adam", "3"], ["sgd", "3"]]
    # the group row's metric cell: the mean of its runs' last values
    mean = pg.eval_on_selector('tr.group-row[data-group="adam"] td.gmean[data-metric="val/loss"]', "e => e.title")
    last = [value(i, "val/loss", STEPS - 1) for i in (0, 2, 4)]
    assert mean.startswith("mean of 3 runs")
    shown = pg.text_content('tr.group-row[data-group="adam"] td.gmean[data-metric="val/loss"]')
    assert float(shown) == pytest.approx(sum(last) / 3, rel=1e-3)
    rows_after = "rs => { const out = []; let g = null; for (const r of rs) { if (r.classList.contains('group-row')) g = r.dataset.group; else out.push([g, r.dataset.name]); } return out; }"
    assert sorted(pg.eval_on_selector_all("table.runs tbody tr", rows_after)) == sorted(
        [[optimizer(i), f"g{i}"] for i in range(N)])
    # fold adam from the keyboard: its runs leave the table, sgd's stay
    pg.focus('tr.group-row[data-group="adam"] button.gtoggle')
    pg.keyboard.press("Enter")
    pg.wait_for_function("document.querySelectorAll('table.runs tbody tr:not(.group-row)').length === 3")
    assert {n for _, n in pg.eval_on_selector_all("table.runs tbody tr", rows_after)} == {"g1", "g3", "g5"}
    assert pg.get_attribute('tr.group-row[data-group="adam"] button.gtoggle', "aria-expanded") == "false"
    page.shot("runs-table-grouped")


def test_grouping_set_in_the_analysis_panel_groups_the_table_too(page, grp_runs):
    pg = page.open("/p/grp?an=group")
    page.wait_rendered()
    assert not pg.query_selector("table.runs tr.group-row")
    pg.fill("input[name=group]", "optimizer")
    pg.press("input[name=group]", "Enter")
    pg.wait_for_function("document.querySelectorAll('table.runs tr.group-row').length === 2", timeout=15_000)
    assert pg.input_value("input[name=groupby]") == "optimizer"


def test_legend_hover_highlights_the_run_on_every_chart_and_size_presets_stay_in_the_url(page, grp_runs):
    uuids = [m["uuid"] for m in grp_runs]
    pg = page.open(f"/compare?runs={','.join(uuids)}")
    page.wait_rendered()
    entry = f'.shared-legend [data-run="{uuids[3]}"]'
    pg.hover(entry)
    focus = """([key, uuid]) => { const c = window.seetrain.charts.get(key);
        return c.u.series.map((s, i) => [c.lineIds[i], s._focus]).filter(([id]) => id); }"""
    for key in KEYS:
        pg.wait_for_function(f"document.querySelector('.chart[data-key=\"{key}\"]').dataset.highlight === '{uuids[3]}'")
        lines = pg.evaluate(focus, [key, uuids[3]])
        assert {f for u, f in lines if u == uuids[3]} == {True}
        assert {f for u, f in lines if u != uuids[3]} == {False}
    page.shot("compare-legend-highlight", full_page=False)
    pg.mouse.move(5, 5)
    pg.wait_for_function("document.querySelector('.chart[data-key=\"val/loss\"]').dataset.highlight === ''")

    # hovering a line on one chart highlights that run on the other
    over = pg.locator('.chart[data-key="val/loss"] .u-over')
    box = over.bounding_box()
    y = pg.evaluate("""() => { const u = window.seetrain.charts.get('val/loss').u;
        const i = u.series.findIndex(s => s.label === 'g5'); return u.valToPos(u.data[i][9], 'y'); }""")
    pg.mouse.move(box["x"] + box["width"] - 2, box["y"] + y, steps=3)
    pg.wait_for_function(f"document.querySelector('.chart[data-key=\"train/loss\"]').dataset.highlight === '{uuids[5]}'")
    assert pg.eval_on_selector_all(".shared-legend .entry.hl", "es => es.map(e => e.dataset.run)") == [uuids[5]]  # and the legend names it

    # size presets: small -> large, kept in the URL and restored by it
    pg.click('.chart[data-key="val/loss"] [data-act=size]')  # M -> L
    pg.wait_for_function("document.querySelector('.chart[data-key=\"val/loss\"]').dataset.size === 'l'")
    height = pg.evaluate("window.seetrain.charts.get('val/loss').u.height")
    width = pg.eval_on_selector('.chart[data-key="val/loss"]', "e => e.getBoundingClientRect().width")
    other_w = pg.eval_on_selector('.chart[data-key="train/loss"]', "e => e.getBoundingClientRect().width")
    assert height == 380 and width > 1.5 * other_w  # the whole row, taller
    assert "csize=val%2Floss%7El" in pg.url or "csize=val/loss~l" in pg.url
    page.shot("compare-chart-large")
    pg.reload()
    page.wait_rendered()
    pg.wait_for_function("document.querySelector('.chart[data-key=\"val/loss\"]').dataset.size === 'l'")
    pg.click('.chart[data-key="val/loss"] [data-act=size]')  # L -> S
    pg.wait_for_function("window.seetrain.charts.get('val/loss').u.height === 130")
    assert "~s" in pg.url.replace("%7E", "~").replace("%7e", "~")


def test_group_mean_counts_runs_logged_at_other_steps(page, ui):
    """Runs that logged at other steps (or were downsampled to other points) still count at an x
    between two of their points (the straight line between them); a NaN next to x leaves a run out."""
    pg = page.open("/")
    got = pg.evaluate("""async () => (await import('./js/groups.js')).aggregate([
        [[0, 2, 4], [1, 1, 1]],            // run A: steps 0, 2, 4
        [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]],  // run B: every step
        [[3, 4], [NaN, 10]],               // run C: NaN at 3, 10 at 4
    ])""")
    assert got["x"] == [0, 1, 2, 3, 4]
    assert got["count"] == [2, 2, 2, 2, 3]
    assert got["mean"] == pytest.approx([0.5, 1, 1.5, 2, 5])
    assert got["min"] == [0, 1, 1, 1, 1] and got["max"] == [1, 1, 2, 3, 10]


def test_dragging_a_charts_corner_resizes_it_and_the_url_keeps_it(page, grp_runs):
    pg = page.open(f"/compare?runs={grp_runs[0]['uuid']},{grp_runs[1]['uuid']}")
    page.wait_rendered()
    grip = pg.locator('.chart[data-key="val/loss"] .resize-grip')
    grip.scroll_into_view_if_needed()
    box = grip.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    pg.mouse.move(x, y)
    pg.mouse.down()
    pg.mouse.move(x, y + 75, steps=5)
    pg.mouse.move(x, y + 150, steps=5)
    pg.mouse.up()
    pg.wait_for_function("window.seetrain.charts.get('val/loss').u.height === 350")
    assert pg.evaluate("window.seetrain.charts.get('train/loss').u.height") == 200  # the others keep theirs
    assert "val/loss~350" in pg.url.replace("%2F", "/").replace("%7E", "~")
    page.shot("chart-dragged-taller", full_page=False)
    pg.reload()
    page.wait_rendered()
    pg.wait_for_function("window.seetrain.charts.get('val/loss').u.height === 350")
    assert pg.text_content('.chart[data-key="val/loss"] [data-act=size]') == "350px"
    pg.click('.chart[data-key="val/loss"] [data-act=size]')  # back to the presets: M
    pg.wait_for_function("window.seetrain.charts.get('val/loss').u.height === 200")
    assert "csize" not in pg.url
