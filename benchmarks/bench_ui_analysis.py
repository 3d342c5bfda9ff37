"""The dashboard's analysis of many runs (issue 25): parallel coordinates and group-by over a
1,000-run sweep, in headless Chromium against a real `seetrain ui` process.

    python benchmarks/bench_ui_analysis.py [--runs 1000] [--steps 50] [--repeats 7]

Prints a table. Targets on a 2-core machine:
  - parallel coordinates over 1,000 runs x 8 config keys (+ the metric axis): < 500 ms from asking
    the server to the drawn plot (GET .../analysis/values + drawing)
  - group-by over 1,000 runs (one key, one metric line per group with its band): < 500 ms from asking
    to the drawn table and chart (GET .../analysis/values and .../analysis/groups + drawing)
The 1,000 runs are put into the ui's index through the server's in-process ingest (as the watcher
does), to keep the setup short; everything after that is the real server and the real page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid as _uuid

import httpx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.bench_ui import ARGS, start_ui, timed_get  # noqa: E402

KEYS = ["lr", "batch", "optimizer", "depth", "width", "dropout", "wd", "warmup"]


def index_sweep(store, n: int, steps: int) -> None:
    """n runs of project "sweep" with 8 config keys and val/acc, train/loss at ``steps`` steps."""
    from seetrain.server.ingest import add_records, upsert_run

    t0 = time.time() - n
    for lo in range(0, n, 250):
        with store.write() as conn:
            for i in range(lo, min(n, lo + 250)):
                u = _uuid.uuid4().hex
                cfg = {"lr": 10 ** (-5 + 4 * ((i * 37) % n) / n), "batch": 16 * (1 + i % 8), "optimizer": ["adam", "adamw", "sgd"][i % 3],
                       "depth": 2 + i % 7, "width": 64 * (1 + i % 4), "dropout": (i % 5) / 10, "wd": 10 ** -(i % 4), "warmup": i % 11 * 100}
                upsert_run(conn, u, {"project": "sweep", "id": f"r{i:04d}", "name": f"run-{i:04d}", "status": "success",
                                     "start_time": t0 + i, "end_time": t0 + i + 30, "tags": [], "config": cfg})
                add_records(conn, u, [{"seq": s, "time": t0 + i + s, "type": "metrics", "step": s,
                                       "data": {"val/acc": 0.5 + 0.4 * (1 - 1 / (s + 1)) * ((i % 13) / 13),
                                                "train/loss": 1.0 / (s + 1) + (i % 7) / 70}} for s in range(steps)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--shots", default=os.environ.get("SEETRAIN_BENCH_SHOTS", "/tmp/ui25b"))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from seetrain.server.app import create_app
    from seetrain.server.settings import Settings

    tmp = tempfile.mkdtemp(prefix="bench_ui_analysis_")
    rows = []
    proc = None
    try:
        logdir, index = os.path.join(tmp, "logs"), os.path.join(tmp, "index")
        os.makedirs(logdir)
        os.makedirs(index)
        store = create_app(Settings(db=os.path.join(index, "index.db"), blobs=os.path.join(index, "blobs"), api_key="")).state.store
        index_sweep(store, args.runs, args.steps)
        store.engine.dispose()
        proc, url = start_ui(logdir, index)
        api = httpx.Client(base_url=url + "/api/v1", timeout=60)
        base = "/projects/sweep/analysis"
        t, ans = timed_get(api, f"{base}/values", {"metric": "val/acc"}, args.repeats)
        assert len(ans["runs"]) == args.runs
        rows.append((f"GET analysis/values ({args.runs:,} runs, last)", f"{statistics.median(t):.0f} ms", "-", "server"))
        t, _ = timed_get(api, f"{base}/values", {"metric": "val/acc", "agg": "max"}, args.repeats)
        rows.append((f"GET analysis/values ({args.runs:,} runs, max over {args.steps} steps)", f"{statistics.median(t):.0f} ms", "-", "server"))
        t, ans = timed_get(api, f"{base}/groups", {"group": "optimizer", "metric": "val/acc"}, args.repeats)
        assert sum(g["size"] for g in ans["groups"]) == args.runs
        rows.append((f"GET analysis/groups ({args.runs:,} runs, 1 key, 1 metric)", f"{statistics.median(t):.0f} ms", "-", "server"))
        t, ans = timed_get(api, f"{base}/importance", {"metric": "val/acc"}, args.repeats)
        rows.append((f"GET analysis/importance ({args.runs:,} runs, {len(ans['keys'])} keys)", f"{statistics.median(t):.0f} ms", "-", "server"))

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("SEETRAIN_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/#/p/sweep?an=pc&metric=val/acc&axes={','.join(KEYS)}")
            page.wait_for_selector(f'.pc[data-runs="{args.runs}"]', timeout=60_000)
            e2e, draw = [], []
            for _ in range(args.repeats):
                ms = page.evaluate("async () => { const t = performance.now(); await window.seetrain.analysis.refresh(); return performance.now() - t; }")
                e2e.append(ms)
                draw.append(page.evaluate("window.seetrain.parcoords.ms"))
            assert page.evaluate("window.seetrain.parcoords.axes") == len(KEYS) + 1
            rows.append((f"parallel coordinates {args.runs:,} runs x {len(KEYS)} keys: ask + draw", f"{statistics.median(e2e):.0f} ms", "< 500 ms",
                         f"p90 {sorted(e2e)[int(0.9 * (len(e2e) - 1))]:.0f} ms"))
            rows.append(("  of which drawing (canvas lines, axes)", f"{statistics.median(draw):.1f} ms", "-", "in the page"))
            if args.shots:
                os.makedirs(args.shots, exist_ok=True)
                page.screenshot(path=os.path.join(args.shots, "bench-parcoords-1000.png"))
            page.goto(f"{url}/#/p/sweep?an=group&group=optimizer&gmetric=val/acc")
            page.wait_for_selector('.group-chart[data-groups="3"]', timeout=60_000)
            e2e = []
            for _ in range(args.repeats):
                ms = page.evaluate("async () => { const t = performance.now(); await window.seetrain.analysis.refresh(); return performance.now() - t; }")
                page.wait_for_selector('.group-chart[data-groups="3"]')
                e2e.append(ms)
            rows.append((f"group-by {args.runs:,} runs (optimizer; table + band chart): ask + draw", f"{statistics.median(e2e):.0f} ms", "< 500 ms",
                         f"p90 {sorted(e2e)[int(0.9 * (len(e2e) - 1))]:.0f} ms"))
            if args.shots:
                page.screenshot(path=os.path.join(args.shots, "bench-groups-1000.png"))
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    w1 = max(len(r[0]) for r in rows)
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'measure':<{w1}}  {'result':>10}  {'target':>9}  notes")
    print("-" * (w1 + 40))
    for name, res, target, note in rows:
        print(f"{name:<{w1}}  {res:>10}  {target:>9}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
