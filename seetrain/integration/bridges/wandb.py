"""W&B bridge: mirror ``wandb`` runs into SeeTrain live, or import W&B run directories.

    import seetrain, wandb
    seetrain.sync_wandb()                     # before wandb.init()
    run = wandb.init(project="mnist", config={"lr": 1e-3})
    wandb.log({"loss": 0.5})                  # also in SeeTrain run "wandb-<run id>", same step
    run.finish()

    seetrain import wandb wandb/              # every offline-run-*/run-* directory in it

Mapping (the same for the mirror and the importer): a W&B run is the SeeTrain run
``wandb-<run id>`` in the W&B project, named as the W&B run, with its tags; its config is the run
config (plus ``wandb/run_id``, ``wandb/group``); the history rows keep W&B's steps (``_step``,
following W&B's rules for ``step=`` and ``commit=``) with nested dicts flattened to ``a/b``;
numbers, ``wandb.Image`` and ``wandb.Histogram`` values are kept (other media types and
strings are not); values set with ``run.summary[...] = ...`` go to the config as
``wandb/summary/<key>``; exit code 0 ends the run ``success``, any other ``failed``.

The mirror patches ``wandb.init`` and, at class level, ``wandb.sdk.wandb_run.Run``'s history,
config, summary and finish callbacks; ``disable()`` restores them. The importer reads the run's
``run-<id>.wandb`` record log (W&B's LevelDB-style log of protobuf ``Record`` messages, each
block checksummed) with W&B's own protobuf definitions.
"""

from __future__ import annotations

import glob
import json
import os
import struct
import threading
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

import seetrain
from seetrain.integration.bridges._common import Mirror, Patches, import_or_explain, number, report

FRAMEWORK = "wandb"
_SKIP_CONFIG = ("_wandb",)


def run_id_for(wandb_run_id: str) -> str:
    return f"wandb-{wandb_run_id}"


