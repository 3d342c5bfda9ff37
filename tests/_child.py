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
from typing import Any, Mapping, Optional, Sequence

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


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
    return subprocess.Popen([PY, *args], **_with_env(kwargs))
