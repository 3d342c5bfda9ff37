"""A compare of 500 runs in real Chromium: the page's URL keeps a compact selection (the uuids packed,
22 characters a run) and no request the page sends has a URL past what servers accept: the batched
series and the compare's run list go by POST once a GET would be too long."""

from __future__ import annotations

import base64
import os
import time

import orjson
import pytest

from .conftest import UI, Page, wait_for
from .rundirs import write_run_json

N, STEPS = 500, 5
MAX_URL = 8000  # what servers accept on a request line (h11, nginx's default buffer): 8 KB


@pytest.fixture(scope="module")
def ui500(tmp_path_factory):
    """``seetrain ui`` over a LOGDIR of 500 finished runs of project "five" (val/loss over 5 steps)."""
    logdir = str(tmp_path_factory.mktemp("ui500_logs"))
    t0 = time.time() - 1000
    for i in range(N):
        d = os.path.join(logdir, "five", f"r{i:03d}")
        write_run_json(d, name=f"r{i:03d}", start_time=t0 + i, end_time=t0 + i + STEPS, config={"seed": i})
        with open(os.path.join(d, "records.jsonl"), "wb") as f:
            f.write(b"".join(orjson.dumps({"seq": s, "time": t0 + i + s, "type": "metrics", "step": s,
                                           "data": {"val/loss": i + s / 10}}) + b"\n" for s in range(STEPS)))
    server = UI(logdir, str(tmp_path_factory.mktemp("ui500_index")))
    try:
        wait_for(lambda: server.get("/runs", project="five", limit=1)["total"] == N, 180, "500 runs in the index")
        yield server
    finally:
        server.stop()


def wait_for_all_runs(p: Page) -> None:
    """Wait until the val/loss chart draws every run; on a timeout say what each chart shows."""
    try:
        p.page.wait_for_selector(f'.chart[data-key="val/loss"][data-runs="{N}"]', timeout=60_000)
    except Exception:
        shown = p.page.eval_on_selector_all(".chart", "es => es.map(e => [e.dataset.key, e.dataset.runs, e.innerText.slice(-300)])")
        raise AssertionError(f"at {p.page.url[:80]}: {p.page.inner_text('main')[:500]!r}; charts: {shown}; page errors: {p.errors[:5]}; server log: {p.ui.read_log()}") from None


def test_compare_of_500_runs_keeps_urls_short(browser, ui500):
    runs = ui500.runs("five")
    uuids = [r["uuid"] for r in sorted(runs, key=lambda r: r["name"])]
    packed = base64.urlsafe_b64encode(b"".join(bytes.fromhex(u) for u in uuids)).decode().rstrip("=")
    p = Page(browser, ui500)
    try:
        pg = p.open("/")
        # the page's own link to this compare is the packed form
        href = pg.evaluate("async (u) => (await import('./js/compare.js')).compareHref(u)", uuids)
        assert href == f"#/compare?rs={packed}" and len(href) < 12_000
        pg.goto(f"{ui500.url}/{href}")
        p.wait_rendered(timeout=120_000)
        wait_for_all_runs(p)
        lines = pg.evaluate("window.seetrain.charts.get('val/loss').u.series.length - 1")
        assert lines == N
        assert len(pg.eval_on_selector_all(".shared-legend [data-run]", "es => es")) == N
        too_long = [u for u in p.requests if len(u) > MAX_URL and not u.startswith(ui500.url + "/#")]
        assert not too_long, [u[:120] for u in too_long]
        posts = pg.evaluate("performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/api/v1/'))")
        assert any(n.endswith("/api/v1/series") for n in posts) and any(n.endswith("/api/v1/ui/compare") for n in posts)
        # a reload of the packed link shows the same 500 runs
        pg.reload()
        p.wait_rendered(timeout=120_000)
        wait_for_all_runs(p)
        p.shot("compare-500", full_page=False)
        assert not p.errors, p.errors[:3]
    finally:
        p.close()


def test_a_page_still_loading_when_the_user_moves_on_neither_draws_nor_navigates(browser, ui500):
    """The projects page of a one-project dashboard forwards to that project's runs; before, if its
    /projects answer came after the user had already opened a compare, the stale page still sent
    the browser to the runs table (a reload then showed the wrong page: CI, stop 41)."""
    uuids = [r["uuid"] for r in ui500.runs("five")][:3]
    held = []
    p = Page(browser, ui500)
    try:
        pg = p.page
        pg.route("**/api/v1/projects", lambda route: route.continue_() if held else held.append(route))
        p.open("/")
        wait_for(lambda: held or pg.evaluate("0"), 30, "the projects request")  # pumps Playwright's events
        assert held, "the projects page asked for /projects"
        pg.evaluate("(h) => { location.hash = h; }", "#/compare?runs=" + ",".join(uuids))
        p.wait_rendered(timeout=60_000)
        assert pg.get_attribute('.chart[data-key="val/loss"]', "data-runs") == "3"
        with pg.expect_event("requestfinished", lambda r: r.url.endswith("/api/v1/projects")):
            held[0].continue_()
        pg.evaluate("() => new Promise((ok) => setTimeout(ok, 200))")  # the stale page's continuation ran
        assert pg.evaluate("location.hash").startswith("#/compare?runs=")
        assert pg.locator(".chart").count() == 1 and pg.locator("table.runs").count() == 0
    finally:
        p.close()
