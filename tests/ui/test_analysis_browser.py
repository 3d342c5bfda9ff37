"""The runs page's analysis of a 200-run sweep in real Chromium against a real `seetrain ui`: the
runs filter language (each form and its error), parallel coordinates brushing, scatter, parameter
importance, grouping and saved views, each checked against values computed here from what the
sweep logged (tests/ui/make_sweep.py). Screenshots go to test-artifacts/ui/ (and $SEETRAIN_UI25B_SHOTS)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from seetrain.run_filter import filter_runs

from .conftest import HERE, REPO, UI, Page, wait_for
from .make_sweep import STEPS, curve, sweep_config
from tests._child import child_env

N = 200
ROWS = "table.runs tbody tr"


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def expected_runs():
    """What the page should know of each run: config, last metric values, status, tags, name."""
    out = []
    for i in range(N):
        last = curve(i, STEPS - 1)
        if i % 4 == 0:
            last.pop("aaa/first_alphabetically")
        out.append({"name": f"s{i:03d}", "id": f"s{i:03d}", "status": "success", "tags": ["best"] if i % 10 == 0 else [],
                    "config": sweep_config(i), "flat": _flat(sweep_config(i)), "summary": last, "i": i})
    return out


RUNS = expected_runs()
BY_NAME = {r["name"]: r for r in RUNS}


@pytest.fixture(scope="module")
def sweep_ui(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("sweep_logs"))
    subprocess.run([sys.executable, str(HERE / "make_sweep.py"), logdir, str(N)], cwd=str(REPO), env=child_env(),
                   check=True, timeout=600, capture_output=True)
    server = UI(logdir, str(tmp_path_factory.mktemp("sweep_index")))
    try:
        def indexed():
            rs = server.runs("sweep")
            return len(rs) == N and all(r["summary"].get("val/acc") is not None and r["status"] == "success" for r in rs)
        wait_for(indexed, 180, "the 200 sweep runs to be indexed")
        yield server
    finally:
        server.stop()


@pytest.fixture
def spage(browser, sweep_ui):
    p = Page(browser, sweep_ui)
    yield p
    outside = [u for u in p.requests if not u.startswith(sweep_ui.url + "/") and not u.startswith(("data:", "blob:"))]
    p.close()
    assert not outside, f"the page requested something outside the server: {outside[:5]}"
    assert not p.errors, f"errors on the page: {p.errors[:5]}"


def shot(p: Page, name: str) -> None:
    path = p.shot(name)
    extra = os.environ.get("SEETRAIN_UI25B_SHOTS")
    if extra:
        os.makedirs(extra, exist_ok=True)
        shutil.copy(path, os.path.join(extra, path.name))


def table_state(pg):
    return pg.evaluate(f"""() => ({{total: Number(document.querySelector('table.runs').dataset.total),
        names: [...document.querySelectorAll('{ROWS}')].map(r => r.dataset.name)}})""")


def wait_table(pg, expected_names):
    """The table's total is len(expected) and its page shows only (and, for one page, all of) them."""
    want = sorted(expected_names)

    def ok():
        st = table_state(pg)
        if st["total"] != len(want) or not set(st["names"]) <= set(want):
            return False
        return len(want) > 50 or sorted(st["names"]) == want
    try:
        wait_for(ok, 20, f"the runs table to show {len(want)} runs")
    except AssertionError:
        raise AssertionError(f"table {table_state(pg)} != expected {len(want)}: {want[:10]}") from None


@pytest.mark.parametrize("flt", [
    "lr>0.001", "optimizer in (adam, adamw)", "summary.val/acc>=0.9", "status!=crashed", "tag=best",
    "config.model.depth>=6 and optimizer=sgd and summary.val/acc<0.7", "batch=32, dropout!=0.2",
])
def test_each_filter_form_on_the_page(spage, flt):
    pg = spage.open("/p/sweep")
    pg.wait_for_selector(ROWS)
    pg.fill("input[name=config]", flt)
    want = [r["name"] for r in filter_runs(flt, RUNS)]
    assert 0 < len(want) < N or flt == "status!=crashed", (flt, len(want))
    wait_table(pg, want)
    if flt == "lr>0.001":
        assert len(want) == sum(1 for r in RUNS if r["config"]["lr"] > 0.001)
        shot(spage, "ui25b-filter")


