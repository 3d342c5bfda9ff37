"""SeeTrain server: sustained ingest (SQLite, PostgreSQL), log() -> queryable latency, log() with
the server down vs local mode, and a 1,000,000-point series query downsampled.

    python benchmarks/bench_server.py [--records 100000] [--keys 10] [--repeats 3] [--no-pg]

Ingest is one client (``RunSync.drain``, the code of online mode and ``seetrain sync``) sending a
run directory written by ``seetrain.init`` to a real ``seetrain server`` process on 127.0.0.1.
Targets (issue 11): >= 300,000 points/s into SQLite; log() -> queryable p50/p99 < 2 s; log() with
the server down as in local mode; the series query < 100 ms. Issue 21: under 8 concurrent writers
plus one client sending maximal legal records (10,000 keys of 256 characters), no other writer
waits more than 2 s (``--only contention`` runs just that scenario). Issue 22: ingest reaches at
least a plain ``executemany`` of the same points into an indexed row-per-point SQLite table (the
baseline row, measured in the same run), and the sender's CPU per record (``--only ingest`` runs
just the ingest rows). Prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import List, Optional

import orjson

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, blobs: str) -> tuple:
    port = free_port()
    p = subprocess.Popen([PY, "-m", "seetrain.cli", "server", "--db", db, "--blobs", blobs, "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/api/v1/health", timeout=1)
            return p, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(p: subprocess.Popen) -> None:
    os.killpg(p.pid, signal.SIGTERM)
    p.wait(30)


def start_pg(base: str) -> Optional[tuple]:
    """A throwaway PostgreSQL cluster (as the postgres user when root); None when it cannot start."""
    initdb = shutil.which("initdb") or "/usr/local/bin/initdb"
    pg_ctl = shutil.which("pg_ctl") or "/usr/local/bin/pg_ctl"
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, port = os.path.join(base, "pgdata"), free_port()
    try:
        os.chmod(base, 0o755)
        if as_pg:
            shutil.chown(base, "postgres", "postgres")
        subprocess.run(as_pg + [initdb, "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True)
        subprocess.run(as_pg + [pg_ctl, "-D", data, "-l", os.path.join(base, "pg.log"), "-w", "-o",
                                f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"(PostgreSQL skipped: {exc})", file=sys.stderr)
        return None
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", (as_pg + [pg_ctl, "-D", data, "-m", "fast", "stop"])


def write_run(logdir: str, records: int, keys: int) -> str:
    import seetrain

    run = seetrain.init(project="bench", logdir=logdir, system_metrics=False, console="off")
    names = [f"metric_{i}" for i in range(keys)]
    for step in range(records):
        run.log({k: step * 0.001 + i for i, k in enumerate(names)}, step=step)
    run.finish()
    return run.dir


def bench_ingest(url: str, run_dir: str, points: int, repeats: int, server_pid: int) -> tuple:
    """Wall-clock points/s of one client, and points per CPU-second of the server and of the client
    (CPU time does not count the time other processes on a loaded machine took from us)."""
    import psutil

    from seetrain.sender import Client, RunSync

    proc = psutil.Process(server_pid)
    rates, server_cpu, client_cpu = [], [], []
    for _ in range(repeats):
        meta_path = os.path.join(run_dir, "run.json")
        meta = orjson.loads(open(meta_path, "rb").read())
        meta["uuid"] = os.urandom(16).hex()  # a fresh run on the server each repeat
        open(meta_path, "wb").write(orjson.dumps(meta))
        shutil.rmtree(os.path.join(run_dir, ".sync"), ignore_errors=True)
        c0, s0 = time.process_time(), sum(proc.cpu_times()[:2])
        t = time.perf_counter()
        RunSync(run_dir, Client(url)).drain()
        rates.append(points / (time.perf_counter() - t))
        server_cpu.append(points / (sum(proc.cpu_times()[:2]) - s0))
        client_cpu.append(points / (time.process_time() - c0))
    return rates, server_cpu, client_cpu


def bench_executemany(run_dir: str, repeats: int) -> List[float]:
    """Points/s of the plain baseline: the run's scalar points, read from the run directory beforehand,
    inserted with one ``executemany`` into a row-per-point SQLite table indexed on (run, key, step),
    with the server's settings (WAL, synchronous=NORMAL), in one transaction, committed."""
    import sqlite3

    from seetrain import read_run

    r = read_run(run_dir)
    rates = []
    for rep in range(repeats):
        run = os.urandom(16).hex()
        points = [(run, key, int(st), float(tm), float(v)) for key in r.scalar_keys()
                  for st, tm, v in zip(*_series_of(r, key))]
        path = os.path.join(os.path.dirname(os.path.dirname(run_dir)), f"baseline-{rep}.sqlite")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE points (run TEXT, key TEXT, step INTEGER, time REAL, value REAL)")
        db.execute("CREATE INDEX points_run_key_step ON points (run, key, step)")
        t = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?)", points)
        db.execute("COMMIT")
        rates.append(len(points) / (time.perf_counter() - t))
        db.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(path + suffix)
    return rates


