"""``--from-run RUN``: the recorded, resolved config of an earlier run, ready to train again."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from .config import TOP_KEYS
from .errors import TrainConfigError


def find_run(run: str, logdir: Optional[str] = None):
    """A run reader for a run directory, an id (or its tail) or a name under ``logdir``."""
    import seetrain

    if os.path.isdir(run):
        return seetrain.read_run(run)
    matches = [r for r in seetrain.list_runs(logdir) if r.id == run or r.id.endswith(run) or r.name == run]
    if not matches:
        from seetrain.logdir import default_logdir

        where = default_logdir(logdir)
        raise TrainConfigError(f"--from-run: no run {run!r} under {where} (give a run directory, an id or a name; "
                               "see `seetrain ls`)")
    return matches[-1]


def config_of_run(run: str, logdir: Optional[str] = None) -> Dict[str, Any]:
    """The trainer config recorded in ``run`` (the keys the trainer wrote; adapter additions dropped)."""
    cfg = find_run(run, logdir).config
    if not isinstance(cfg.get("model"), dict) or not isinstance(cfg.get("trainer"), dict):
        raise TrainConfigError(f"--from-run {run}: that run was not made by `seetrain train` (its config has no "
                               "model/trainer sections)")
    out = {k: v for k, v in cfg.items() if k in TOP_KEYS}
    out["experiment"] = None      # its effect is already in the recorded values
    out["hparams_search"] = None
    return out
