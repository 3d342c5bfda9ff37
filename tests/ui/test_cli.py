"""`seetrain ui`: clear refusals for unsafe or impossible binds."""

from __future__ import annotations

import os
import socket

import pytest
from tests._child import run_python

pytest.importorskip("fastapi", reason="the dashboard needs the server extra")


def ui(*args, env=None):
    return run_python(["-m", "seetrain.cli", "ui", *args], capture_output=True, text=True,
                      timeout=120, env={**os.environ, **(env or {})})


def test_refuses_a_public_address_without_an_api_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SEETRAIN_SERVER_API_KEY"}
    out = run_python(["-m", "seetrain.cli", "ui", str(tmp_path), "--host", "0.0.0.0"],
                     capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0 and "without an API key" in out.stderr


def test_a_taken_port_is_named(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        out = ui(str(tmp_path), "--port", str(port), "--index-dir", str(tmp_path / "idx"))
    finally:
        s.close()
    assert out.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in out.stderr and "--port" in out.stderr
