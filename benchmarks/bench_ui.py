"""The dashboard (`seetrain ui`): API speed on long runs and many runs, live latency, first render.

    python benchmarks/bench_ui.py [--points 1000000] [--runs 10000] [--repeats 20]

Prints a table. Targets on a 2-core machine:
  - GET /api/v1/series over a 1,000,000-point key, downsampled (min/max kept): < 100 ms
  - GET /api/v1/runs first page (50) of 10,000 runs: < 300 ms
  - log-to-chart latency for a live run (SDK process -> run dir -> watcher -> index -> page): < 2 s
  - first render of a run page with 20 charts in headless Chromium: < 1 s
  - compare of 100 runs x 10 charts, first render: < 1.5 s; the runs table does no DOM work when
    nothing changed (0 mutations)
It also times grouping (issue 25): the compare's 10 charts regrouped by a config key (one line a group
with its band), and the runs table grouped over 1,000 runs (bench_ui_analysis.py times the analysis
panel's group-by and parallel coordinates).
It also prints how fast the watcher indexes a run directory (records/s).

Everything is real: the runs are run directories (the 1M-point one written in format 2 directly,
the live one by the SDK in another process), the server is a `seetrain ui` process on 127.0.0.1,
the browser is /usr/bin/chromium driven by Playwright. The 10,000 runs are put into the index
through the server's in-process ingest (as the watcher does), to keep the setup short.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as _uuid

import httpx
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.ui.rundirs import scalar_series_run, write_run_json  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
# pages open with bypass_csp: Playwright evaluates wait_for_function strings with eval, which the page's
# Content-Security-Policy forbids (tests/ui/test_browser_security.py checks the page under its real policy)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def cpu_seconds(server_pid: int) -> float:
    """CPU time (user + system) used so far by the server process and every Chromium process: the
    work a page load costs, whatever else the machine is doing."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["pid", "name"]):
        try:
            if p.info["pid"] == server_pid or (p.info["name"] or "").startswith("chromium"):
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def timed_get(client: httpx.Client, path: str, params, repeats: int):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = client.get(path, params=params)
        times.append((time.perf_counter() - t) * 1e3)
        r.raise_for_status()
    return times, r.json()


def index_many_runs(store, n: int) -> None:
    """n runs of project "many" (config, tags, three metrics each) through the in-process ingest."""
    from seetrain.server.ingest import add_records, upsert_run

    t0 = time.time() - n
    for lo in range(0, n, 1000):
        with store.write() as conn:
            for i in range(lo, min(n, lo + 1000)):
                u = _uuid.uuid4().hex
                upsert_run(conn, u, {"project": "many", "id": f"r{i:05d}", "name": f"run-{i:05d}", "status": "success",
                                     "start_time": t0 + i, "end_time": t0 + i + 30, "tags": ["sweep", f"g{i % 10}"],
                                     "config": {"lr": 10 ** -(i % 5), "batch": 32 * (1 + i % 4), "seed": i}})
                add_records(conn, u, [{"seq": s, "time": t0 + i + s, "type": "metrics", "step": s,
                                       "data": {"loss": 1.0 / (s + 1), "acc": s / 3}} for s in range(3)])


def index_compare_runs(store, n: int, keys: int, steps: int) -> list:
    """n runs of project "cmp", each with ``keys`` metrics over ``steps`` steps; their uuids."""
    from seetrain.server.ingest import add_records, upsert_run

    t0, uuids = time.time() - 3600, []
    for i in range(n):
        u = _uuid.uuid4().hex
        uuids.append(u)
        with store.write() as conn:
            upsert_run(conn, u, {"project": "cmp", "id": f"c{i:03d}", "name": f"cmp-{i:03d}", "status": "success",
                                 "start_time": t0 + i, "end_time": t0 + i + steps,
                                 "config": {"lr": 1e-4 * (1 + i), "seed": i, "opt": ("adam", "sgd", "adamw")[i % 3]}})
            add_records(conn, u, [{"seq": s, "time": t0 + i + s, "type": "metrics", "step": s,
                                   "data": {f"{('train', 'val')[k % 2]}/m{k}": float(np.exp(-s / (50 + i)) + 0.01 * k + 0.001 * i)
                                            for k in range(keys)}} for s in range(steps)])
    return uuids


