"""Where runs are written unless told otherwise: ``$SEETRAIN_LOGDIR`` or ``./seetrain_logs``."""

from __future__ import annotations

import os
from typing import Optional

DEFAULT_LOGDIR = "./seetrain_logs"
DEFAULT_LOGDIR_HELP = f"$SEETRAIN_LOGDIR or {DEFAULT_LOGDIR}"  # how command help names the default


def default_logdir(logdir: Optional[str] = None) -> str:
    """``logdir`` if given, else ``$SEETRAIN_LOGDIR``, else ``./seetrain_logs``, as an absolute path."""
    return os.path.abspath(logdir or os.environ.get("SEETRAIN_LOGDIR") or DEFAULT_LOGDIR)
