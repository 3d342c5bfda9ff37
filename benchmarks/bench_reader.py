"""Reader benchmarks (issue 10): `seetrain ls` over many runs, incremental reading speed,
read_run peak memory against the file size, and resuming a long run.

    .venv/bin/python benchmarks/bench_reader.py [--runs 1000] [--records 1000000] [--repeat 3]

Prints one table (median of --repeat, with min..max), wall time and CPU time (user + sys of the
process: what the work costs when the machine is shared; the targets are judged on wall time). Run directories are written as
docs/record-format.md says; the resumed run starts as a real SeeTrain run that is then
extended to --records records. Each timed part runs in a fresh subprocess, with SeeTrain's byte
code cached as a user's installed copy has it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable


def metrics_lines(first_seq: int, first_step: int, n: int, t0: float = 1764079200.0):
    """``n`` format-2 metrics lines (two keys), written in blocks."""
    for start in range(0, n, 100_000):
        yield b"".join(
            b'{"seq":%d,"time":%.6f,"type":"metrics","step":%d,"data":{"loss":%r,"acc":%r}}\n'
            % (first_seq + i, t0 + i * 1e-3, first_step + i, 1.0 / (i + 1), i * 1e-6)
            for i in range(start, min(n, start + 100_000)))


def template_meta(tmp: str) -> dict:
    """run.json of a real, finished run (environment, packages ...) to copy for the ls runs."""
    code = (f"import seetrain; r = seetrain.init(project='t', id='t', logdir={tmp!r}, system_metrics=False); "
            "r.log({'loss': 1.0}); r.finish()")
    subprocess.run([PY, "-c", code], check=True, cwd=ROOT)
    with open(os.path.join(tmp, "t", "t", "run.json")) as f:
        return json.load(f)


def make_ls_logdir(logdir: str, n_runs: int, meta: dict, records_per_run: int = 200) -> None:
    for i in range(n_runs):
        d = os.path.join(logdir, f"proj{i % 10}", f"run{i:05d}")
        os.makedirs(d)
        m = dict(meta, id=f"run{i:05d}", name=f"run-{i}", project=f"proj{i % 10}", uuid=f"{i:032x}",
                 start_time=1764079200.0 + i, end_time=1764079300.0 + i, records=records_per_run,
                 last_seq=records_per_run - 1, last_step=records_per_run - 1,
                 summary={"loss": 1.0 / records_per_run, "acc": 0.5})
        with open(os.path.join(d, "run.json"), "w") as f:
            json.dump(m, f)
        with open(os.path.join(d, "records.jsonl"), "wb") as f:
            f.writelines(metrics_lines(0, 0, records_per_run))


def timed(cmd, repeat: int) -> tuple:
    """Wall and CPU (user + sys) seconds of a subprocess, per repeat."""
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        wall.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


def run_py(code: str) -> str:
    return subprocess.run([PY, "-c", textwrap.dedent(code)], check=True, capture_output=True, text=True,
                          cwd=ROOT).stdout


def bench_incremental(path: str, repeat: int) -> list:
    code = f"""
        import time
        from seetrain.rundir.stream import read_records
        for _ in range({repeat}):
            off, n, t, c0 = 0, 0, time.perf_counter(), time.process_time()
            while True:
                c = read_records({path!r}, off, max_bytes=1 << 20)
                if c.next_offset == off:
                    break
                off, n = c.next_offset, n + len(c.records)
            print(n / (time.perf_counter() - t), n / (time.process_time() - c0))
    """
    pairs = [line.split() for line in run_py(code).splitlines()]
    return [float(a) for a, _ in pairs], [float(b) for _, b in pairs]


def bench_read_run_memory(run_dir: str, repeat: int) -> list:
    size = os.path.getsize(os.path.join(run_dir, "records.jsonl"))
    code = f"""
        import resource
        import seetrain.rundir.reader as R
        base = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
        r = R.read_run({run_dir!r})
        s = [r.scalars(k) for k in r.keys()]
        r.summary()
        peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))  # own peak, not the forking parent's
        print((peak - base) * 1024 / {size})
    """
    return [float(run_py(code)) for _ in range(repeat)]


def make_resumable(logdir: str, n: int) -> str:
    """A real finished run, extended by hand to ``n`` records (seq and steps continuing)."""
    code = (f"import seetrain; r = seetrain.init(project='long', id='long', logdir={logdir!r}, "
            "system_metrics=False, console='off'); r.log({'loss': 1.0}); r.finish()")
    subprocess.run([PY, "-c", code], check=True, cwd=ROOT)
    d = os.path.join(logdir, "long", "long")
    with open(os.path.join(d, "run.json")) as f:
        meta = json.load(f)
    first_seq, first_step = meta["last_seq"] + 1, meta["last_step"] + 1
    with open(os.path.join(d, "records.jsonl"), "ab") as f:
        f.writelines(metrics_lines(first_seq, first_step, n))
    meta.update(last_seq=first_seq + n - 1, last_step=first_step + n - 1, records=meta["records"] + n)
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump(meta, f)
    return d


def bench_resume(logdir: str, repeat: int) -> list:
    code = f"""
        import time, seetrain
        t, c = time.perf_counter(), time.process_time()
        r = seetrain.init(project="long", id="long", resume=True, logdir={logdir!r}, system_metrics=False,
                          console="off")
        dt, dc = time.perf_counter() - t, time.process_time() - c
        r.log({{"loss": 0.5}})
        r.finish()
        print(dt, dc)
    """
    pairs = [run_py(code).split() for _ in range(repeat)]
    return [float(a) for a, _ in pairs], [float(b) for _, b in pairs]


def fmt(values, unit: str, scale: float = 1.0, digits: int = 2) -> str:
    v = [x * scale for x in values]
    return f"{statistics.median(v):.{digits}f} {unit} ({min(v):.{digits}f}..{max(v):.{digits}f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # byte code cached as an installed package has it (this machine sets PYTHONDONTWRITEBYTECODE,
        # which would make every fresh process compile SeeTrain first); a first run fills the cache
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        run_py("import seetrain, seetrain.rundir.reader, seetrain.run_start, seetrain.rundir.writer, seetrain.cli.runs")
        meta = template_meta(os.path.join(tmp, "template"))
        ls_dir = os.path.join(tmp, "ls")
        make_ls_logdir(ls_dir, args.runs, meta)
        t, c = timed([PY, "-m", "seetrain.cli", "ls", ls_dir], args.repeat)
        rows.append((f"seetrain ls, {args.runs} runs (whole command)", fmt(t, "s"), fmt(c, "s"), "< 1 s",
                     statistics.median(t) < 1.0))

        big = os.path.join(tmp, "big", "p", "big")
        os.makedirs(big)
        with open(os.path.join(big, "run.json"), "w") as f:
            json.dump({"format": 2, "id": "big", "project": "p", "status": "success"}, f)
        with open(os.path.join(big, "records.jsonl"), "wb") as f:
            f.writelines(metrics_lines(0, 0, args.records))
        size = os.path.getsize(os.path.join(big, "records.jsonl"))
        rates, cpu_rates = bench_incremental(os.path.join(big, "records.jsonl"), args.repeat)
        rows.append((f"read_records, {args.records:,} records, 1 MiB chunks", fmt(rates, "k rec/s", 1e-3, 0),
                     fmt(cpu_rates, "k rec/s", 1e-3, 0), ">= 500k rec/s", statistics.median(rates) >= 500_000))
        mem = bench_read_run_memory(big, args.repeat)
        rows.append((f"read_run peak RSS growth / file size ({size / 2**20:.0f} MiB)", fmt(mem, "x"), "-",
                     "<= 2x", max(mem) <= 2.0))

        res_dir = os.path.join(tmp, "resume")
        make_resumable(res_dir, args.records)
        t, c = bench_resume(res_dir, args.repeat)
        rows.append((f"seetrain.init(resume=True), {args.records:,}-record run", fmt(t, "ms", 1e3, 1),
                     fmt(c, "ms", 1e3, 1), "< 100 ms", statistics.median(t) < 0.1))

    w = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{w}}  {'wall: median (min..max)':<28}  {'CPU: median (min..max)':<28}  "
          f"{'target':<14}  met (wall)")
    print("-" * (w + 86))
    for name, value, cpu, target, ok in rows:
        print(f"{name:<{w}}  {value:<28}  {cpu:<28}  {target:<14}  {'yes' if ok else 'NO'}")
    print(f"\n(repeat={args.repeat}; python {sys.version.split()[0]}; {os.cpu_count()} cpus; "
          f"load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