def start_ui(logdir: str, index: str):
    proc = subprocess.Popen([sys.executable, "-m", "seetrain.cli", "ui", logdir, "--port", "0", "--index-dir", index],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
    if not m:
        proc.kill()
        raise SystemExit("seetrain ui did not start")
    url = f"http://127.0.0.1:{m.group(1)}"
    for _ in range(600):
        try:
            if httpx.get(url + "/api/v1/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--live-samples", type=int, default=15)
    ap.add_argument("--compare-runs", type=int, default=100)
    ap.add_argument("--shots", default="/tmp/ui25", help="folder for the screenshots to look at")
    args = ap.parse_args(argv)

    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings
    from seetrain.server.watcher import Watcher

    tmp = tempfile.mkdtemp(prefix="bench_ui_")
    logdir, index = os.path.join(tmp, "logs"), os.path.join(tmp, "index")
    os.makedirs(index)
    rows = []

    # 1. a 1M-point run, indexed by the watcher (in-process, to time it)
    values = np.sin(np.arange(args.points) / 1000.0)
    values[args.points * 2 // 3] = 50.0
    big = scalar_series_run(os.path.join(logdir, "big", "long"), "train/loss", values, name="long")
    # 20 keys x 1000 steps for the first-render measurement
    d20 = os.path.join(logdir, "big", "twenty")
    m20 = write_run_json(d20, name="twenty")
    with open(os.path.join(d20, "records.jsonl"), "wb") as f:
        for s in range(1000):
            data = ",".join(f'"{g}/m{k}":{np.sin(s / 50 + k):.6f}' for k in range(20) for g in [("train", "eval", "sys")[k % 3]])
            f.write(b'{"seq":%d,"time":%r,"type":"metrics","step":%d,"data":{%s}}\n' % (s, time.time() + s, s, data.encode()))
    store = create_app(Settings(db=os.path.join(index, "index.db"), blobs=os.path.join(index, "blobs"), api_key="")).state.store
    w = Watcher(logdir, store, state_file=os.path.join(index, "watcher.json"))
    t = time.perf_counter()
    w.poll_once()
    while w.behind():
        w.poll_once()
    took = time.perf_counter() - t
    n_rec = args.points + 1000
    rows.append(("watcher indexes run directories", f"{n_rec / took:,.0f} records/s", "-",
                 f"{n_rec:,} records ({args.points:,} x 1 key, 1,000 x 20 keys) in {took:.1f} s"))
    w.stop()
    index_many_runs(store, args.runs)
    cmp_uuids = index_compare_runs(store, args.compare_runs, 10, 300)
    store.engine.dispose()

    proc, url = start_ui(logdir, index)
    try:
        api = httpx.Client(base_url=url + "/api/v1", timeout=60)
        times, ans = timed_get(api, "/series", {"run": big["uuid"], "key": "train/loss", "points": 1000}, args.repeats)
        s = ans["series"][0]
        assert s["total"] == args.points and max(s["ymax"]) == 50.0, "the spike must survive downsampling"
        rows.append((f"GET /series, {args.points:,} points -> {len(s['x'])}", f"{statistics.median(times):.1f} ms",
                     "< 100 ms", f"p90 {pct(times, 0.9):.1f} ms; min/max kept (spike 50.0 present)"))
        times, ans = timed_get(api, "/runs", {"project": "many", "limit": 50, "sort": "-start_time"}, args.repeats)
        assert ans["total"] == args.runs
        rows.append((f"GET /runs first page (50 of {args.runs:,})", f"{statistics.median(times):.1f} ms", "< 300 ms",
                     f"p90 {pct(times, 0.9):.1f} ms"))
        times, ans = timed_get(api, "/runs", {"project": "many", "limit": 50, "status": "success", "tag": "g3",
                                              "config.batch": "64", "sort": "name"}, max(5, args.repeats // 4))
        rows.append((f"GET /runs filtered (tag, status, config) of {args.runs:,}", f"{statistics.median(times):.1f} ms",
                     "-", f"{ans['total']} match"))

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("SEETRAIN_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            # 4. first render of 20 charts
            renders, statics, busy, cpu = [], [], [], []
            for _ in range(5):
                page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page.goto(f"{url}/vendor/uPlot.LICENSE.txt")  # a tab on the site (its renderer process running)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                cpu0 = cpu_seconds(proc.pid)
                page.goto(f"{url}/#/run/{m20['uuid']}")
                page.wait_for_function("window.seetrain && window.seetrain.rendered", timeout=60_000)
                n = page.eval_on_selector_all(".chart[data-total='1000']", "e => e.length")
                assert n == 20, n
                renders.append(page.evaluate("window.seetrain.rendered"))
                statics.append(page.evaluate("performance.getEntriesByType('resource')"
                                             ".find(e => e.name.includes('/api/v1/')).startTime"))
                cpu.append((cpu_seconds(proc.pid) - cpu0) * 1e3)
                metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                busy.append(metrics.get("TaskDuration", 0) * 1e3)  # the page's own main-thread work
                page.close()
            rows.append(("first render, run page with 20 charts x 1000 pts", f"{statistics.median(renders):.0f} ms",
                         "< 1 s", f"from navigation to every chart drawn; max {max(renders):.0f} ms (5 loads); "
                         f"page files loaded at {statistics.median(statics):.0f} ms; main-thread tasks "
                         f"{statistics.median(busy):.0f} ms wall; CPU used by Chromium + server "
                         f"{statistics.median(cpu):.0f} ms"))
            # runs table in the browser
            page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
            t = time.perf_counter()
            page.goto(f"{url}/#/p/many")
            page.wait_for_function("window.seetrain && window.seetrain.rendered", timeout=60_000)
            rows.append((f"runs table page render ({args.runs:,} runs)", f"{page.evaluate('window.seetrain.rendered'):.0f} ms",
                         "-", "from navigation to the first 50 rows shown"))
            # the runs table does no DOM work while nothing changes (live refresh every 2 s)
            page.evaluate("""() => { window.__mut = 0; new MutationObserver(ms => { window.__mut += ms.length; })
                .observe(document.querySelector('table.runs'), {subtree: true, childList: true, attributes: true, characterData: true}); }""")
            asks = "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/runs?')).length"
            n0 = page.evaluate(asks)
            page.wait_for_function(f"{asks} >= {n0 + 3}", timeout=60_000, polling=200)
            rows.append(("runs table DOM mutations while nothing changed", f"{page.evaluate('window.__mut')}", "0",
                         f"MutationObserver on the table over {page.evaluate(asks) - n0} live refreshes"))
            os.makedirs(args.shots, exist_ok=True)
            page.screenshot(path=os.path.join(args.shots, "bench-runs-table.png"))
            page.close()
            # compare of N runs x 10 charts: first render, one batched series request
            cmp_ms, cmp_series, regroup = [], [], []
            for i in range(5):
                page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page.goto(f"{url}/vendor/uPlot.LICENSE.txt")
                page.goto(f"{url}/#/compare?runs={','.join(cmp_uuids)}")
                page.wait_for_function("window.seetrain && window.seetrain.rendered", timeout=60_000)
                n = page.eval_on_selector_all(f".chart[data-runs='{len(cmp_uuids)}']", "e => e.length")
                assert n == 10, n
                cmp_ms.append(page.evaluate("window.seetrain.rendered"))
                cmp_series.append(page.evaluate("performance.getEntriesByType('resource')"
                                                ".filter(e => e.name.includes('/api/v1/series')).length"))
                if i == 0:
                    page.screenshot(path=os.path.join(args.shots, "bench-compare-100.png"))
                # group the 100 runs by a config key: every chart redrawn with a line per group (no request)
                regroup.append(page.evaluate("""() => { const t0 = performance.now(), inp = document.querySelector('input[name=groupby]');
                    inp.value = 'opt'; inp.dispatchEvent(new Event('change'));
                    const n = [...window.seetrain.charts.values()].filter(c => c.el.dataset.groups === '3').length;
                    if (n !== 10) throw new Error('grouped charts: ' + n);
                    return performance.now() - t0; }"""))
                if i == 0:
                    page.screenshot(path=os.path.join(args.shots, "bench-compare-100-grouped.png"))
                page.close()
            rows.append((f"compare {len(cmp_uuids)} runs x 10 charts, first render", f"{statistics.median(cmp_ms):.0f} ms",
                         "< 1.5 s", f"from navigation to every chart drawn; max {max(cmp_ms):.0f} ms (5 loads); "
                         f"{statistics.median(cmp_series):.0f} /series request(s); 300 steps a run"))
            rows.append((f"compare {len(cmp_uuids)} runs x 10 charts, group by a key", f"{statistics.median(regroup):.0f} ms", "-",
                         f"3 groups: mean line + min-max band on every chart, from the change to every chart redrawn; max {max(regroup):.0f} ms"))
            # the runs table grouped by a config key: every matching run (up to 1,000) under its group's row
            grouped, opened = [], []
            for _ in range(5):
                page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page.goto(f"{url}/vendor/uPlot.LICENSE.txt")
                page.goto(f"{url}/#/p/many")
                page.wait_for_function("window.seetrain && window.seetrain.rendered", timeout=60_000)
                t0 = page.evaluate("""() => { const t0 = performance.now(), inp = document.querySelector('input[name=groupby]');
                    inp.value = 'batch'; inp.dispatchEvent(new Event('change')); return t0; }""")
                page.wait_for_function("document.querySelectorAll('tr.group-row').length === 4 && window.seetrain.rendered > " + repr(t0),
                                       timeout=60_000)
                grouped.append(page.evaluate("window.seetrain.rendered") - t0)
                n_rows = page.eval_on_selector_all("table.runs tbody tr:not(.group-row)", "e => e.length")
                assert n_rows == 1000, n_rows
                page.reload()  # the grouping is in the URL: a fresh page opens grouped
                page.wait_for_function("window.seetrain && window.seetrain.rendered && document.querySelectorAll('tr.group-row').length === 4",
                                       timeout=60_000)
                opened.append(page.evaluate("window.seetrain.rendered"))
                page.close()
            rows.append(("runs table grouped by a key (1,000 of 10,000 runs)", f"{statistics.median(grouped):.0f} ms", "< 500 ms",
                         f"ask + draw: from the change to 4 group rows + 1,000 run rows drawn; max {max(grouped):.0f} ms; "
                         f"a grouped link opened: {statistics.median(opened):.0f} ms from navigation"))
            # 3. log-to-chart latency of a live run
            progress = os.path.join(logdir, "live.progress")
            live = subprocess.Popen([sys.executable, os.path.join(REPO, "tests", "ui", "make_demo.py"), logdir, "--live", "120"],
                                    cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(600):
                    runs = api.get("/runs", params={"project": "live"}).json()["runs"]
                    if runs:
                        break
                    time.sleep(0.1)
                page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page.goto(f"{url}/#/run/{runs[0]['uuid']}")
                page.wait_for_function("window.seetrain && window.seetrain.rendered", timeout=60_000)
                lat = []
                for _ in range(args.live_samples):
                    time.sleep(0.37)  # sample at moments unrelated to the poll period
                    step, _value, t_logged = open(progress).read().split()
                    page.wait_for_function(
                        f"+document.querySelector('.chart[data-key=\"train/loss\"]').dataset.total >= {int(step) + 1}",
                        timeout=30_000, polling=20)
                    lat.append(time.time() - float(t_logged))
                page.close()
            finally:
                open(os.path.join(logdir, "stop"), "w").close()
                live.wait(30)
            rows.append(("log-to-chart latency, live run", f"p50 {statistics.median(lat):.2f} s", "< 2 s",
                         f"p90 {pct(lat, 0.9):.2f} s, max {max(lat):.2f} s ({len(lat)} samples; "
                         "SDK flush 0.1 s, watcher 0.25 s, page poll 1 s)"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    w1 = max(len(r[0]) for r in rows)
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'measure':<{w1}}  {'result':>16}  {'target':>9}  notes")
    print("-" * (w1 + 60))
    for name, res, target, note in rows:
        print(f"{name:<{w1}}  {res:>16}  {target:>9}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
