"""Dashboard test fixtures: a real ``seetrain ui`` process on 127.0.0.1 over a LOGDIR of real run
directories, and headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.

Screenshots go to ``$SEETRAIN_TEST_ARTIFACTS/ui`` (default ``test-artifacts/ui`` in the repo)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import httpx
import pytest

from tests._child import child_env
from tests._services import require_or_skip

HERE = Path(__file__).parent
REPO = HERE.parent.parent
ARTIFACTS = Path(os.environ.get("SEETRAIN_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"
CHROMIUM = os.environ.get("SEETRAIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

pytest.importorskip("fastapi", reason="the dashboard needs the server extra")


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            out = check()
            if out:
                return out
        except Exception as exc:  # not ready yet
            last_exc = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))


class UI:
    """A running ``seetrain ui LOGDIR`` process."""

    def __init__(self, logdir: str, index_dir: str, env: Optional[Dict[str, str]] = None) -> None:
        self.logdir, self.index_dir = logdir, index_dir
        self.log = open(os.path.join(index_dir, "ui.log"), "w+")
        cmd = [sys.executable, "-m", "seetrain.cli", "ui", logdir, "--port", "0", "--index-dir", index_dir]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=child_env(**(env or {})), cwd=str(REPO))
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            raise AssertionError(f"`seetrain ui` printed no URL: {line!r}; log: {self.read_log()}")
        self.url = f"http://127.0.0.1:{m.group(1)}"
        self.http = httpx.Client(base_url=self.url + "/api/v1", timeout=30)
        wait_for(lambda: self.http.get("/health").status_code == 200, 60, "the ui server to answer")

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        assert r.status_code == 200, f"GET {path} {params}: {r.status_code} {r.text[:300]}"
        return r.json()

    def runs(self, project: str, **params: Any) -> List[Dict[str, Any]]:
        return self.get("/runs", project=project, limit=1000, **params)["runs"]

    def run_by_name(self, project: str, name: str) -> Dict[str, Any]:
        return wait_for(lambda: next((r for r in self.runs(project) if r["name"] == name), None), 60,
                        f"run {name!r} of project {project!r} in the index")

    def read_log(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


def sdk(*args: str, check: bool = True, wait: bool = True) -> "subprocess.Popen[str] | subprocess.CompletedProcess[str]":
    """Run tests/ui/make_demo.py (the real SDK in its own process)."""
    cmd = [sys.executable, str(HERE / "make_demo.py"), *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=str(REPO), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=str(REPO), env=child_env(), capture_output=True, text=True, timeout=180, check=check)


@pytest.fixture(scope="session")
def demo_logdir(tmp_path_factory) -> str:
    """Project "demo": three finished runs with metrics, media and console, and one crashed run."""
    logdir = str(tmp_path_factory.mktemp("ui_logs"))
    sdk(logdir)
    sdk(logdir, "--crash", check=False)
    return logdir


@pytest.fixture(scope="session")
def ui(demo_logdir, tmp_path_factory) -> Iterator[UI]:
    """``seetrain ui`` over the demo LOGDIR, with all four demo runs indexed."""
    server = UI(demo_logdir, str(tmp_path_factory.mktemp("ui_index")))
    try:
        wait_for(lambda: len(server.runs("demo")) == 4 and all(r["records"] >= 20 for r in server.runs("demo")), 60,
                 "the four demo runs to be indexed")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright import sync_api
    except ImportError as exc:
        require_or_skip(f"browser tests need playwright (dev extra): {exc}")
    if not os.path.exists(CHROMIUM):
        require_or_skip(f"browser tests need Chromium at {CHROMIUM} (Debian package chromium; scripts/system-deps.sh)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A browser page on the dashboard that records every request and every page error."""

    def __init__(self, browser, ui: UI) -> None:
        self.ui = ui
        # bypass_csp: Playwright's wait_for_function evaluates its string with eval, which the page's
        # CSP forbids; tests/ui/test_browser_security.py checks the page under its real policy
        self.ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        self.page = self.ctx.new_page()
        self.requests: List[str] = []
        self.errors: List[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" and "404" not in m.text else None)

    def open(self, hash_: str = "") -> Any:
        self.page.goto(f"{self.ui.url}/#{hash_}")
        return self.page

    def shot(self, name: str, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def wait_rendered(self, timeout: float = 30_000) -> None:
        self.page.wait_for_function("window.seetrain && window.seetrain.rendered", timeout=timeout)

    def chart(self, key: str) -> Dict[str, str]:
        sel = f'.chart[data-key="{key}"]'
        self.page.wait_for_selector(f"{sel}[data-points]", timeout=30_000)
        return self.page.eval_on_selector(sel, "e => Object.assign({}, e.dataset)")

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def page(browser, ui) -> Iterator[Page]:
    """A fresh page on the session's dashboard; fails the test on a page error or a request to
    anything but the dashboard's own server."""
    p = Page(browser, ui)
    yield p
    outside = [u for u in p.requests if not u.startswith(ui.url + "/") and not u.startswith(("data:", "blob:"))]
    p.close()
    assert not outside, f"the page requested something outside the server: {outside[:5]}"
    assert not p.errors, f"errors on the page: {p.errors[:5]}"


@pytest.fixture(scope="session")
def edges_run(ui, demo_logdir) -> Dict[str, Any]:
    """Project "edges" in the session's LOGDIR: tiny/huge values, NaN and +/-Inf, system metrics, a
    long multi-line text, a 600x400 image (make_demo.py --edges); its index row once fully read."""
    sdk(demo_logdir, "--edges")
    return wait_for(lambda: next((r for r in ui.runs("edges") if r["status"] == "success" and r["records"] >= 100), None),
                    60, "the edges run to be indexed")


@pytest.fixture(scope="session")
def wide_runs(ui, demo_logdir) -> List[Dict[str, Any]]:
    """Project "wide": 60 finished runs with seven config keys each (make_demo.py --wide 60)."""
    sdk(demo_logdir, "--wide", "60")
    return wait_for(lambda: (lambda rs: rs if len(rs) == 60 and all(r["status"] == "success" for r in rs) else None)(ui.runs("wide")),
                    90, "the 60 wide runs to be indexed")
