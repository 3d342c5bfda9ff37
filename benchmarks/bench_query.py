"""Runs as data (issue 24): SQL over a large log directory, ``seetrain ls --json``, and the full-
resolution history of a 1,000,000-point key from a server, each printed as a table.

    python benchmarks/bench_query.py [--runs 1000] [--points 10000] [--history 1000000] [--repeats 3]

- SQL: ``SELECT run, max(value) FROM metrics WHERE key='val/acc' GROUP BY run`` over RUNS runs of
  POINTS records (``val/acc`` and ``train/loss``: 2 x RUNS x POINTS points). Cold: the query cache is
  empty (every record is read once); warm: a repeated ``seetrain query`` process (the cache holds
  the records, each run's files are only stat-ed). Target: warm < 1 s.
- ``seetrain ls --json`` over the RUNS runs, as a process. Target: < 1 s.
- One key of HISTORY points from a real ``seetrain server``: the Python API over Arrow IPC
  (``/runs/{uuid}/history``), the API without pyarrow (JSON ``/series?full=true``), the raw JSON and
  CSV routes. Target: Arrow < 1 s (was 3.0 s JSON, 8.4 s CSV).

The fixture (benchmarks/query_fixture.py) is written once with the writer's record codec and reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Callable, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import query_fixture  # noqa: E402

PY = sys.executable
SQL = "SELECT run, max(value) FROM metrics WHERE key='val/acc' GROUP BY run"


def env(**extra: str) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.update(extra)
    return e


def timed_cli(args: List[str], e: dict) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([PY, "-m", "seetrain.cli", *args], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"seetrain {' '.join(args)} failed: {res.stderr.decode()[-1000:]}")
    return dt


def best(fn: Callable[[], float], repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def bench_sql(logdir: str, runs: int, points: int, repeats: int, rows: list) -> None:
    cache_dir = tempfile.mkdtemp(prefix="seetrain-qcache-")
    e = env(SEETRAIN_QUERY_CACHE=cache_dir)
    try:
        cold = timed_cli(["query", SQL, logdir, "--csv"], e)
        warm = best(lambda: timed_cli(["query", SQL, logdir, "--csv"], e), repeats)
        sys.path.insert(0, ROOT)
        os.environ["SEETRAIN_QUERY_CACHE"] = cache_dir
        from seetrain.query import run_query

        inproc = best(lambda: _inproc(run_query, logdir), repeats)
        nocache = None
        if runs * points <= 1_000_000:
            nocache = best(lambda: _inproc(run_query, logdir, cache=False), 1)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    what = f"{runs} runs x {points} points (x2 keys)"
    rows.append(("SQL best val/acc per run, cold (fills the cache)", what, cold, None))
    rows.append(("SQL best val/acc per run, warm: `seetrain query` process", what, warm, 1.0))
    rows.append(("SQL best val/acc per run, warm: run_query() in a process", what, inproc, 1.0))
    if nocache is not None:
        rows.append(("SQL, no cache (every record read)", what, nocache, None))


def _inproc(run_query, logdir: str, **kw) -> float:
    t0 = time.perf_counter()
    res = run_query(SQL, logdir=logdir, max_rows=100_000, **kw)
    assert res.rows
    return time.perf_counter() - t0


def bench_ls(logdir: str, runs: int, repeats: int, rows: list) -> None:
    t = best(lambda: timed_cli(["ls", logdir, "--json"], env()), repeats)
    rows.append(("`seetrain ls --json` process", f"{runs} runs", t, 1.0))


def bench_history(points: int, repeats: int, rows: list) -> None:
    from seetrain.rundir.records import METRICS_LINE

    work = tempfile.mkdtemp(prefix="seetrain-bench-hist-")
    try:
        logdir = os.path.join(work, "logs")
        d = os.path.join(logdir, "hist", "big")
        os.makedirs(d)
        with open(os.path.join(d, "records.jsonl"), "wb") as f:
            f.write(b"".join(METRICS_LINE % (s, 1.78e9 + s * 0.001, s, b'{"loss":%r}' % (1.0 / (s + 1)))
                             for s in range(points)))
        import uuid as _uuid

        import orjson

        uuid = _uuid.uuid4().hex
        with open(os.path.join(d, "run.json"), "wb") as f:
            f.write(orjson.dumps({"format": 2, "uuid": uuid, "id": "big", "name": "big", "project": "hist",
                                  "status": "success", "exit_code": 0, "start_time": 1.78e9,
                                  "end_time": 1.78e9 + points * 0.001, "last_step": points - 1}))
        from bench_server import start_server, stop

        proc, url = start_server(os.path.join(work, "db.sqlite"), os.path.join(work, "blobs"))
        try:
            t0 = time.perf_counter()
            timed_cli(["sync", logdir, "--host", url], env())
            sync_s = time.perf_counter() - t0
            import seetrain

            api = seetrain.Api(host=url)
            run = api.run(uuid)

            def arrow() -> float:
                t = time.perf_counter()
                h = run.history("loss")["loss"]
                assert len(h.y) == points
                return time.perf_counter() - t

            json_api = seetrain.Api(host=url)
            json_api._source.use_arrow = False
            jrun = json_api.run(uuid)

            def json_path() -> float:
                t = time.perf_counter()
                h = jrun.history("loss")["loss"]
                assert len(h.y) == points
                return time.perf_counter() - t

            def raw(path: str) -> Callable[[], float]:
                def go() -> float:
                    t = time.perf_counter()
                    with urllib.request.urlopen(url + path, timeout=300) as r:
                        r.read()
                    return time.perf_counter() - t
                return go

            what = f"{points:,} points, one key"
            rows.append(("history via Api (Arrow IPC /runs/{uuid}/history)", what, best(arrow, repeats), 1.0))
            rows.append(("  raw GET /runs/{uuid}/history (Arrow bytes only)", what,
                         best(raw(f"/api/v1/runs/{uuid}/history?key=loss"), repeats), None))
            rows.append(("history via Api without pyarrow (JSON /series?full)", what, best(json_path, repeats), None))
            rows.append(("  raw GET /series?full=true (JSON)", what,
                         best(raw(f"/api/v1/series?run={uuid}&key=loss&full=true"), repeats), None))
            rows.append(("  raw GET /runs/{uuid}/export?format=csv", what,
                         best(raw(f"/api/v1/runs/{uuid}/export?format=csv&key=loss"), 1), None))
            rows.append(("(setup) seetrain sync of the run", what, sync_s, None))
        finally:
            stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--history", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fixture-root", default=os.path.join(tempfile.gettempdir(), "seetrain-bench-query"))
    ap.add_argument("--only", choices=["sql", "ls", "history"], default=None)
    a = ap.parse_args()
    logdir = query_fixture.make(a.fixture_root, a.runs, a.points)
    rows: list = []
    if a.only in (None, "sql"):
        bench_sql(logdir, a.runs, a.points, a.repeats, rows)
    if a.only in (None, "ls"):
        bench_ls(logdir, a.runs, a.repeats, rows)
    if a.only in (None, "history"):
        bench_history(a.history, a.repeats, rows)
    load = os.getloadavg()
    print(f"\nbench_query ({os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"best of {a.repeats})")
    w = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(w)}  {'data':<32}  {'seconds':>8}  target")
    for name, what, secs, target in rows:
        verdict = "" if target is None else (f"< {target:g} s " + ("ok" if secs < target else "MISSED"))
        print(f"{name.ljust(w)}  {what:<32}  {secs:8.3f}  {verdict}")


if __name__ == "__main__":
    main()