def test_a_filter_the_parser_cannot_read_says_so_on_the_page(spage):
    pg = spage.open("/p/sweep")
    pg.wait_for_selector(ROWS)
    pg.fill("input[name=config]", "lr>>0.001")
    pg.wait_for_selector(".filter-error[role=alert]")
    text = pg.inner_text(".filter-error")
    assert "at position 4: expected a value" in text and "found '>'" in text, text
    assert pg.get_attribute("input[name=config]", "aria-invalid") == "true"
    shot(spage, "ui25b-filter-error")
    pg.fill("input[name=config]", "lr>0.001")
    wait_table(pg, [r["name"] for r in RUNS if r["config"]["lr"] > 0.001])
    assert pg.inner_text(".filter-error") == "" and pg.get_attribute("input[name=config]", "aria-invalid") is None
    spage.errors[:] = [e for e in spage.errors if "status of 422" not in e]  # the browser logs the 422 it got


def test_default_metric_columns_are_validation_metrics_first(spage):
    pg = spage.open("/p/sweep")
    pg.wait_for_selector(ROWS)
    heads = pg.eval_on_selector_all("table.runs thead th.num", "ths => ths.map(t => t.textContent.replace(/[▲▼]/g, '').trim())")
    metric_heads = [t for t in heads if t not in ("duration",)]
    assert metric_heads[:2] == ["val/acc", "val/loss"], heads
    assert "aaa/first_alphabetically" not in metric_heads[:3] and "sys/gpu" not in metric_heads


def _axis_box(pg, key):
    return pg.locator(f'.pc-axis[data-key="{key}"]').bounding_box()


def _drag(pg, box, f1, f2):
    x = box["x"] + box["width"] / 2
    pg.mouse.move(x, box["y"] + box["height"] * f1)
    pg.mouse.down()
    pg.mouse.move(x, box["y"] + box["height"] * (f1 + f2) / 2, steps=3)
    pg.mouse.move(x, box["y"] + box["height"] * f2, steps=3)
    pg.mouse.up()


def test_parallel_coordinates_brushing_filters_the_table_and_the_selection(spage):
    pg = spage.open("/p/sweep?an=pc&metric=val/acc&axes=lr,optimizer,batch,model.depth,dropout")
    pg.wait_for_selector('.pc[data-runs="200"]')
    assert pg.eval_on_selector_all(".pc-axis", "as => as.map(a => a.dataset.key)") == \
        ["lr", "optimizer", "batch", "model.depth", "dropout", "metric:val/acc"]
    assert pg.get_attribute('.pc-axis[data-key="lr"]', "data-log") == "1"  # 4 decades: a log axis
    # select the first page's runs, then brush: the selection keeps only runs inside the brush
    pg.check("table.runs thead input[type=checkbox]")
    first_page = table_state(pg)["names"]
    _drag(pg, _axis_box(pg, "lr"), 0.35, 0.6)
    pg.wait_for_selector('.pc-axis[data-key="lr"][data-lo]')
    lo = float(pg.get_attribute('.pc-axis[data-key="lr"]', "data-lo"))
    hi = float(pg.get_attribute('.pc-axis[data-key="lr"]', "data-hi"))
    want = [r["name"] for r in RUNS if lo <= r["config"]["lr"] <= hi]
    assert 10 < len(want) < 150, (lo, hi, len(want))
    wait_table(pg, want)
    assert int(pg.get_attribute(".pc", "data-shown")) == len(want)
    shot(spage, "ui25b-parcoords-brush")
    # a second brush on a categorical axis: only the chosen optimizer(s) stay, AND the lr range
    box = _axis_box(pg, "optimizer")
    _drag(pg, box, 0.02, 0.3)  # the top of the axis: the last category in order ("sgd")
    pg.wait_for_selector('.pc-axis[data-key="optimizer"][data-cats]')
    cats = json.loads(pg.get_attribute('.pc-axis[data-key="optimizer"]', "data-cats"))
    assert cats == ["sgd"]
    want2 = [n for n in want if BY_NAME[n]["config"]["optimizer"] == "sgd"]
    wait_table(pg, want2)
    kept = [n for n in first_page if n in want2]
    wait_for(lambda: pg.inner_text("button.primary") == f"Compare ({len(kept)})", 10, "the selection to be narrowed")
    # the brush lives in the URL: a reload shows the same table
    pg.reload()
    pg.wait_for_selector('.pc[data-runs="200"]')
    wait_table(pg, want2)
    # a click on an axis clears its brush
    box = _axis_box(pg, "optimizer")
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_table(pg, want)


