"""``seetrain mcp``: get_metric_history over a 1,000,000-point key (target < 200 ms warm), in process
and through a real MCP client session over stdio; prints a table.

    python benchmarks/bench_mcp.py [--points N] [--repeat R]

The run is written once with the real SDK (about 10 s) into a temporary log directory. "cold" is
the first call of a fresh server (it reads the run directory); "warm" the calls after it (the
reader is kept and refreshed incrementally), the median of R.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import seetrain  # noqa: E402


def write_run(logdir: str, n: int) -> str:
    run = seetrain.init(project="bench", experiment_name="million", logdir=logdir, system_metrics=False, console="off")
    for step in range(n):
        seetrain.log({"loss": 1e6 if step == n * 2 // 3 else 1.0 + (step % 100) * 1e-3})
    seetrain.finish()
    return run.uuid


def in_process(logdir: str, uuid: str, points: int, repeat: int):
    from seetrain.mcp.budget import respond
    from seetrain.mcp.source import Source
    from seetrain.mcp.tools import Tools

    tools = Tools(Source(logdir=logdir))
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        text = respond(tools.get_metric_history(uuid, "loss", points=points), tools.max_tokens)
        times.append(time.perf_counter() - t)
    return times[0], statistics.median(times[1:]), len(text)


def over_stdio(logdir: str, uuid: str, points: int, repeat: int):
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    async def go():
        params = StdioServerParameters(command=sys.executable, args=["-m", "seetrain.cli", "mcp", logdir], env=env)
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w, read_timeout_seconds=300) as s:
                await s.initialize()
                times, size = [], 0
                for _ in range(repeat + 1):
                    t = time.perf_counter()
                    res = await s.call_tool("get_metric_history", {"run": uuid, "keys": "loss", "points": points})
                    times.append(time.perf_counter() - t)
                    size = len(res.content[0].text)
                return times[0], statistics.median(times[1:]), size

    return anyio.run(go)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as logdir:
        t = time.perf_counter()
        uuid = write_run(logdir, a.n)
        print(f"wrote {a.n:,} points in {time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.2f}")
        print(f"\n| get_metric_history ({a.n:,} points -> {a.points}) | cold (s) | warm median (ms) | answer (tokens) |")
        print("|---|---|---|---|")
        cold, warm, size = in_process(logdir, uuid, a.points, a.repeat)
        print(f"| in process (Tools) | {cold:.2f} | {warm * 1000:.0f} | {size // 4:,} |")
        cold, warm, size = over_stdio(logdir, uuid, a.points, a.repeat)
        print(f"| MCP client over stdio | {cold:.2f} | {warm * 1000:.0f} | {size // 4:,} |")


if __name__ == "__main__":
    main()
