"""Artifacts: hashing speed against ``sha256sum``, and what logging unchanged files again costs.

    python benchmarks/bench_artifacts.py [--gb 1.0] [--files 8] [--repeats 3]

Issue 26 targets, over ``--gb`` GB of distinct files in ``--files`` files (page cache warm, as
for files a training job just wrote):

1. Hashing: :func:`seetrain.artifacts.hashing.sha256_file` over every file against
   ``sha256sum`` over the same files (one process, as the store hashes them): >= 80 % of its
   throughput.
2. Logging again: ``log_version`` of the unchanged folder (after a first log that stored it) costs
   the hashing time only: 0 bytes copied, and its time over the hashing time near 1.0.

Repeats are interleaved; each figure is the median. Prints a table; quote the load average printed
beside it (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_files(folder: str, total: int, n: int) -> list:
    os.makedirs(folder, exist_ok=True)
    per = total // n
    block = os.urandom(min(per, 64 << 20))
    paths = []
    for i in range(n):
        p = os.path.join(folder, f"shard-{i:03d}.bin")
        with open(p, "wb") as f:
            f.write(i.to_bytes(8, "little"))  # distinct content per file
            left = per - 8
            while left > 0:
                f.write(block[:left])
                left -= len(block)
        paths.append(p)
    return paths


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temp folder)")
    args = ap.parse_args()
    from seetrain.artifacts.api import log_version
    from seetrain.artifacts.hashing import sha256_file

    total = int(args.gb * (1 << 30))
    work = tempfile.mkdtemp(prefix="bench-artifacts-", dir=args.dir)
    try:
        paths = make_files(os.path.join(work, "model"), total, args.files)
        size = sum(os.path.getsize(p) for p in paths)
        logdir = os.path.join(work, "logs")
        subprocess.run(["sha256sum", *paths], check=True, capture_output=True)  # warm the page cache
        _, first = log_version(logdir, "bench", os.path.join(work, "model"), "model")
        tool, ours, again, copied = [], [], [], []
        for _ in range(args.repeats):
            tool.append(timed(lambda: subprocess.run(["sha256sum", *paths], check=True, capture_output=True)))
            ours.append(timed(lambda: [sha256_file(p) for p in paths]))
            t0 = time.perf_counter()
            _v, stats = log_version(logdir, "bench", os.path.join(work, "model"), "model")
            again.append(time.perf_counter() - t0)
            copied.append(stats.copied_bytes)
        mb = size / (1 << 20)
        t_tool, t_ours, t_again = (statistics.median(x) for x in (tool, ours, again))
        rows = [
            ("sha256sum (coreutils)", f"{t_tool:.2f} s", f"{mb / t_tool:.0f} MB/s", ""),
            ("seetrain sha256_file", f"{t_ours:.2f} s", f"{mb / t_ours:.0f} MB/s",
             f"{t_tool / t_ours * 100:.0f} % of sha256sum (target >= 80 %)"),
            ("first log (hash + copy)", f"{first.seconds:.2f} s", f"{mb / first.seconds:.0f} MB/s",
             f"{first.copied_bytes >> 20} MB copied"),
            ("log unchanged again", f"{t_again:.2f} s", f"{mb / t_again:.0f} MB/s",
             f"{max(copied)} bytes copied; {t_again / t_ours:.2f}x the hashing time"),
        ]
        print(f"{size / (1 << 30):.2f} GB in {args.files} files, {args.repeats} repeats (median); "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(("what", "time", "throughput", "note"))).rstrip())
        for r in rows:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
