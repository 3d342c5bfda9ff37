"""Issue 21 in real headless Chromium and real server processes: uploaded media never run script on
the dashboard's origin, the page runs only its own scripts, another site's page cannot write into a
run, and `seetrain ui` is a viewer (no ingest route, Host checked)."""

from __future__ import annotations

import http.client
import http.server
import socket
import subprocess
import sys
import threading
import time
import uuid as _uuid
from typing import Iterator

import httpx
import orjson
import pytest

from tests._child import child_env

from .conftest import REPO, UI, wait_for
from .rundirs import write_run_json

SCRIPTED = {"a.html": b"<html><body><script>fetch('/pwned-html'); document.title = 'pwned'</script></body></html>",
            "a.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/pwned-svg")</script></svg>',
            "ok.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 16}


@pytest.fixture(scope="module")
def media_ui(tmp_path_factory) -> Iterator[UI]:
    """`seetrain ui` over one run whose media files are named a.html, a.svg (with scripts) and ok.png."""
    logdir = tmp_path_factory.mktemp("sec_logs")
    run_dir = logdir / "sec" / "r"
    meta = write_run_json(str(run_dir))
    (run_dir / "media").mkdir()
    with open(run_dir / "records.jsonl", "wb") as f:
        for i, (name, data) in enumerate(SCRIPTED.items()):
            (run_dir / "media" / name).write_bytes(data)
            f.write(orjson.dumps({"seq": i, "time": time.time(), "type": "metrics", "step": i,
                                  "data": {f"m{i}": {"_type": "text", "path": f"media/{name}"}}}) + b"\n")
    ui = UI(str(logdir), str(tmp_path_factory.mktemp("sec_index")))
    try:
        wait_for(lambda: len(ui.get(f"/runs/{meta['uuid']}/media")) == len(SCRIPTED), 60, "the media indexed")
        ui.run_uuid = meta["uuid"]  # type: ignore[attr-defined]
        yield ui
    finally:
        ui.stop()


def test_opening_a_scripted_media_file_downloads_it_and_runs_nothing(browser, media_ui):
    items = {m["path"]: m for m in media_ui.get(f"/runs/{media_ui.run_uuid}/media")}
    ctx = browser.new_context(accept_downloads=True)
    try:
        pg = ctx.new_page()
        requests = []
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(media_ui.url + "/")  # the dashboard's origin, where the page keeps the API key
        title = pg.title()
        for name in ("a.html", "a.svg"):
            url = media_ui.url + items[f"media/{name}"]["url"]
            with pg.expect_download(timeout=15_000) as download:
                pg.evaluate("u => { location.href = u; }", url)
            assert download.value.url == url
            other = ctx.new_page()  # opened in a tab of its own, too
            with other.expect_download(timeout=15_000):
                other.evaluate("u => { location.href = u; }", url)
            other.close()
        png = pg.request.get(media_ui.url + items["media/ok.png"]["url"])
        assert png.headers["content-type"] == "image/png" and "content-disposition" not in png.headers
        assert pg.title() == title
        assert not [u for u in requests if "pwned" in u], "a media file's script ran"
    finally:
        ctx.close()


def test_the_page_runs_only_its_own_scripts(browser, ui):
    """The dashboard under its real policy (no bypass): runs table, charts, media all work, and the
    browser reports no violation; a script injected into the page does not run."""
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        violations, errors = [], []
        pg.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        response = pg.goto(ui.url + "/#/p/demo")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        pg.wait_for_selector("table.runs tbody tr[data-name='run-0']")
        pg.click("table.runs tbody tr[data-name='run-0'] td.name a")
        pg.wait_for_selector('.chart[data-key="train/loss"][data-points="120"] canvas', timeout=30_000)
        pg.click("button[data-tab=media]")
        pg.wait_for_selector("section.media[data-type=image] img")
        pg.wait_for_selector("section.media[data-type=histogram] canvas")
        assert not violations and not errors, (violations, errors)
        pg.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                    " document.body.append(s); }")
        wait_for(lambda: violations, 10, "the browser to report the blocked inline script")
        assert pg.evaluate("window.injected") is None
    finally:
        ctx.close()


def test_ui_has_no_write_routes_and_checks_the_host(media_ui):
    u = media_ui.run_uuid
    h = {"Content-Type": "application/json"}
    for method, path in (("PUT", f"/runs/{u}"), ("POST", f"/runs/{u}/records"), ("POST", f"/runs/{u}/finish"),
                         ("PUT", f"/runs/{_uuid.uuid4().hex}")):
        r = media_ui.http.request(method, path, content=b'{"status": "killed", "project": "sec"}', headers=h)
        assert r.status_code in (404, 405), (method, path, r.status_code)
    r = media_ui.http.put(f"/runs/{u}/media/media/x.png", content=b"x",
                          headers={"Content-Type": "application/octet-stream"})
    assert r.status_code in (404, 405)
    assert media_ui.get(f"/runs/{u}")["status"] == "success"
    port = int(media_ui.url.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/api/v1/projects", headers={"Host": "rebind.attacker.example"})
    r = c.getresponse()
    assert r.status == 400 and r.getheader("content-type") == "application/json"
    assert "--allowed-hosts" in orjson.loads(r.read())["detail"]
    c.close()


# --- a page of another site posting into a `seetrain server` run -----------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def open_server(tmp_path) -> Iterator[str]:
    """A loopback `seetrain server` without keys (writable by anyone who can reach it)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "seetrain.cli", "server", "--db", str(tmp_path / "s.db"),
                             "--blobs", str(tmp_path / "blobs"), "--port", str(port)], cwd=str(REPO),
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/api/v1/health").status_code == 200, 60, "the server to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _serve_page(html: bytes) -> http.server.ThreadingHTTPServer:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_another_sites_page_cannot_write_into_a_run(browser, open_server):
    u = _uuid.uuid4().hex
    api = httpx.Client(base_url=open_server + "/api/v1", timeout=30)
    assert api.put(f"/runs/{u}", json={"project": "p", "id": "r", "name": "r"}).status_code == 200
    assert api.post(f"/runs/{u}/finish", json={"status": "success", "exit_code": 0}).status_code == 200
    records = orjson.dumps({"records": [{"seq": 0, "time": 1.0, "type": "console", "stream": "stdout",
                                         "line": "forged"}]}).decode()
    target = f"{open_server}/api/v1/runs/{u}"
    script = (f"const post = (path, body) => fetch({target!r} + path, {{method: 'POST', mode: 'no-cors', "
              "headers: {'Content-Type': 'text/plain'}, body}).catch(() => null);"
              f"Promise.all([post('/finish', '{{\"status\": \"killed\"}}'), post('/records', {records!r})])"
              ".then(() => { window.done = true; });")
    page_srv = _serve_page(f"<!doctype html><title>elsewhere</title><script>{script}</script>".encode())
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        pg.goto(f"http://127.0.0.1:{page_srv.server_address[1]}/")  # another port: another origin
        pg.wait_for_function("window.done === true", timeout=15_000)
    finally:
        ctx.close()
        page_srv.shutdown()
    run = api.get(f"/runs/{u}").json()
    assert run["status"] == "success"
    assert api.get(f"/runs/{u}/console").json() == []
