"""Model checkpoints copied into a run, as W&B's ``log_model`` does: the run alone holds the model.

Adapters that save checkpoints (Lightning, HF Trainer, Keras) take ``log_model``:

* ``False`` (default): nothing is copied;
* ``True``: the run keeps the latest (``last``) and the best (``best``) checkpoint; older copies go;
* ``"all"``: every checkpoint saved is copied and kept.

Copies live in ``<run dir>/artifacts/model/step-<step>/<file or folder name>``; the list is
``<run dir>/artifacts/model/manifest.json`` and, so any reader of the run can list it, the run
config key ``model_artifacts`` (``best``, ``last``: paths relative to the run directory; ``files``:
every copy with its step, size and aliases). Copying happens on the thread that saved the
checkpoint (it is opt-in); a copy that fails is a warning, never an error in training.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Union

ARTIFACT_DIR = "artifacts/model"
MANIFEST = "manifest.json"
CONFIG_KEY = "model_artifacts"


def check_log_model(value: Any) -> Union[bool, str]:
    """Validate a ``log_model`` argument: ``False``, ``True`` or ``"all"``."""
    if value is None or value is False:
        return False
    if value is True or value == "all":
        return value
    raise ValueError(f"log_model={value!r} is not an option: use False (copy nothing), True (keep the best and the "
                     "last checkpoint in the run) or 'all' (keep every saved checkpoint)")


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


class ModelArtifacts:
    """The checkpoints one adapter copied into its run, with ``best`` / ``last`` marks."""

    def __init__(self, log_model: Any, framework: str) -> None:
        self.mode = check_log_model(log_model)
        self.framework = framework
        self.entries: List[Dict[str, Any]] = []
        self._run_dir: Optional[str] = None

    @property
    def enabled(self) -> bool:
        return bool(self.mode)

    def saved(self, run: Any, path: str, step: int, best: Optional[str] = None,
              info: Optional[Dict[str, Any]] = None) -> None:
        """A checkpoint was just written at ``path`` (file or folder): copy it and mark it ``last``;
        ``best`` is the path of the current best checkpoint (copied too if the run lacks it)."""
        if not self.mode or run is None or getattr(run, "mode", "disabled") == "disabled" or run.finished:
            return
        if self._run_dir != run.dir:  # a new run (e.g. a new trial): start a new list
            self._run_dir, self.entries = run.dir, []
        last = self._copy(run.dir, path, step, info)
        best_entry = None
        if best:
            best_abs = os.path.abspath(best)
            best_entry = next((e for e in reversed(self.entries) if e["source"] == best_abs), None)
            if best_entry is None and os.path.exists(best_abs):
                best_entry = self._copy(run.dir, best_abs, step, None)
        for entry in self.entries:
            entry["aliases"] = [a for a, e in (("best", best_entry), ("last", last)) if e is entry]
        if self.mode is True:
            for entry in [e for e in self.entries if not e["aliases"]]:
                self._remove(run.dir, entry)
        self._publish(run, best_entry, last)

    def _copy(self, run_dir: str, path: str, step: int, info: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        source = os.path.abspath(path)
        rel = f"{ARTIFACT_DIR}/step-{int(step)}/{os.path.basename(source.rstrip(os.sep))}"
        for entry in self.entries:
            if entry["path"] == rel:
                return entry  # this very checkpoint is already in the run
        dest = os.path.join(run_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)  # follows links (Lightning's save_last="link")
        entry = {"path": rel, "source": source, "step": int(step), "bytes": _size(dest), "time": time.time(),
                 "aliases": []}
        if info:
            entry.update({k: v for k, v in info.items() if v is not None})
        self.entries.append(entry)
        return entry

    def _remove(self, run_dir: str, entry: Dict[str, Any]) -> None:
        dest = os.path.join(run_dir, *entry["path"].split("/"))
        if os.path.isdir(dest):
            shutil.rmtree(dest, ignore_errors=True)
        elif os.path.exists(dest):
            os.remove(dest)
        parent = os.path.dirname(dest)
        if os.path.isdir(parent) and not os.listdir(parent):
            os.rmdir(parent)
        self.entries.remove(entry)

    def _publish(self, run: Any, best: Optional[Dict[str, Any]], last: Optional[Dict[str, Any]]) -> None:
        listing = {
            "framework": self.framework, "log_model": self.mode,
            "best": best["path"] if best else None, "last": last["path"] if last else None,
            "files": [dict(e) for e in self.entries],
        }
        folder = os.path.join(run.dir, *ARTIFACT_DIR.split("/"))
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{MANIFEST}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(listing, f, indent=1)
        os.replace(tmp, os.path.join(folder, MANIFEST))
        run.config.update({CONFIG_KEY: {**listing, "manifest": f"{ARTIFACT_DIR}/{MANIFEST}"}})


__all__ = ["ModelArtifacts", "check_log_model", "ARTIFACT_DIR", "MANIFEST", "CONFIG_KEY"]
