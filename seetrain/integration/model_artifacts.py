"""Model checkpoints logged as model artifacts and kept in the run, as W&B's ``log_model`` does.

Adapters that save checkpoints (Lightning, HF Trainer, Keras) take ``log_model``:

* ``False`` (default): nothing is copied;
* ``True``: the run keeps the latest (``last``) and the best (``best``) checkpoint; older copies go;
* ``"all"``: every checkpoint saved is copied and kept.

Copies live in ``<run dir>/artifacts/model/step-<step>/<file or folder name>``; the list is
``<run dir>/artifacts/model/manifest.json`` and, so any reader of the run can list it, the run
config key ``model_artifacts`` (``best``, ``last``: paths relative to the run directory; ``files``:
every copy with its step, size and aliases). Each checkpoint is also a version of the model
artifact ``model-<run id>`` (``Run.log_artifact``, type ``model``): ``latest`` names the last one and
``best`` the best, and the run's copies are hard links to the artifact store (stored once).
Copying happens on the thread that saved the checkpoint (it is opt-in); a copy that fails is a
warning, never an error in training.
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
        self._best_ref: Optional[str] = None  # the version that holds ``best`` now

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
            self._run_dir, self.entries, self._best_ref = run.dir, [], None
        best_abs = os.path.abspath(best) if best else None
        best_entry = None
        if best_abs and best_abs != os.path.abspath(path):  # the best first: `latest` then moves to the last
            best_entry = next((e for e in reversed(self.entries) if e["source"] == best_abs), None)
            if best_entry is not None or os.path.exists(best_abs):
                best_entry = self._copy(run, best_abs if best_entry is None else best_entry["source"],
                                        best_entry["step"] if best_entry else step, None, ["best"])
        last = self._copy(run, path, step, info, ["best"] if best_abs == os.path.abspath(path) else [])
        if best_abs == os.path.abspath(path):
            best_entry = last
        for entry in self.entries:
            entry["aliases"] = [a for a, e in (("best", best_entry), ("last", last)) if e is entry]
        if self.mode is True:
            for entry in [e for e in self.entries if not e["aliases"]]:
                self._remove(run.dir, entry)
        self._publish(run, best_entry, last)

    def artifact_name(self, run: Any) -> str:
        """The model artifact's name: ``model-<run id>``, one per run, its versions the checkpoints."""
        return f"model-{run.id}"

    def _copy(self, run: Any, path: str, step: int, info: Optional[Dict[str, Any]],
              aliases: List[str]) -> Dict[str, Any]:
        """Log the checkpoint as a version of the run's model artifact (content already logged is
        the same version: only ``aliases`` move) and put it in the run as hard links to the store."""
        source = os.path.abspath(path)
        rel = f"{ARTIFACT_DIR}/step-{int(step)}/{os.path.basename(source.rstrip(os.sep))}"
        dest = os.path.join(run.dir, *rel.split("/"))
        known = next((e for e in self.entries if e["path"] == rel), None)
        if known is not None and (not aliases or known.get("artifact") == self._best_ref):
            return known  # this very checkpoint is already in the run (and holds the alias)
        logged_from = source if os.path.exists(source) else dest  # deleted by the framework: the run's copy
        version = run.log_artifact(logged_from, name=self.artifact_name(run), type="model", aliases=aliases,
                                   metadata={"framework": self.framework, "step": int(step), **(info or {})})
        if "best" in aliases:
            self._best_ref = version.ref
        if known is not None:
            known["artifact"] = version.ref
            return known
        version.download(dest if os.path.isdir(source) else os.path.dirname(dest))  # follows links, as a copy did
        entry = {"path": rel, "source": source, "step": int(step), "bytes": _size(dest), "time": time.time(),
                 "aliases": [], "artifact": version.ref}
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


def log_trained_checkpoints(run: Any, best: Optional[str], last: Optional[str], step: int, framework: str) -> None:
    """A finished training's best and last checkpoints as versions of the run's model artifact
    (``best`` and ``latest`` aliases) and in the run, as ``log_model=True`` keeps them; a failure is a
    warning, never an error of the training."""
    if run is None or not (best or last):
        return
    try:
        ModelArtifacts(True, framework).saved(run, last or best, step, best=best)
    except Exception as exc:  # noqa: BLE001 - the model stays in its checkpoint folder either way
        import warnings

        from seetrain.errors import SeeTrainWarning

        warnings.warn(f"seetrain: the checkpoints could not be logged as model artifacts ({type(exc).__name__}: "
                      f"{exc}); they stay in {os.path.dirname(best or last or '')}", SeeTrainWarning, stacklevel=2)


__all__ = ["log_trained_checkpoints", "ModelArtifacts", "check_log_model", "ARTIFACT_DIR", "MANIFEST", "CONFIG_KEY"]