def _flatten(prefix: str, data: Dict[str, Any], out: Dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "_type" not in value:
            _flatten(f"{name}/", value, out)
        else:
            out[name] = value


def _user_keys(data: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


# --- values ---------------------------------------------------------------------------------------
def _live_value(value: Any) -> Any:
    """A SeeTrain value for a value given to ``wandb.log`` (None: not mirrored)."""
    num = number(value)
    if num is not None:
        return num
    kind = type(value).__name__
    if kind == "Histogram" and hasattr(value, "histogram") and hasattr(value, "bins"):
        return seetrain.Histogram(bins=list(value.bins), counts=list(value.histogram))
    if kind == "Image" and getattr(value, "image", None) is not None:
        return seetrain.Image(value.image)
    return None


def _stored_value(value: Any, files_dir: str) -> Any:
    """A SeeTrain value for a JSON value of a W&B history record (None: not imported)."""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    if isinstance(value, dict):
        kind = value.get("_type")
        if kind == "histogram":
            return seetrain.Histogram(bins=value["bins"], counts=value["values"])
        if kind == "image-file" and value.get("path"):
            return seetrain.Image(os.path.join(files_dir, value["path"]))
    return None


def _row(data: Dict[str, Any], convert) -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    _flatten("", _user_keys(data), flat)
    out = {}
    for key, value in flat.items():
        converted = convert(value)
        if converted is not None:
            out[key] = converted
    return out


# --- the live mirror ---------------------------------------------------------------------------------
class _Mirror:
    """One W&B run's SeeTrain run and W&B's pending history row."""

    def __init__(self, run: "seetrain.Run") -> None:
        self.run = run
        self.step = 0
        self.pending: Dict[str, Any] = {}

    def history(self, data: Dict[str, Any], step: Optional[int], commit: Optional[bool]) -> None:
        # W&B's rules: a row is written on commit; a larger explicit step first writes the pending
        # row; a smaller one is dropped (W&B warns); step= without commit= waits for the next step.
        if step is not None:
            if step < self.step:
                return
            if step > self.step:
                self.flush()
                self.step = step
        self.pending.update(data)
        if (step is None and commit is None) or commit:
            self.flush()

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        if pending:
            step, self.step = self.step, self.step + 1
            row = _row(pending, _live_value)
            if row:
                self.run.log(row, step=step)


class WandbSync(Mirror):
    """The active mirror: one SeeTrain run per W&B run. ``disable()`` restores ``wandb``."""

    bridge = FRAMEWORK

    def __init__(self, project: Optional[str] = None, **init_kwargs: Any) -> None:
        self.project = project
        self.init_kwargs = init_kwargs
        self.mirrors: Dict[int, _Mirror] = {}  # id(W&B run) -> its mirror
        self._lock = threading.Lock()
        self._patches = Patches(FRAMEWORK)
        wandb = import_or_explain("wandb", "wandb", "W&B bridge")
        from wandb.sdk import wandb_run

        cls = wandb_run.Run
        self._patches.after(wandb, "init", self._on_init, method=False)
        self._patches.after(cls, "_partial_history_callback", self._on_history)
        self._patches.after(cls, "_config_callback", self._on_config)
        self._patches.after(cls, "_summary_update_callback", self._on_summary)
        self._patches.after(cls, "_finish", self._on_finish)

    @property
    def runs(self) -> Dict[str, "seetrain.Run"]:
        return {m.run.id: m.run for m in self.mirrors.values()}

    def _mirror(self, wb_run: Any) -> Optional[_Mirror]:
        mirror = self.mirrors.get(id(wb_run))
        if mirror is not None:
            return mirror
        if getattr(wb_run, "disabled", False) or getattr(wb_run, "_is_finished", False):
            return None
        with self._lock:
            mirror = self.mirrors.get(id(wb_run))
            if mirror is None:
                config = {k: v for k, v in dict(wb_run.config.as_dict()).items() if k not in _SKIP_CONFIG}
                config.update({"_framework": FRAMEWORK, "wandb/run_id": wb_run.id, "wandb/group": wb_run.group or None})
                kwargs = dict(self.init_kwargs)
                kwargs.setdefault("resume", True)  # wandb.init(id=..., resume=...) continues the same run
                run = seetrain.init(project=self.project or wb_run.project or FRAMEWORK,
                                    experiment_name=wb_run.name or wb_run.id, id=run_id_for(wb_run.id),
                                    tags=list(wb_run.tags or ()), config=config, **kwargs)
                mirror = self.mirrors[id(wb_run)] = _Mirror(run)
        return mirror

    def _on_init(self, result: Any, *args: Any, **kwargs: Any) -> None:
        if type(result).__name__ == "Run":
            self._mirror(result)

    def _on_history(self, _result: Any, wb_run: Any, data: Dict[str, Any], step: Optional[int] = None,
                    commit: Optional[bool] = None, *args: Any, **kwargs: Any) -> None:
        mirror = self._mirror(wb_run)
        if mirror is not None:
            mirror.history(dict(data), step, commit)

    def _on_config(self, _result: Any, wb_run: Any, key: Any = None, val: Any = None,
                   data: Optional[Dict[str, Any]] = None, *args: Any, **kwargs: Any) -> None:
        mirror = self._mirror(wb_run)
        if mirror is None:
            return
        changes = {k: v for k, v in (data or {}).items() if k not in _SKIP_CONFIG}
        if key is not None:
            path = key if isinstance(key, tuple) else (key,)
            changes[path[0]] = wb_run.config.as_dict().get(path[0], val) if len(path) > 1 else val
        if changes:
            mirror.run.config.update(changes)

    def _on_summary(self, _result: Any, wb_run: Any, record: Any, *args: Any, **kwargs: Any) -> None:
        mirror = self._mirror(wb_run)
        if mirror is None:
            return
        changes = {}
        for item in getattr(record, "update", None) or ():
            key = item.key if isinstance(item.key, (tuple, list)) else (item.key,)
            if not str(key[0]).startswith("_"):
                changes["wandb/summary/" + "/".join(map(str, key))] = item.value
        if changes:
            mirror.run.config.update(changes)

    def _on_finish(self, _result: Any, wb_run: Any, exit_code: Optional[int] = None, *args: Any,
                   **kwargs: Any) -> None:
        with self._lock:
            mirror = self.mirrors.pop(id(wb_run), None)
        if mirror is not None:
            mirror.flush()
            mirror.run.finish("success" if not exit_code else "failed")

    @property
    def experiment(self) -> Optional["seetrain.Run"]:
        """The SeeTrain run of the latest W&B run still open (None if none)."""
        return next(reversed([m.run for m in self.mirrors.values()]), None)

    def finish(self, status: str = "success") -> None:
        """Stop mirroring and finish the SeeTrain runs of W&B runs that were never finished."""
        self.disable()
        for key in list(self.mirrors):
            try:
                mirror = self.mirrors.pop(key)
                mirror.flush()
                mirror.run.finish(status)
            except Exception as exc:
                report(FRAMEWORK, "finish a run", exc)


def sync_wandb(project: Optional[str] = None, **init_kwargs: Any) -> WandbSync:
    """Mirror every W&B run (``wandb.init`` ... ``finish``) into SeeTrain; returns the handle.

    Call it before ``wandb.init``. ``project`` overrides the W&B project as the SeeTrain project;
    ``init_kwargs`` go to :func:`seetrain.init` (``logdir``, ``mode`` ...). Calling it again
    replaces the earlier mirror.
    """
    return WandbSync.start(project=project, **init_kwargs)


# --- reading W&B's record log (run-<id>.wandb) ------------------------------------------------------
_BLOCK = 32768
_HEADER = 7  # crc32 (4), length (2), type (1)
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: str) -> Iterator[Any]:
    """The protobuf ``Record`` messages of a ``.wandb`` file, in order; a torn tail is ignored."""
    import_or_explain("wandb", "wandb", "W&B import")
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as f:
        data = f.read()
    ident, magic, _version = struct.unpack("<4sHB", data[:7]) if len(data) >= 7 else (b"", 0, 0)
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path} is not a W&B record log (it does not start with the ':W&B' header)")
    pos, parts = 7, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # a block's tail too short for a header is padding
            pos += left
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + _HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + _HEADER:pos + _HEADER + length]
        if len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            return  # torn or damaged tail: stop at the last whole record
        pos += _HEADER + length
        if kind == _FULL:
            yield wandb_internal_pb2.Record.FromString(chunk)
        elif kind == _FIRST:
            parts = chunk
        elif kind == _MIDDLE:
            parts += chunk
        elif kind == _LAST:
            yield wandb_internal_pb2.Record.FromString(parts + chunk)
            parts = b""


