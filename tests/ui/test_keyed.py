"""The page on a dashboard that requires an API key: it says so without one, and with `?key=` it
shows runs and media (fetched with the key, since an <img> cannot send headers)."""

from __future__ import annotations

from .conftest import UI, Page, wait_for

KEY = "ui-test-key-0123456789"


def test_keyed_dashboard_needs_the_key_and_works_with_it(browser, demo_logdir, tmp_path):
    ui = UI(demo_logdir, str(tmp_path), env={"SEETRAIN_SERVER_API_KEY": KEY})
    try:
        ui.http.headers["Authorization"] = f"Bearer {KEY}"
        run = ui.run_by_name("demo", "run-0")
        wait_for(lambda: len(ui.get(f"/runs/{run['uuid']}/media", key="samples")) == 3, 60, "media indexed")
        anon = Page(browser, ui)
        anon.page.goto(f"{ui.url}/#/p/demo")
        anon.page.wait_for_selector(".warnbox, .toolbar span.muted:has-text('401')", timeout=15_000)
        assert "401" in anon.page.inner_text("main")
        anon.close()
        p = Page(browser, ui)
        p.page.goto(f"{ui.url}/?key={KEY}#/run/{run['uuid']}")
        p.wait_rendered()
        assert int(p.chart("train/loss")["total"]) == 120
        p.page.click("button[data-tab=media]")
        p.page.wait_for_function("(() => { const i = document.querySelector('section.media[data-type=image] img');"
                                 " return i && i.complete && i.naturalWidth === 24; })()", timeout=15_000)
        p.close()
    finally:
        ui.stop()