def _series_of(r, key: str) -> tuple:
    """(steps, times, values) of one scalar key of a :class:`seetrain.rundir.reader.RunReader`."""
    s = r.scalars(key)
    return s.steps, s.times, s.values


def bench_queryable(url: str, logdir: str, seconds: float = 8.0, every: float = 0.05) -> List[float]:
    """Seconds from log() to the point being answered by /api/v1/series, for a probe logged every 50 ms."""
    import seetrain

    run = seetrain.init(project="latency", logdir=logdir, mode="online", host=url, system_metrics=False,
                        console="off")
    uuid = orjson.loads(open(os.path.join(run.dir, "run.json"), "rb").read())["uuid"]
    logged: dict = {}
    seen: dict = {}
    stop_ev = threading.Event()

    def poll() -> None:
        after = -1
        while not stop_ev.is_set() or len(seen) < len(logged):
            try:
                with urllib.request.urlopen(f"{url}/api/v1/series?run={uuid}&key=probe&after={after}&points=0",
                                            timeout=5) as r:
                    xs = orjson.loads(r.read())["series"][0]["x"]
            except OSError:
                xs = []
            now = time.perf_counter()
            for x in xs:
                seen.setdefault(int(x), now)
            if xs:
                after = int(xs[-1])
            if stop_ev.is_set() and time.perf_counter() - stop_t[0] > 10:
                return
            time.sleep(0.01)

    stop_t = [0.0]
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    step = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        logged[step] = time.perf_counter()
        run.log({"probe": step}, step=step)
        step += 1
        time.sleep(every)
    stop_t[0] = time.perf_counter()
    stop_ev.set()
    th.join(15)
    run.finish()
    return [seen[s] - logged[s] for s in logged if s in seen] + [float("inf")] * sum(s not in seen for s in logged)


def bench_log_latency(logdir: str, mode: str, host: Optional[str], n: int = 20000) -> List[float]:
    import seetrain

    run = seetrain.init(project="loglat", logdir=logdir, mode=mode, host=host, system_metrics=False, console="off",
                        upload_timeout=0.5)
    pc = time.perf_counter
    lat = []
    for i in range(n):
        t = pc()
        run.log({"loss": i * 0.001, "acc": 0.5, "lr": 1e-3}, step=i)
        lat.append(pc() - t)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run.finish()
    return lat


def bench_series(url: str, server_pid: int, n: int = 1_000_000, reps: int = 15) -> tuple:
    """Ingest n points of one key (raw batches), then time GET /api/v1/series?points=1000."""
    from seetrain.sender import Client

    c = Client(url)
    uuid = os.urandom(16).hex()
    c.call("PUT", f"/api/v1/runs/{uuid}", orjson.dumps({"project": "series", "id": "million"}))
    batch = 20_000
    for s in range(0, n, batch):
        recs = [{"seq": i, "time": 1e9 + i, "type": "metrics", "step": i, "data": {"loss": (i % 1000) * 0.001}}
                for i in range(s, min(n, s + batch))]
        c.call("POST", f"/api/v1/runs/{uuid}/records", orjson.dumps({"records": recs}))
    import psutil

    proc = psutil.Process(server_pid)
    times, cpu = [], []
    for _ in range(reps):
        s0 = sum(proc.cpu_times()[:2])
        t = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/v1/series?run={uuid}&key=loss&points=1000", timeout=30) as r:
            body = orjson.loads(r.read())
        times.append(time.perf_counter() - t)
        cpu.append(sum(proc.cpu_times()[:2]) - s0)
    s = body["series"][0]
    assert s["total"] == n and len(s["x"]) <= 1000
    return times, cpu, s["total"], uuid


