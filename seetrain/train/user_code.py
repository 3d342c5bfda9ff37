"""Your own code in the trainer: ``--import MODULE``, ``_target_`` classes and ``seetrain.train`` entry points.

- ``seetrain train --import mypkg.nets model=my_mlp``: imports ``mypkg.nets`` (from the current folder
  or a path to a ``.py`` file) before the config is checked, so its ``@MODELS.register`` /
  ``@DATASETS.register`` builders are known. The module and the folder it was found in are recorded
  in the run's config (``imports``), so ``--from-run``, ``seetrain sweep`` trials, resume,
  ``evaluate``, ``predict`` and ``export`` import it again from the same place.
- ``model._target_=mypkg.nets.MyNet model.hidden=64``: any importable class or function, called with
  the section's other keys (plus ``num_classes``, ``in_channels``, ``image_size`` or ``in_features``
  where its signature takes them). The same for ``data._target_`` (a function returning
  :class:`~seetrain.train.data.RawData`).
- Installed packages can register builders without any flag through the ``seetrain.train``
  entry-point group: ``[project.entry-points."seetrain.train"] mypkg = "mypkg.seetrain_models"``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional

from .errors import TrainConfigError

ENTRY_POINT_GROUP = "seetrain.train"


@dataclass(frozen=True)
class UserImport:
    """One imported user module as recorded in a run: its name and the folder it was imported from."""

    module: str
    path: Optional[str] = None

    def record(self) -> Dict[str, Any]:
        return asdict(self)


def _module_from_file(path: str) -> UserImport:
    folder, name = os.path.split(os.path.abspath(path))
    return UserImport(module=os.path.splitext(name)[0], path=folder)


def import_module(spec: str, base: Optional[str] = None) -> UserImport:
    """Import ``spec`` (a dotted module name, or a path to a ``.py`` file) with ``base`` (default: the
    current folder) first on ``sys.path``; raises :class:`TrainConfigError` naming what failed."""
    if spec.endswith(".py") or os.sep in spec:
        if not os.path.isfile(spec):
            raise TrainConfigError(f"--import {spec}: no such file", key="imports")
        ui = _module_from_file(spec)
    else:
        ui = UserImport(module=spec, path=os.path.abspath(base or os.getcwd()))
    return load(ui)


def load(ui: UserImport) -> UserImport:
    """Import a recorded :class:`UserImport` (its folder put first on ``sys.path``)."""
    if ui.path and ui.path not in sys.path:
        sys.path.insert(0, ui.path)
    try:
        importlib.import_module(ui.module)
    except ImportError as exc:
        where = f" (looked in {ui.path} and on sys.path)" if ui.path else ""
        raise TrainConfigError(f"cannot import your module {ui.module!r}{where}: {exc}", key="imports") from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing: say so, with its words
        raise TrainConfigError(f"your module {ui.module!r} raised while importing: {type(exc).__name__}: {exc}",
                               key="imports") from None
    return ui


def restore(records: Optional[Iterable[Any]]) -> List[UserImport]:
    """Import the modules a run's config recorded under ``imports`` (a list of ``{module, path}``)."""
    out = []
    for rec in records or ():
        if isinstance(rec, str):
            rec = {"module": rec}
        if not isinstance(rec, dict) or not rec.get("module"):
            raise TrainConfigError(f"imports: each entry needs a module name, got {rec!r}", key="imports")
        out.append(load(UserImport(module=str(rec["module"]), path=rec.get("path"))))
    return out


def merged(recorded: Optional[Iterable[Any]], new: Iterable[UserImport]) -> List[Dict[str, Any]]:
    """The ``imports`` list of a config: what it recorded, then the newly imported modules (no repeats)."""
    out: List[Dict[str, Any]] = [r if isinstance(r, dict) else {"module": str(r), "path": None} for r in recorded or ()]
    have = {r.get("module") for r in out}
    out.extend(u.record() for u in new if u.module not in have)
    return out


def load_entry_points() -> None:
    """Import every module registered in the ``seetrain.train`` entry-point group (a broken one is
    reported by name, not raised from deep inside the registry)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001
            raise TrainConfigError(f"the installed plugin {ep.name!r} ({ep.value}) of entry-point group "
                                   f"{ENTRY_POINT_GROUP!r} failed to load: {type(exc).__name__}: {exc}") from None


def resolve_target(target: str, key: str) -> Callable[..., Any]:
    """The object named by ``target`` (``package.module.Name``); raises naming the config ``key``."""
    module, _, name = str(target).rpartition(".")
    if not module:
        raise TrainConfigError(f"{key}={target!r}: give the full import path, e.g. mypkg.nets.MyNet", key=key)
    try:
        obj = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise TrainConfigError(f"{key}={target}: cannot import {module!r} ({exc}); add --import or install it",
                               key=key) from None
    except AttributeError:
        raise TrainConfigError(f"{key}={target}: module {module!r} has no {name!r}", key=key) from None
    if not callable(obj):
        raise TrainConfigError(f"{key}={target} is not a class or function", key=key)
    return obj
