"""Checks of the paths a training will write or read, made right after the config is loaded and
before any framework is imported or any data is read: a log folder or checkpoint folder that cannot
be written, or a data folder that is not there, is one clear line in well under a second instead of
a traceback after the first epoch (and no run is created, so none is left marked crashed).

Nothing is created here: a folder that does not exist yet is fine when its nearest existing parent
is a folder this process may write in.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from .errors import TrainConfigError

# datasets that read the user's own files: data.<key> must exist (27b's folder and csv datasets)
USER_DATA = {"folder": "root", "csv": "path"}


def _writable(path: str, key: str, what: str) -> None:
    """Raise unless ``path`` is (or can be made as) a folder this process can write in."""
    path = os.path.abspath(os.path.expanduser(path))
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise TrainConfigError(f"{key}={path}: cannot write the {what} there: {probe} is a file, not a folder; "
                               f"give {key} a folder", key=key)
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == path else f" (its nearest existing folder {probe} is not writable)"
        raise TrainConfigError(f"{key}={path}: the {what} folder is not writable{where}; give {key} a folder you "
                               "can write in", key=key)


def _logdir(logger: Dict[str, Any]) -> str:
    from seetrain.logdir import default_logdir

    return default_logdir(logger.get("logdir"))


def check_paths(config: Dict[str, Any]) -> None:
    """The log folder, the checkpoint folder and a user data folder, checked; raises :class:`TrainConfigError`."""
    logger, trainer, data = config.get("logger") or {}, config.get("trainer") or {}, config.get("data") or {}
    if logger.get("enabled", True):
        key = "logger.logdir" if logger.get("logdir") else "$SEETRAIN_LOGDIR" if os.environ.get("SEETRAIN_LOGDIR") \
            else "logger.logdir"
        _writable(_logdir(logger), key, "run log")
    ck = trainer.get("checkpoint") or {}
    if ck.get("enabled", True) and ck.get("dirpath"):
        _writable(str(ck["dirpath"]), "trainer.checkpoint.dirpath", "checkpoint")
    _check_data(data)


def _check_data(data: Dict[str, Any]) -> None:
    key = USER_DATA.get(str(data.get("name")))
    value: Optional[Any] = data.get(key) if key else None
    if key and value:
        path = os.path.abspath(os.path.expanduser(str(value)))
        if not os.path.exists(path):
            raise TrainConfigError(f"data.{key}={value}: no such {'folder' if key == 'root' else 'file'} ({path})",
                                   key=f"data.{key}")
    bs = data.get("batch_size")
    if bs is not None and (not isinstance(bs, int) or isinstance(bs, bool) or bs < 1):
        raise TrainConfigError(f"data.batch_size must be a whole number >= 1, got {bs!r}", key="data.batch_size")
