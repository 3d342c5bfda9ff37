"""Shared runs (issue 23): what a writer's log() costs, and reading a run many writers wrote.

    python benchmarks/bench_shared.py [--steps 20000] [--repeats 3] [--writers 8] [--records 1000000]

log(): the p50 latency of ``log()`` in a shared run's writer (a writer other than the primary,
while the primary is open in the same process) against the json floor of benchmarks/bench_log.py
(``json.dumps`` + a buffered write), measured interleaved, median and spread over the repeats.
Target: <= 0.25x the floor's p50, the same bar as an unshared run (bench_log.py measures that one).

Reading: a run of ``--writers`` writers x ``--records`` metrics records each (written directly, as
the writers leave them), read with ``seetrain.read_run(...).scalars(key)`` (every writer's log
streamed into columns and merged). Target: >= 500,000 records/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_log import _floor_writer, _latencies, _pct  # noqa: E402


def log_repeat(seetrain, logdir: str, keys: List[str], steps: int, rep: int) -> Dict[str, float]:
    call, close = _floor_writer(os.path.join(logdir, f"floor-{rep}.jsonl"))
    lat = _latencies(call, keys, steps)
    close()
    floor = _pct(lat, 0.5)
    opts = dict(project="bench", id=f"shared-{rep}", logdir=logdir, shared=True, system_metrics=False, console="off")
    primary = seetrain.init(writer="rank0", **opts)
    other = seetrain.init(writer="rank1", **opts)
    lat = _latencies(other.log, keys, steps)
    other.finish()
    primary.finish()
    return {"floor_p50": floor, "log_p50": _pct(lat, 0.5)}


def write_shared_run(logdir: str, writers: int, n: int) -> str:
    """A finished shared run of ``writers`` writers with ``n`` metrics records each."""
    import seetrain

    labels = [f"rank{i}" for i in range(writers)]
    runs = [seetrain.init(project="bench", id="wide", logdir=logdir, shared=True, writer=label, system_metrics=False,
                          console="off") for label in labels]
    for run in reversed(runs):
        run.finish()
    line = b'{"seq":%d,"time":1764079200.5,"type":"metrics","step":%d,"data":{"loss":0.25,"acc":0.5}}\n'
    run_dir = runs[0].dir
    for i, label in enumerate(labels):
        folder = run_dir if i == 0 else os.path.join(run_dir, "writers", label)
        with open(os.path.join(folder, "records.jsonl"), "wb") as f:
            for start in range(0, n, 100_000):
                f.write(b"".join(line % (s, s) for s in range(start, min(start + 100_000, n))))
    return run_dir


def read_seconds(run_dir: str, repeats: int) -> List[Tuple[float, float]]:
    """(wall, CPU) seconds of each read: the CPU time says what the read costs on a shared machine."""
    import seetrain

    out = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        r = seetrain.read_run(run_dir)
        loss = r.scalars("loss")
        out.append((time.perf_counter() - t, time.process_time() - c))
        assert len(loss.values) == len(loss.writers) == r.num_records
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    import seetrain

    keys = [f"metric_{i}" for i in range(args.keys)]
    logdir = tempfile.mkdtemp(prefix="seetrain-bench-shared-")
    try:
        reps = [log_repeat(seetrain, logdir, keys, args.steps, r) for r in range(args.repeats)]
        run_dir = write_shared_run(logdir, args.writers, args.records)
        reads = read_seconds(run_dir, args.repeats)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    total = args.writers * args.records
    ratio = [r["log_p50"] / r["floor_p50"] for r in reps]
    rps = [total / wall for wall, _ in reads]
    cps = [total / cpu for _, cpu in reads]
    rows = [
        ("log() p50 / floor p50 (a shared run's writer)",
         f"{statistics.median(ratio):.2f}x ({min(ratio):.2f}x-{max(ratio):.2f}x)", "<= 0.25x"),
        ("  log() p50", f"{statistics.median(r['log_p50'] for r in reps):.2f} us", ""),
        ("  floor p50", f"{statistics.median(r['floor_p50'] for r in reps):.2f} us", ""),
        (f"read {args.writers} writers x {args.records:,} records (records/s)",
         f"{statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f})", ">= 500,000"),
        ("  records/s of CPU time", f"{statistics.median(cps):,.0f} ({min(cps):,.0f}-{max(cps):,.0f})", ""),
        ("  read time (wall)", f"{statistics.median(w for w, _ in reads):.2f} s", ""),
    ]
    w = max(len(r[0]) for r in rows)
    vw = max(len(r[1]) for r in rows)
    print(f"SeeTrain shared-run benchmark: {args.steps:,} steps x {args.keys} scalars, {args.repeats} repeats, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("median (min-max over repeats)")
    print(f"{'measure'.ljust(w)}  {'value'.rjust(vw)}  target")
    print("-" * (w + vw + 12))
    for name, value, target in rows:
        print(f"{name.ljust(w)}  {value.rjust(vw)}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
