"""One series endpoint for many runs and keys, and a compare of many runs that stays readable:
one batched request, a shared legend, colours that do not repeat, adding runs from a run page."""

from __future__ import annotations

KEYS = ["train/loss", "val/acc", "val/loss"]


def test_series_answers_many_runs_and_keys_in_one_request(ui, wide_runs):
    uuids = [r["uuid"] for r in wide_runs]
    ans = ui.get("/series", run=uuids, key=KEYS, points=100)["series"]
    assert [(s["key"], s["run"]) for s in ans] == [(k, u) for k in KEYS for u in uuids]
    assert all(s["total"] == 30 for s in ans)
    one = ui.get("/series", run=uuids[7], key="val/loss")["series"][0]  # the single-run form still works
    assert ans[2 * 60 + 7]["y"] == one["y"]
    assert ui.get("/ui/series", run=uuids[:2], key=KEYS[:1])["series"][1]["y"] == ans[1]["y"]  # the old batch route: an alias
    r = ui.http.get("/series", params={"run": uuids, "key": [f"k{i}" for i in range(42)]})
    assert r.status_code == 422 and "60 runs x 42 keys = 2520 series" in r.json()["detail"] and "at most 2500" in r.json()["detail"]
    assert ui.http.get("/series", params={"run": "0" * 32, "key": "x"}).status_code == 404


def test_series_marks_nan_and_inf(ui, edges_run):
    s = ui.get("/series", run=edges_run["uuid"], key="nan/loss")["series"][0]
    assert s["nonfinite"] == [{"i": 40, "value": "NaN"}, {"i": 60, "value": "+Inf"}, {"i": 80, "value": "-Inf"}]
    assert s["y"][40] is None and s["y"][41] == 1 / 42


def test_compare_of_60_runs_one_request_shared_legend_distinct_colours(page, wide_runs):
    uuids = [r["uuid"] for r in wide_runs]
    pg = page.open("/compare?runs=" + ",".join(uuids))
    page.wait_rendered()
    for k in KEYS:
        assert page.chart(k)["runs"] == "60"
    series_calls = [u for u in page.requests if "/api/v1/series" in u or "/api/v1/ui/series" in u]
    assert len(series_calls) == 1, series_calls[:3]
    assert "band=0" in series_calls[0]  # 60 lines draw no min/max band: the answer leaves it out
    # no 60-entry legend under every chart: one shared legend names each run once
    per_chart = pg.eval_on_selector_all(".chart .u-legend", "ls => ls.filter(l => l.offsetParent !== null).length")
    assert per_chart == 0
    legend = pg.eval_on_selector_all(".shared-legend [data-run]", "es => es.map(e => [e.dataset.run, e.dataset.color])")
    assert [u for u, _ in legend] == uuids
    assert len({c for _, c in legend}) == 60  # no colour used twice
    # hovering a chart names the run under the cursor
    over = pg.locator('.chart[data-key="val/loss"] .u-over')
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    pg.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    pg.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=4)
    pg.wait_for_function("""(document.querySelector('.chart[data-key="val/loss"] .hover-run') || {}).textContent?.startsWith('w-')""",
                         timeout=10_000)
    page.shot("compare-60")


def test_compare_from_a_run_page_adds_other_runs(page, ui):
    uuid = ui.run_by_name("demo", "run-0")["uuid"]
    other = ui.run_by_name("demo", "run-2")["uuid"]
    pg = page.open(f"/run/{uuid}")
    page.wait_rendered()
    pg.click("text=compare…")
    pg.wait_for_selector(".runpicker input[type=checkbox]")
    pg.check(f".runpicker [data-uuid='{other}'] input[type=checkbox]")
    pg.click(".runpicker button:has-text('Compare')")
    page.wait_rendered()
    assert page.chart("train/loss")["runs"] == "2"
    assert set(pg.eval_on_selector_all(".shared-legend [data-run]", "es => es.map(e => e.dataset.run)")) == {uuid, other}


def test_a_dropped_series_request_is_tried_again_until_the_charts_fill(page, wide_runs):
    """A finished run is never polled: before, one dropped /series request (the batch and the
    per-chart fallback) left its charts empty for good, saying only "Failed to fetch"."""
    uuids = [r["uuid"] for r in wide_runs[:3]]
    dropped = []

    def drop_twice(route):
        if len(dropped) < 2:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.page.route("**/api/v1/series?*", drop_twice)
    page.open("/compare?runs=" + ",".join(uuids))
    page.wait_rendered(timeout=60_000)
    for k in KEYS:
        assert page.chart(k)["runs"] == "3"
    assert len(dropped) == 2
    # the browser reported the two dropped requests on the console; nothing else went wrong
    page.errors[:] = [e for e in page.errors if "ERR_CONNECTION_RESET" not in e and "Failed to fetch" not in e]
