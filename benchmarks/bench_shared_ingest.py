"""SeeTrain server: ingest of a shared run from 8 writers at once vs one writer (issue 23).

    python benchmarks/bench_shared_ingest.py [--records 100000] [--keys 10] [--writers 8] [--repeats 3]

Two run directories written by ``seetrain.init``: a shared run of ``--writers`` real processes
(``RANK``/``WORLD_SIZE`` set, ``shared=True``), each logging ``records / writers`` records, and a
one-writer run of all ``--records`` records: the same points. Each is sent to one real ``seetrain
server`` process (SQLite) by the sender of online mode and ``seetrain sync`` (``RunSync``): the
shared run by one process per writer, all at once (``RunSync(writer=label)``, each ships its own
log as an online-mode writer does), the one-writer run by one process. Each repeat is a fresh run
on the server (new uuids). Wall time runs from the first sender's first request to the last one's
end (imports not counted). Target: 8 writers at once reach the one-writer figure within 20 %.
Prints a table with the load average (the figures are only comparable within one run of it).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import List, Optional

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_server import start_server, stop  # noqa: E402

PY = sys.executable

WRITE = textwrap.dedent("""
    import sys, seetrain
    logdir, run_id, n, keys, shared = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
    run = seetrain.init(project="bench", id=run_id, logdir=logdir, shared=shared, system_metrics=False, console="off")
    names = [f"metric_{i}" for i in range(keys)]
    for step in range(n):
        run.log({k: step * 0.001 + i for i, k in enumerate(names)}, step=step)
    run.finish()
""")

SEND = textwrap.dedent("""
    import sys, time
    from seetrain.sender import Client, RunSync
    run_dir, url, writer = sys.argv[1], sys.argv[2], sys.argv[3]
    sync = RunSync(run_dir, Client(url), writer=None if writer == "*" else writer)
    t0 = time.time()
    sync.drain()
    print(t0, time.time())
""")


def _env(rank: Optional[int], world: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                       os.environ.get("PYTHONPATH", "")]))
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        env.pop(k, None)
    if rank is not None:
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    return env


def write_runs(tmp: str, records: int, keys: int, writers: int) -> tuple:
    """The shared run (``writers`` processes at once) and the one-writer run of the same points."""
    script = os.path.join(tmp, "write.py")
    with open(script, "w") as f:
        f.write(WRITE)
    logdir = os.path.join(tmp, "logs")
    procs = [subprocess.Popen([PY, script, logdir, "shared", str(records // writers), str(keys), "1"],
                              env=_env(r, writers)) for r in range(writers)]
    procs.append(subprocess.Popen([PY, script, logdir, "single", str(records // writers * writers), str(keys), "0"],
                                  env=_env(None, 1)))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("a writer process failed")
    return os.path.join(logdir, "bench", "shared"), os.path.join(logdir, "bench", "single")


def fresh_uuid(run_dir: str) -> List[str]:
    """A new uuid in run.json and every writer.json (a fresh run on the server); the labels to send."""
    uuid = os.urandom(16).hex()
    metas = [os.path.join(run_dir, "run.json")] + glob.glob(os.path.join(run_dir, "writers", "*", "writer.json"))
    for path in metas:
        with open(path, "rb") as f:
            meta = orjson.loads(f.read())
        meta["uuid"] = uuid
        with open(path, "wb") as f:
            f.write(orjson.dumps(meta))
    shutil.rmtree(os.path.join(run_dir, ".sync"), ignore_errors=True)
    return [""] + sorted(os.path.basename(os.path.dirname(p)) for p in metas[1:])


def send(tmp: str, url: str, run_dir: str, labels: List[str], server_pid: int) -> tuple:
    """One sender process per label, all at once: (wall seconds, server CPU seconds)."""
    import psutil

    script = os.path.join(tmp, "send.py")
    with open(script, "w") as f:
        f.write(SEND)
    proc = psutil.Process(server_pid)
    c0 = sum(proc.cpu_times()[:2])
    procs = [subprocess.Popen([PY, script, run_dir, url, label], env=_env(None, 1), stdout=subprocess.PIPE, text=True)
             for label in labels]
    spans = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError("a sender failed")
        spans.append(tuple(map(float, out.split())))
    return max(e for _, e in spans) - min(s for s, _ in spans), sum(proc.cpu_times()[:2]) - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="seetrain-bench-shared-")
    try:
        shared_dir, single_dir = write_runs(tmp, args.records, args.keys, args.writers)
        points = args.records // args.writers * args.writers * args.keys
        srv, url = start_server(os.path.join(tmp, "db.sqlite"), os.path.join(tmp, "blobs"))
        try:
            one, many = [], []
            for _ in range(args.repeats):  # interleaved: a change of load touches both alike
                for run_dir, out in ((single_dir, one), (shared_dir, many)):
                    labels = fresh_uuid(run_dir)
                    out.append(send(tmp, url, run_dir, ["*"] if run_dir == single_dir else labels, srv.pid))
        finally:
            stop(srv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = {name: [points / w for w, _ in xs] for name, xs in (("one", one), ("many", many))}
    cpu = {name: [points / c for _, c in xs] for name, xs in (("one", one), ("many", many))}
    rows = [
        ("ingest, 1 writer", f"{statistics.median(rate['one']):,.0f} points/s",
         f"min {min(rate['one']):,.0f} max {max(rate['one']):,.0f}; server {statistics.median(cpu['one']):,.0f} "
         f"points per CPU-second ({points:,} points, {args.keys} scalars a record)", ""),
        (f"ingest, {args.writers} writers at once", f"{statistics.median(rate['many']):,.0f} points/s",
         f"min {min(rate['many']):,.0f} max {max(rate['many']):,.0f}; server {statistics.median(cpu['many']):,.0f} "
         f"points per CPU-second (one sender process per writer)", ""),
        ("  writers / one writer", f"{statistics.median(rate['many']) / statistics.median(rate['one']):.2f}x",
         f"wall; per server CPU-second {statistics.median(cpu['many']) / statistics.median(cpu['one']):.2f}x",
         ">= 0.80x"),
    ]
    w = [max(len(str(r[i])) for r in rows + [("measure", "value", "detail", "target")]) for i in range(4)]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.repeats} repeats, medians")
    for r in [("measure", "value", "detail", "target"), tuple("-" * x for x in w)] + rows:
        print("  ".join(str(c).ljust(x) for c, x in zip(r, w)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
