"""LLM autolog overhead: added latency per non-streaming call, autolog on vs off.

    python benchmarks/bench_autolog.py [--calls 500] [--log-messages 1]

Each provider's real client talks to the local test server (tests/integration/llm_server.py, run in
its own process) on 127.0.0.1. Calls with autolog off and on alternate one by one (the same
client; autolog is disabled / re-enabled between calls, outside the timing) so that load drift hits
both alike. Also measured without the network: SeeTrain's own work on the caller's thread per call
(building the record from a real response and enqueueing it) and the writer thread's background
work per call (rendering the texts and writing the record and its files).

Target: added median latency < 200 us per call. Prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "benchmark prompt with a few words"}]


def _pct(values: List[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def _providers(url: str) -> Dict[str, Dict[str, Any]]:
    import anthropic
    import openai
    import zhipuai

    oc = openai.OpenAI(api_key="sk-bench", base_url=url + "/v1", max_retries=0)
    ac = anthropic.Anthropic(api_key="sk-ant-bench", base_url=url, max_retries=0)
    zc = zhipuai.ZhipuAI(api_key="bench.key", base_url=url + "/zhipu", max_retries=0)
    from seetrain.integration.autolog.anthropic import AnthropicAutolog
    from seetrain.integration.autolog.openai import OpenAIAutolog
    from seetrain.integration.autolog.zhipuai import ZhipuAIAutolog

    return {
        "openai": {"cls": OpenAIAutolog, "resource": oc.chat.completions,
                   "call": lambda: oc.chat.completions.create(model="gpt-bench", messages=MSGS, temperature=0.2,
                                                              max_tokens=64)},
        "anthropic": {"cls": AnthropicAutolog, "resource": ac.messages,
                      "call": lambda: ac.messages.create(model="claude-bench", max_tokens=64, system="be brief",
                                                         messages=MSGS[1:])},
        "zhipuai": {"cls": ZhipuAIAutolog, "resource": zc.chat.completions,
                    "call": lambda: zc.chat.completions.create(model="glm-bench", messages=MSGS, temperature=0.2)},
    }


@contextlib.contextmanager
def _server_process():
    """The test server in its own process, so that it does not share this process's GIL."""
    script = os.path.join(ROOT, "tests", "integration", "llm_server.py")
    proc = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _block(call: Callable[[], Any], n: int) -> List[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def _hook_cost(autolog: Any, resource: Any, response: Any, kwargs: Dict[str, Any], n: int) -> float:
    """Median seconds of SeeTrain's own work for one call (record built from a real response)."""
    from seetrain.integration.autolog._base import CallRecorder

    endpoint = autolog.targets[0][3]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        CallRecorder(autolog, endpoint, resource, dict(kwargs)).done(response)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=500, help="calls with autolog off, and as many on, per provider")
    ap.add_argument("--log-messages", type=int, default=1, help="record prompts and answers (1) or not (0)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as logdir, _server_process() as url:
        os.environ["SEETRAIN_LOGDIR"] = logdir
        for name, p in _providers(url).items():
            call = p["call"]
            for _ in range(20):  # warm up connections, lazy imports, pydantic models
                call()
            autolog = p["cls"](project="bench", experiment_name=name, log_messages=bool(args.log_messages),
                               system_metrics=False)
            autolog.disable()
            off: List[float] = []
            on: List[float] = []
            for _ in range(args.calls):  # alternate call by call: load drift hits both alike
                off += _block(call, 1)
                autolog.enable()
                on += _block(call, 1)
                autolog.disable()
            kwargs = {"model": "m", "messages": MSGS, "temperature": 0.2, "max_tokens": 64}
            autolog.enable()
            run = autolog.experiment
            run.flush()
            hook = _hook_cost(autolog, p["resource"], call(), kwargs, 2000)
            t = time.perf_counter()
            run.flush()
            writer = (time.perf_counter() - t) / 2000
            records = run.get_stats()["records"]
            autolog.finish()
            rows.append((name, statistics.median(off), _pct(off, 0.9), statistics.median(on), _pct(on, 0.9),
                         statistics.median(on) - statistics.median(off), hook, writer, records))
    us = 1e6
    print(f"\nLLM autolog overhead, non-streaming calls, local server; {args.calls} calls off and on "
          f"per provider (log_messages={bool(args.log_messages)}); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs\n")
    head = ("provider", "off p50 us", "off p90 us", "on p50 us", "on p90 us", "added p50 us", "caller work us",
            "writer work us", "target")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    ok = True
    for name, off50, off90, on50, on90, added, hook, writer, _records in rows:
        passed = added < 200e-6
        ok &= passed
        print(f"| {name} | {off50 * us:.0f} | {off90 * us:.0f} | {on50 * us:.0f} | {on90 * us:.0f} | "
              f"{added * us:+.0f} | {hook * us:.1f} | {writer * us:.0f} | {'< 200 us ' + ('OK' if passed else 'MISSED')} |")
    print("\ncaller work = SeeTrain's work on the calling thread per call (record built from a real response, "
          "enqueued);\nwriter work = the background writer's work per call (texts rendered, record and 3 text files "
          "written). No network in either.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
