"""``--from-run RUN``: the recorded, resolved config of an earlier run, ready to train again."""

from __future__ import annotations

import os
from typing import Any, Dict, List, NamedTuple, Optional

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


class RecordedConfig(NamedTuple):
    """A run's trainer config made ready to train again, and the overrides its resumes gave."""

    config: Dict[str, Any]
    resumes: List[Dict[str, Any]]   # config["resume_overrides"]: {checkpoint, overrides} per resume

    def note(self) -> Optional[str]:
        """What ``--from-run`` says of a run that was resumed with overrides (None when it was not)."""
        given = [" ".join(map(str, r.get("overrides") or [])) for r in self.resumes if isinstance(r, dict)]
        given = [g for g in given if g]
        if not given:
            return None
        return (f"that run was resumed with {', then '.join(given)}; training it again from the start with "
                "them in effect (recorded in its config's resume_overrides)")


def recorded_config(run: str, logdir: Optional[str] = None) -> RecordedConfig:
    """The trainer config recorded in ``run`` (the keys the trainer wrote; adapter additions dropped), as
    a new training from step 0: no ``trainer.resume``, no ``resume_overrides`` (their effect is in the
    recorded values, which are the last resume's)."""
    cfg = find_run(run, logdir).config
    if not isinstance(cfg.get("model"), dict) or not isinstance(cfg.get("trainer"), dict):
        raise TrainConfigError(f"--from-run {run}: that run was not made by `seetrain train` (its config has no "
                               "model/trainer sections)")
    out = {k: v for k, v in cfg.items() if k in TOP_KEYS}
    out["experiment"] = None      # its effect is already in the recorded values
    out["hparams_search"] = None
    resumes = out.pop("resume_overrides", None) or []
    out["trainer"] = {**out["trainer"], "resume": None}
    return RecordedConfig(out, list(resumes) if isinstance(resumes, list) else [])


def config_of_run(run: str, logdir: Optional[str] = None) -> Dict[str, Any]:
    """:func:`recorded_config`'s config."""
    return recorded_config(run, logdir).config