def bench_series_inprocess(db: str, uuid: str, reps: int = 15) -> tuple:
    """The same query without HTTP: wall and CPU seconds of load + downsample."""
    from seetrain.server import series
    from seetrain.server.db import make_engine

    engine = make_engine(db)
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        with engine.connect() as conn:
            series.query(conn, [uuid], "loss", points=1000)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    engine.dispose()
    return wall, cpu


def bench_contention(url: str, seconds: float, big: bool, writers: int = 8) -> tuple:
    """Latencies of ``writers`` clients each posting 10-record batches (5 scalars) in a loop for
    ``seconds``, while (``big``) one more client posts maximal legal records: 10,000 keys of 256
    characters each (the server's keys-per-record and key-length limits), the same keys every
    record as a wide model logging per-layer values. Returns (writer latencies, big-record times)."""
    from seetrain.sender import Client

    from seetrain.server.validate import MAX_RECORD_KEYS

    stop_at = time.perf_counter() + seconds
    lat: List[float] = []
    big_times: List[float] = []
    errors: List[str] = []

    def writer(i: int) -> None:
        c = Client(url, attempts=1, timeout=60)
        uuid = os.urandom(16).hex()
        c.call("PUT", f"/api/v1/runs/{uuid}", orjson.dumps({"project": "contention", "id": f"w{i}"}))
        seq = 0
        while time.perf_counter() < stop_at:
            recs = [{"seq": seq + j, "time": time.time(), "type": "metrics", "step": seq + j,
                     "data": {f"m{k}": (seq + j) * 0.1 + k for k in range(5)}} for j in range(10)]
            body = orjson.dumps({"records": recs})
            t = time.perf_counter()
            try:
                c.call("POST", f"/api/v1/runs/{uuid}/records", body)
            except Exception as exc:  # noqa: BLE001 - counted and printed
                errors.append(f"{type(exc).__name__}: {exc}"[:120])
            lat.append(time.perf_counter() - t)
            seq += 10
        c.close()

    def big_client() -> None:
        c = Client(url, attempts=1, timeout=120)
        uuid = os.urandom(16).hex()
        c.call("PUT", f"/api/v1/runs/{uuid}", orjson.dumps({"project": "contention", "id": "wide"}))
        names = [f"layer{k:05d}/" + "w" * 245 for k in range(MAX_RECORD_KEYS)]  # 256 characters each
        seq = 0
        while time.perf_counter() < stop_at:
            rec = {"seq": seq, "time": time.time(), "type": "metrics", "step": seq,
                   "data": {n: seq + k * 1e-3 for k, n in enumerate(names)}}
            body = orjson.dumps({"records": [rec]})
            t = time.perf_counter()
            try:
                c.call("POST", f"/api/v1/runs/{uuid}/records", body)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"big: {type(exc).__name__}: {exc}"[:120])
            big_times.append(time.perf_counter() - t)
            seq += 1
        c.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    if big:
        threads.append(threading.Thread(target=big_client))
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 300)
    if errors:
        print(f"({len(errors)} failed requests, first: {errors[0]})", file=sys.stderr)
    return lat, big_times


def contention_rows(url: str, seconds: float) -> List[tuple]:
    rows = []
    for big in (False, True):
        lat, big_times = bench_contention(url, seconds, big)
        what = "8 writers + maximal records" if big else "8 writers alone"
        detail = f"p50 {pct(lat, .5) * 1e3:.0f} ms, max {max(lat):.2f} s, {len(lat):,} batches of 10 records"
        if big:
            detail += (f"; {len(big_times)} records of 10,000 keys x 256 chars, "
                       f"{statistics.median(big_times):.2f} s each (median)")
        rows.append((f"write latency p99, {what}", f"{pct(lat, .99):.2f} s", detail, "< 2 s (max)" if big else ""))
    return rows


