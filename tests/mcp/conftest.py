"""MCP test fixtures: run directories written by the real SDK, and real `seetrain mcp` processes
talked to by the `mcp` SDK's own client (stdio and streamable HTTP)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, AsyncIterator, Dict, List, Optional

import pytest

import seetrain
from tests._child import child_env

pytest.importorskip("mcp", reason="seetrain mcp needs the mcp extra")

SPIKE_STEP, SPIKE_VALUE = 654_321, 1.0e6
MILLION = 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mcp_cmd(*args: str) -> List[str]:
    return ["-m", "seetrain.cli", "mcp", *args]


@contextlib.asynccontextmanager
async def stdio_session(*args: str) -> AsyncIterator[Any]:
    """A ClientSession of the mcp SDK over stdio to `seetrain mcp ARGS` (this checkout)."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=mcp_cmd(*args), env=child_env())
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=120) as session:
                await session.initialize()
                yield session


@contextlib.asynccontextmanager
async def http_session(url: str) -> AsyncIterator[Any]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120) as session:
            await session.initialize()
            yield session


class HttpMCP:
    """`seetrain mcp --http` as a subprocess on a free loopback port."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc = subprocess.Popen([sys.executable, *mcp_cmd(*args, "--http", "--port", str(self.port))],
                                     env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"seetrain mcp --http exited {self.proc.returncode}: {self.proc.stderr.read()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError("seetrain mcp --http did not listen within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


def run_async(fn: Any, *args: Any) -> Any:
    """``anyio.run(fn, *args)`` on a thread of its own: the browser tests' Playwright (sync API) keeps
    an event loop running on the main thread for the whole session, where a second loop cannot start."""
    import concurrent.futures

    import anyio

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, fn, *args).result()


def answer(result: Any) -> Dict[str, Any]:
    """The JSON of a successful tool result (fails showing the error text otherwise)."""
    text = result.content[0].text
    assert not result.is_error, text
    return json.loads(text)


def error_text(result: Any) -> str:
    assert result.is_error, f"expected a tool error, got {result.content[0].text[:300]}"
    return result.content[0].text


@pytest.fixture(scope="session")
def mcp_logdir(tmp_path_factory) -> str:
    """Project "sweep": three runs (config lr/opt/depth, loss and val/acc over 3,000 steps, console
    lines, alerts); project "big": one run with 1,000,000 loss points and one spike."""
    logdir = str(tmp_path_factory.mktemp("mcp_logs"))
    for i, (lr, opt) in enumerate([(0.1, "sgd"), (0.01, "adam"), (0.001, "adam")]):
        run = seetrain.init(project="sweep", experiment_name=f"lr{lr}", logdir=logdir, system_metrics=False,
                            config={"lr": lr, "opt": opt, "model": {"depth": 4, "width": 64 * (i + 1)}})
        for step in range(3000):
            seetrain.log({"loss": 2.0 / (step + 1) + lr, "val/acc": (step / 3000) * (1 - lr)})
            if step % 500 == 0:
                print(f"epoch {step // 500} of run {i}", flush=True)
        run.alert("warmup done", f"run {i}", level="info")
        if i == 0:
            run.alert("loss plateau", "lr too high?", level="warn")
        seetrain.finish()
    run = seetrain.init(project="big", experiment_name="million", logdir=logdir, system_metrics=False, console="off")
    for step in range(MILLION):
        seetrain.log({"loss": SPIKE_VALUE if step == SPIKE_STEP else 1.0 + (step % 100) * 1e-3})
    seetrain.finish()
    return logdir
