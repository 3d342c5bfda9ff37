"""Start child Python processes that import the checkout under test.

A child started as ``python script.py`` (or with another cwd) puts the script's folder first on
``sys.path`` and would import whatever ``seetrain`` the environment's install points at, which may be
another checkout sharing the venv. Every test that starts Python goes through ``child_env`` (or
``run_python``/``popen_python``), which puts this checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, List, Mapping, Optional, Sequence

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
_STARTED: List[subprocess.Popen] = []  # every popen_python child, for reap_children at the session's end


def child_env(base: Optional[Mapping[str, str]] = None, **extra: str) -> dict:
    """``base`` (default: ``os.environ``) plus ``extra``, with this checkout first on ``PYTHONPATH``."""
    env = dict(os.environ if base is None else base)
    env.update(extra)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != CHECKOUT]
    env["PYTHONPATH"] = os.pathsep.join([CHECKOUT, *rest])
    return env


def _with_env(kwargs: dict) -> dict:
    kwargs["env"] = child_env(kwargs.get("env"))
    return kwargs


def run_python(args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run([python, *args], ...)`` importing this checkout (``env`` is extended, not replaced)."""
    return subprocess.run([PY, *args], **_with_env(kwargs))


def popen_python(args: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen([python, *args], ...)`` importing this checkout (``env`` is extended, not replaced)."""
    proc = subprocess.Popen([PY, *args], **_with_env(kwargs))
    _STARTED[:] = [p for p in _STARTED if p.poll() is None]
    _STARTED.append(proc)
    return proc


def reap_children() -> int:
    """SIGKILL every child started by :func:`popen_python` that still runs; returns how many.

    A test that fails (or a mutant that makes a child ignore SIGINT) before it stops its child must
    not leave an endless training loop behind: the session's end reaps them (tests/conftest.py)."""
    alive = [p for p in _STARTED if p.poll() is None]
    for p in alive:
        p.kill()
    for p in alive:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    _STARTED.clear()
    return len(alive)
