"""Ctrl-C on `seetrain ui` and `seetrain server`: the server closes, nothing but a short line is
printed (no traceback), and the exit status is 130 (128 + SIGINT), as shells expect."""

from __future__ import annotations

import re
import signal
import socket
import subprocess

import httpx
import pytest
from tests._child import popen_python

from .conftest import wait_for

pytest.importorskip("fastapi", reason="the servers need the server extra")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interrupt(args, port: int):
    proc = popen_python(["-m", "seetrain.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200, 60,
                 "the server to answer")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.ConnectError):  # the server is closed
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
    return proc.returncode, out, err


def test_ctrl_c_on_seetrain_ui_exits_130_without_a_traceback(tmp_path):
    port = _free_port()
    rc, out, err = _interrupt(["ui", str(tmp_path / "logs"), "--port", str(port), "--index-dir", str(tmp_path / "idx")], port)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert rc == 130, (rc, err)
    assert re.search(r"http://127\.0\.0\.1:\d+/", out)


def test_ctrl_c_on_seetrain_server_exits_130_without_a_traceback(tmp_path):
    port = _free_port()
    rc, out, err = _interrupt(["server", "--port", str(port), "--db", str(tmp_path / "s.db"),
                               "--blobs", str(tmp_path / "blobs")], port)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert rc == 130, (rc, err)