def test_scatter_points_hover_and_click(spage):
    pg = spage.open("/p/sweep?an=scatter&metric=val/acc&sx=config:lr&sy=metric:val/acc&slogx=1")
    pg.wait_for_selector('.scatter[data-points="200"]')
    pts = pg.eval_on_selector_all(".sc-pt", "cs => cs.map(c => [c.dataset.name, Number(c.dataset.x), Number(c.dataset.y), Number(c.getAttribute('cx'))])")
    assert len(pts) == N
    for name, x, y, _ in pts:
        assert x == pytest.approx(BY_NAME[name]["config"]["lr"]) and y == pytest.approx(BY_NAME[name]["summary"]["val/acc"])
    # log x: equal ratios of lr are equal distances
    by_x = sorted(pts, key=lambda p: p[1])
    a, b, c = by_x[0], by_x[len(by_x) // 2], by_x[-1]
    assert (b[3] - a[3]) / (c[3] - a[3]) == pytest.approx(math.log10(b[1] / a[1]) / math.log10(c[1] / a[1]), rel=1e-3)
    pt = pg.locator('.sc-pt[data-name="s007"]')
    pt.hover()
    pg.wait_for_function("document.querySelector('.sc-tip') && !document.querySelector('.sc-tip').hidden")
    assert pg.inner_text(".sc-tip").startswith("s007:")
    shot(spage, "ui25b-scatter")
    uuid = pt.get_attribute("data-uuid")
    pt.click()
    pg.wait_for_function(f"location.hash === '#/run/{uuid}'")


def _eta2(groups, y):
    y = np.asarray(y, float)
    between = sum(len(ix) * (y[ix].mean() - y.mean()) ** 2
                  for ix in [[i for i, g in enumerate(groups) if g == v] for v in set(groups)])
    return between / ((y - y.mean()) ** 2).sum()


def test_importance_bars_match_values_computed_here(spage):
    pg = spage.open("/p/sweep?an=imp&metric=val/acc")
    pg.wait_for_selector(".imp-row")
    assert pg.get_attribute(".an-body", "data-runs-used") == str(N)
    assert f"over {N} of {N} runs" in pg.inner_text(".imp-note")
    rows = {r[0]: r[1:] for r in pg.eval_on_selector_all(".imp-row", "rs => rs.map(r => [r.dataset.key, Number(r.dataset.importance), r.dataset.correlation])")}
    assert set(rows) == {"lr", "optimizer", "batch", "model.depth", "dropout"}
    y = [r["summary"]["val/acc"] for r in RUNS]
    lr = [r["config"]["lr"] for r in RUNS]
    ranks = np.argsort(np.argsort(lr, kind="stable"), kind="stable")
    assert rows["lr"][0] == pytest.approx(_eta2([int(k * 8 / N) for k in ranks], y))
    assert float(rows["lr"][1]) == pytest.approx(np.corrcoef(lr, y)[0, 1])
    assert rows["optimizer"][0] == pytest.approx(_eta2([r["config"]["optimizer"] for r in RUNS], y)) and rows["optimizer"][1] == ""
    assert rows["batch"][0] == pytest.approx(_eta2([r["config"]["batch"] for r in RUNS], y))
    order = pg.eval_on_selector_all(".imp-row", "rs => rs.map(r => r.dataset.key)")
    assert order[0] == "lr"  # the sweep's val/acc depends on lr most
    shot(spage, "ui25b-importance")


def test_grouping_mean_and_band(spage):
    pg = spage.open("/p/sweep?an=group&group=optimizer&gmetric=val/acc")
    pg.wait_for_selector('.group-chart[data-groups="3"]')
    cells = pg.eval_on_selector_all("table.groups tbody tr", """rs => rs.map(r => [JSON.parse(r.dataset.group), Number(r.dataset.size),
        ...['mean', 'min', 'max'].map(k => Number(r.querySelector('td[data-metric]').dataset[k]))])""")
    assert [c[0] for c in cells] == [["adam"], ["adamw"], ["sgd"]]
    for label, size, mean, lo, hi in cells:
        vals = [r["summary"]["val/acc"] for r in RUNS if r["config"]["optimizer"] == label[0]]
        assert size == len(vals) and (mean, lo, hi) == pytest.approx((np.mean(vals), min(vals), max(vals)))
    data = pg.evaluate("document.querySelector('.group-chart').__u.data")
    assert data[0] == list(range(STEPS))
    for g, opt in enumerate(["adam", "adamw", "sgd"]):
        mean, hi, lo = data[1 + 3 * g], data[2 + 3 * g], data[3 + 3 * g]
        for s in range(STEPS):
            vals = [curve(i, s)["val/acc"] for i in range(N) if sweep_config(i)["optimizer"] == opt]
            assert (mean[s], lo[s], hi[s]) == pytest.approx((np.mean(vals), min(vals), max(vals)))
    shot(spage, "ui25b-groups")
    # two keys: optimizer x batch -> 12 groups of the right sizes
    pg.fill("input[name=group]", "optimizer, batch")
    pg.press("input[name=group]", "Enter")
    pg.wait_for_selector('.group-chart[data-groups="12"]')
    sizes = dict(pg.eval_on_selector_all("table.groups tbody tr", "rs => rs.map(r => [r.dataset.group, Number(r.dataset.size)])"))
    for key, size in sizes.items():
        opt, batch = json.loads(key)
        assert size == sum(1 for r in RUNS if r["config"]["optimizer"] == opt and str(r["config"]["batch"]) == batch)


def test_saved_view_round_trip(spage, browser, sweep_ui):
    pg = spage.open("/p/sweep?an=pc&metric=val/acc&axes=lr,optimizer")
    pg.wait_for_selector('.pc[data-runs="200"]')
    _drag(pg, _axis_box(pg, "lr"), 0.5, 0.8)
    pg.wait_for_selector('.pc-axis[data-key="lr"][data-lo]')
    lo = float(pg.get_attribute('.pc-axis[data-key="lr"]', "data-lo"))
    hi = float(pg.get_attribute('.pc-axis[data-key="lr"]', "data-hi"))
    want = [r["name"] for r in RUNS if lo <= r["config"]["lr"] <= hi]
    wait_table(pg, want)
    saved_hash = pg.evaluate("location.hash")
    pg.click("button[name=save-view]")
    pg.fill("input[name=view-name]", "low lr")
    pg.click("button[name=save-view]")
    pg.wait_for_function("document.querySelector('.view-msg').textContent.includes('saved')")
    # elsewhere, then back through the saved view (in a fresh browser context: stored on the server)
    other = Page(browser, sweep_ui)
    try:
        p2 = other.open("/p/sweep")
        p2.wait_for_selector(ROWS)
        wait_table(p2, [r["name"] for r in RUNS])
        p2.wait_for_selector("select[name=view] option[value='low lr']", state="attached")
        p2.select_option("select[name=view]", "low lr")
        p2.wait_for_selector('.pc[data-runs="200"]')
        wait_table(p2, want)
        assert p2.evaluate("location.hash") == saved_hash
        p2.wait_for_function("document.querySelector('select[name=view]').value === 'low lr'")  # named as shown
        assert p2.get_attribute('.pc-axis[data-key="lr"]', "data-lo") == repr(lo) or float(p2.get_attribute('.pc-axis[data-key="lr"]', "data-lo")) == lo
        shot(other, "ui25b-saved-view")
        assert not other.errors, other.errors
    finally:
        other.close()
    views = sweep_ui.get("/projects/sweep/views")
    assert [v["name"] for v in views] == ["low lr"] and views[0]["state"]["params"]["an"] == ["pc"]