def _items(updates: Any) -> Iterator[Tuple[Tuple[str, ...], Any]]:
    for item in updates:
        key = tuple(item.nested_key) if item.nested_key else (item.key,)
        yield key, json.loads(item.value_json)


def _nest(key: Tuple[str, ...], value: Any, into: Dict[str, Any]) -> None:
    for part in key[:-1]:
        into = into.setdefault(part, {})
    into[key[-1]] = value


class WandbRunFile:
    """What a ``.wandb`` record log holds, gathered in one pass."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.files_dir = os.path.join(os.path.dirname(path), "files")
        self.run: Any = None
        self.config: Dict[str, Any] = {}
        self.rows: List[Tuple[int, Dict[str, Any]]] = []
        self.summary: Dict[str, Any] = {}
        self.exit_code: Optional[int] = None
        for record in read_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                self.run = record.run
                for key, value in _items(record.run.config.update):
                    _nest(key, value, self.config)
            elif kind == "config":
                for key, value in _items(record.config.update):
                    _nest(key, value, self.config)
            elif kind == "history":
                row: Dict[str, Any] = {}
                for key, value in _items(record.history.item):
                    _nest(key, value, row)
                step = record.history.step.num if record.history.HasField("step") else row.get("_step", 0)
                self.rows.append((int(step), row))
            elif kind == "summary":
                for item in record.summary.update:
                    if not item.nested_key and not item.key.startswith("_"):  # set by the user, not W&B
                        self.summary[item.key] = json.loads(item.value_json)
            elif kind == "exit":
                self.exit_code = record.exit.exit_code
        if self.run is None:
            raise ValueError(f"{path} has no run record; it is not a complete W&B run log")


def find_run_files(path: str) -> List[str]:
    """The ``run-*.wandb`` files of a run directory, a ``.wandb`` file, or a folder of run directories."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} does not exist; give a W&B run directory (wandb/offline-run-...), "
                                "its run-<id>.wandb file, or the wandb/ folder")
    found = sorted(glob.glob(os.path.join(path, "run-*.wandb")))
    if not found:
        found = sorted(glob.glob(os.path.join(path, "*", "run-*.wandb")))
    if not found:
        found = sorted(glob.glob(os.path.join(path, "wandb", "*", "run-*.wandb")))
    if not found:
        raise FileNotFoundError(f"no W&B run files (run-<id>.wandb) in {path} or its run directories")
    return found


def import_run_file(path: str, project: Optional[str] = None, logdir: Optional[str] = None) -> Tuple[str, int]:
    """Write one SeeTrain run from a ``.wandb`` file; returns (run directory, history rows)."""
    src = WandbRunFile(path)
    info = src.run
    config = {k: v for k, v in src.config.items() if k not in _SKIP_CONFIG}
    config.update({"_framework": FRAMEWORK, "wandb/run_id": info.run_id, "wandb/group": info.run_group or None,
                   "imported": True})
    config.update({f"wandb/summary/{k}": v for k, v in src.summary.items()})
    try:
        run = seetrain.init(project=project or info.project or FRAMEWORK,
                            experiment_name=info.display_name or info.run_id, id=run_id_for(info.run_id),
                            tags=list(info.tags), logdir=logdir, system_metrics=False, config=config)
    except ValueError as exc:
        if "already exists" in str(exc):
            raise FileExistsError(f"W&B run {info.run_id} was imported before (SeeTrain run "
                                  f"{run_id_for(info.run_id)}); delete it to import again") from exc
        raise
    n = 0
    try:
        for step, data in src.rows:
            row = _row(data, lambda v: _stored_value(v, src.files_dir))
            if row:
                run.log(row, step=step)
                n += 1
    except BaseException:
        run.finish("failed")
        raise
    run.finish("crashed" if src.exit_code is None else "success" if src.exit_code == 0 else "failed")
    return run.dir, n


__all__ = ["sync_wandb", "WandbSync", "read_records", "WandbRunFile", "find_run_files", "import_run_file",
           "run_id_for"]
