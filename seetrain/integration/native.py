"""Native registration: ``report_to="seetrain"`` and ``log_with="seetrain"`` after ``import seetrain``.

    import seetrain
    from transformers import TrainingArguments
    args = TrainingArguments("out", report_to="seetrain")       # no register() call needed

    from accelerate import Accelerator
    accelerator = Accelerator(log_with="seetrain")

``import seetrain`` calls :func:`install`, which puts a small finder on ``sys.meta_path``. It
imports nothing itself: when (and only when) the program imports a framework's registry module,
the finder lets that module load as usual and then adds SeeTrain to it. So ``import seetrain``
stays cheap and loads no framework, and the order of imports does not matter (a registry module
already loaded when seetrain is imported is registered at once). A failure here is a warning;
it never breaks the framework's import. Set ``SEETRAIN_NATIVE=0`` to turn it off.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional, Tuple

# registry module -> (adapter module, its register function), run right after the module executes
HOOKS: Dict[str, Tuple[str, str]] = {
    # Trainer(report_to=[...]) looks names up in integration_utils.INTEGRATION_TO_CALLBACK
    "transformers.integrations.integration_utils": ("seetrain.integration.callbacks.transformers", "register"),
    # Accelerator(log_with=...) looks names up in tracking.LOGGER_TYPE_TO_CLASS (register_tracker_class)
    "accelerate.tracking": ("seetrain.integration.trackers.accelerate", "register"),
}


def _register(name: str, module: Any) -> None:
    target, func = HOOKS[name]
    try:
        import importlib

        getattr(importlib.import_module(target), func)(module)
    except Exception as exc:  # the framework still imports; only the short name is missing
        import warnings

        from seetrain.errors import SeeTrainWarning

        warnings.warn(f"seetrain: could not register with {name} ({type(exc).__name__}: {exc}); pass the "
                      "SeeTrain callback/tracker object explicitly instead of its name", SeeTrainWarning, stacklevel=2)


class _PostImportFinder:
    """A ``sys.meta_path`` finder that finds nothing itself: for a hooked module it asks the other
    finders for the real spec and wraps that loader's ``exec_module`` to register afterwards."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Optional[Any]:
        if fullname not in HOOKS:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_then_register(module: Any) -> None:
            try:
                del loader.exec_module  # one shot: the loader is as it was
            except AttributeError:
                pass
            exec_module(module)
            _register(fullname, module)

        try:
            loader.exec_module = exec_then_register
        except Exception:
            return spec  # a loader that takes no attributes: import as usual, unregistered
        return spec

    def __repr__(self) -> str:
        return "<seetrain post-import registration>"


_FINDER = _PostImportFinder()


def install() -> None:
    """Register with frameworks already imported and watch for the others (idempotent)."""
    if os.environ.get("SEETRAIN_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for name in HOOKS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__spec__", None) is not None:
            _register(name, module)


def uninstall() -> None:
    """Stop watching (names already registered stay registered)."""
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


__all__ = ["install", "uninstall", "HOOKS"]
