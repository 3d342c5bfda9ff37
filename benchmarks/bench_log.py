"""Core SDK overhead: log() latency, end-to-end throughput, import/init/finish time, disk, RSS.

    python benchmarks/bench_log.py [--steps 20000] [--keys 10]

Prints a table. Targets on a 2-core machine: log() p50 <= 5 us and p99 <= 50 us for a 10-scalar
step, >= 1,000,000 points/s end to end including finish, import < 50 ms, init() < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def _import_time_ms(repeats: int = 5) -> float:
    code = "import time; t=time.perf_counter(); import seetrain; print((time.perf_counter()-t)*1e3)"
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    times.sort()
    return times[len(times) // 2]


def _dir_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--keys", type=int, default=10)
    args = ap.parse_args(argv)

    import psutil

    import_ms = _import_time_ms()
    import seetrain

    logdir = tempfile.mkdtemp(prefix="seetrain-bench-")
    keys = [f"metric_{i}" for i in range(args.keys)]
    try:
        t0 = time.perf_counter()
        run = seetrain.init(project="bench", logdir=logdir, config={"steps": args.steps}, system_metrics=False)
        init_ms = (time.perf_counter() - t0) * 1e3

        # 1) throughput: the user's rows exist; time log() for all of them plus finish()
        rows_in = [{k: step * 0.001 + i for i, k in enumerate(keys)} for step in range(args.steps)]
        tp_run = seetrain.init(project="bench", logdir=logdir, system_metrics=False)
        start = time.perf_counter()
        tp_log = tp_run.log
        for row in rows_in:
            tp_log(row)
        tp_run.finish()
        tp_s = time.perf_counter() - start
        del rows_in

        # 2) latency: time each call of a fresh run
        lat = [0.0] * args.steps
        perf = time.perf_counter_ns
        log = run.log
        start = time.perf_counter()
        for step in range(args.steps):
            row = {k: step * 0.001 + i for i, k in enumerate(keys)}
            t = perf()
            log(row)
            lat[step] = (perf() - t) / 1e3
        loop_s = time.perf_counter() - start
        t1 = time.perf_counter()
        run.finish()
        finish_ms = (time.perf_counter() - t1) * 1e3
        total_s = time.perf_counter() - start
        points = args.steps * args.keys
        lat.sort()
        pct = lambda q: lat[min(int(q * len(lat)), len(lat) - 1)]  # noqa: E731
        reader = seetrain.read_run(run.dir)
        n_read = len(reader.scalars(keys[0]).steps)
        rss_mb = psutil.Process().memory_info().rss / 2**20
        peak_mb = None
        try:
            import resource

            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        except Exception:
            pass
        rows = [
            ("log() p50 (10 scalars)", f"{pct(0.50):.2f} us", "<= 5 us"),
            ("log() p99", f"{pct(0.99):.2f} us", "<= 50 us"),
            ("log() p99.9", f"{pct(0.999):.2f} us", ""),
            ("log() max", f"{lat[-1]:.0f} us", ""),
            ("end-to-end points/s (log + finish)", f"{points / tp_s:,.0f}", ">= 1,000,000"),
            ("  same, with per-call timing and row building", f"{points / total_s:,.0f}", ""),
            ("logging loop (timed pass)", f"{loop_s * 1e3:.0f} ms", ""),
            ("finish()", f"{finish_ms:.1f} ms", ""),
            ("import seetrain (median of 5)", f"{import_ms:.1f} ms", "< 50 ms"),
            ("init()", f"{init_ms:.1f} ms", "< 50 ms"),
            ("disk bytes (run dir)", f"{_dir_bytes(run.dir):,}", ""),
            ("bytes per point", f"{_dir_bytes(run.dir) / points:.1f}", ""),
            ("RSS now / peak", f"{rss_mb:.0f} MB / {peak_mb:.0f} MB" if peak_mb else f"{rss_mb:.0f} MB", ""),
            ("steps read back", f"{n_read:,} of {args.steps:,}", "all"),
        ]
        w = max(len(r[0]) for r in rows)
        print(f"SeeTrain core benchmark: {args.steps:,} steps x {args.keys} scalars, Python {sys.version.split()[0]}")
        print(f"{'measure'.ljust(w)}  {'value':>22}  target")
        print("-" * (w + 40))
        for name, value, target in rows:
            print(f"{name.ljust(w)}  {value:>22}  {target}")
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