def pct(xs: List[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--only", choices=["contention", "ingest"], help="run one scenario only")
    ap.add_argument("--contention-seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore", message="seetrain: server")  # the server-down case warns by design
    tmp = tempfile.mkdtemp(prefix="seetrain-bench-server-")
    rows = []
    try:
        srv, url = start_server(os.path.join(tmp, "db.sqlite"), os.path.join(tmp, "blobs"))
        try:
            if args.only != "ingest":
                rows += contention_rows(url, args.contention_seconds)
            if args.only == "contention":
                return _table(rows)
            run_dir = write_run(os.path.join(tmp, "logs"), args.records, args.keys)
            points = args.records * args.keys
            r, scpu, ccpu = bench_ingest(url, run_dir, points, args.repeats, srv.pid)
            base = bench_executemany(run_dir, args.repeats)
            rows.append(("ingest, SQLite, 1 client", f"{statistics.median(r):,.0f} points/s",
                         f"min {min(r):,.0f} max {max(r):,.0f} ({args.records:,} records x {args.keys} scalars)",
                         ">= 300,000"))
            rows.append(("  baseline: executemany, row per point", f"{statistics.median(base):,.0f} points/s",
                         f"min {min(base):,.0f} max {max(base):,.0f}; indexed (run, key, step), WAL, "
                         "synchronous=NORMAL, one transaction", ""))
            rows.append(("  ingest / baseline", f"{statistics.median(r) / statistics.median(base):.2f}x",
                         "medians of the two rows above, same run of this script", ">= 1.0x"))
            rows.append(("  per CPU-second: server / client", f"{statistics.median(scpu):,.0f} / "
                         f"{statistics.median(ccpu):,.0f}", "points per CPU-second of each process", ""))
            per_rec = [c / args.keys for c in ccpu]  # records per client CPU-second
            rows.append(("  sender CPU per record", f"{1e6 / statistics.median(per_rec):.2f} us",
                         f"min {1e6 / max(per_rec):.2f} max {1e6 / min(per_rec):.2f} us; process CPU time "
                         "of RunSync.drain (read, encode, send) per record", "falls (issue 22)"))
            if args.only == "ingest":
                return _table(rows)
            q = bench_queryable(url, os.path.join(tmp, "logs"))
            rows.append(("log() -> queryable p50", f"{pct(q, 0.5):.2f} s", f"p99 {pct(q, 0.99):.2f} s, "
                         f"{len(q)} probes every 50 ms", "< 2 s"))
            t, cpu, total, uuid = bench_series(url, srv.pid)
            rows.append(("series query, 1M points -> 1000", f"{statistics.median(t) * 1e3:.0f} ms",
                         f"min {min(t) * 1e3:.0f} max {max(t) * 1e3:.0f} ms over HTTP, {total:,} points; server CPU "
                         f"{statistics.median(cpu) * 1e3:.0f} ms", "< 100 ms"))
            w, c = bench_series_inprocess("sqlite:///" + os.path.join(tmp, "db.sqlite"), uuid)
            rows.append(("  same, in process (no HTTP)", f"{statistics.median(w) * 1e3:.0f} ms",
                         f"min {min(w) * 1e3:.0f} ms; CPU {statistics.median(c) * 1e3:.0f} ms", "< 100 ms"))
        finally:
            stop(srv)
        dead = f"http://127.0.0.1:{free_port()}"
        local, down = [], []
        for _ in range(args.repeats):
            local += bench_log_latency(os.path.join(tmp, "ll"), "local", None)
            down += bench_log_latency(os.path.join(tmp, "ll"), "online", dead)
        rows.append(("log() p50/p99, local mode", f"{pct(local, .5) * 1e6:.1f} / {pct(local, .99) * 1e6:.1f} us",
                     f"{len(local):,} calls, 3 scalars", ""))
        rows.append(("log() p50/p99, server down", f"{pct(down, .5) * 1e6:.1f} / {pct(down, .99) * 1e6:.1f} us",
                     "online mode, nothing listening", "same as local"))
        if not args.no_pg:
            pg = start_pg(tempfile.mkdtemp(prefix="seetrain-bench-pg-"))
            if pg:
                pg_url, stop_cmd = pg
                srv, url = start_server(pg_url, os.path.join(tmp, "blobs-pg"))
                try:
                    r, scpu, _ = bench_ingest(url, run_dir, points, args.repeats, srv.pid)
                    rows.append(("ingest, PostgreSQL, 1 client", f"{statistics.median(r):,.0f} points/s",
                                 f"min {min(r):,.0f} max {max(r):,.0f}; server {statistics.median(scpu):,.0f} "
                                 "points per CPU-second (PostgreSQL's own processes not counted)", "(beside SQLite)"))
                finally:
                    stop(srv)
                    subprocess.run(stop_cmd, capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _table(rows)


def _table(rows: List[tuple]) -> int:
    w = [max(len(str(r[i])) for r in rows + [("measure", "value", "detail", "target")]) for i in range(4)]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for r in [("measure", "value", "detail", "target"), tuple("-" * x for x in w)] + rows:
        print("  ".join(str(c).ljust(x) for c, x in zip(r, w)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
