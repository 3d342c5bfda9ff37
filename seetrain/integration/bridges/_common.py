"""What the bridges share: safe patching of a class or module attribute, failure reporting, and
the live mirror's life cycle (:class:`Mirror`: one live mirror per bridge, disable, finish), and
one run per writer log directory (:class:`LogdirMirror`).

A patch replaces ``owner.name`` by a wrapper that calls the original first; an exception from the
original reaches the caller unchanged, and only then the bridge's ``after(result, *args, **kwargs)``
runs. An exception inside ``after`` is counted and warned about once (the user's call already
succeeded). :meth:`Patches.restore` puts every original attribute back exactly as it was.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

_MISSING = object()


def report(bridge: str, what: str, exc: BaseException) -> None:
    """Count a failure of a bridge's own code and warn once per bridge (raised under
    ``SEETRAIN_TESTING=1``: :func:`seetrain.integration.run_holder.shield`)."""
    from seetrain.integration.run_holder import shield

    shield(f"bridge.{bridge}", exc, f"the {bridge} bridge could not {what}",
           f"your {bridge} calls were not affected; further failures are only counted "
           "(seetrain.resilience.get_integration_error_stats())", stacklevel=4, once=True)


class Patches:
    """The patches one bridge put in place, restorable together."""

    def __init__(self, bridge: str) -> None:
        self.bridge = bridge
        self._done: List[Tuple[Any, str, Any, Any]] = []  # (owner, name, original raw attr, wrapper)
        self._lock = threading.RLock()

    def after(self, owner: Any, name: str, hook: Callable[..., None], method: bool = True) -> None:
        """Wrap ``owner.name`` (a class method, or a module function with ``method=False``)."""
        raw = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
        func = getattr(owner, name)
        if getattr(func, "__seetrain_bridge__", None) == self.bridge:
            return  # already patched by this bridge
        bridge = self.bridge

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            try:
                hook(result, *args, **kwargs)
            except Exception as exc:
                report(bridge, f"mirror {name}()", exc)
            return result

        wrapper.__seetrain_bridge__ = bridge  # type: ignore[attr-defined]
        new: Any = wrapper
        if isinstance(raw, staticmethod):
            new = staticmethod(wrapper)
        elif isinstance(raw, classmethod):  # pragma: no cover - not used by the bridges
            raise TypeError(f"cannot patch classmethod {name}")
        with self._lock:
            setattr(owner, name, new)
            self._done.append((owner, name, raw, new))

    def restore(self) -> None:
        """Put back every original attribute (in reverse order)."""
        with self._lock:
            while self._done:
                owner, name, raw, new = self._done.pop()
                current = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
                if current is not new:
                    import warnings

                    warnings.warn(f"seetrain: {getattr(owner, '__name__', owner)}.{name} was patched again after "
                                  f"the {self.bridge} bridge; that patch was left in place", stacklevel=3)
                    continue
                if raw is _MISSING:
                    delattr(owner, name)
                else:
                    setattr(owner, name, raw)

    @property
    def active(self) -> bool:
        return bool(self._done)


def import_or_explain(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise an ImportError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"SeeTrain's {what} needs {module.split('.')[0]} ({exc}). Install it with: "
                          f"pip install \"seetrain[{extra}]\"") from exc


def number(value: Any) -> Optional[float]:
    """A plain int/float from a Python or NumPy/torch scalar, else None (bools become 0/1)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except Exception:
            return None
        return number(value) if isinstance(value, (int, float)) else None
    return None


_ACTIVE: Dict[str, "Mirror"] = {}  # bridge name -> its live mirror


class Mirror:
    """Base of a bridge's live mirror. A subclass sets ``bridge`` and, in ``__init__``, ``self.runs``
    (source run id -> its SeeTrain run) and ``self._patches = Patches(bridge)``."""

    bridge = ""
    runs: Dict[Any, Any]
    _patches: Patches

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> Any:
        """A new live mirror; the bridge's earlier one, if any, is disabled first."""
        old = _ACTIVE.get(cls.bridge)
        if old is not None:
            old.disable()
        mirror = _ACTIVE[cls.bridge] = cls(*args, **kwargs)
        return mirror

    def disable(self) -> None:
        """Stop mirroring: every patched attribute is exactly as before."""
        self._patches.restore()
        if _ACTIVE.get(self.bridge) is self:
            del _ACTIVE[self.bridge]

    def finish(self, status: str = "success") -> None:
        """Stop mirroring and finish every run still open."""
        self.disable()
        for key in list(self.runs):
            try:
                self.runs.pop(key).finish(status)
            except Exception as exc:
                report(self.bridge, "finish a run", exc)


class LogdirMirror(Mirror):
    """A mirror with one SeeTrain run per writer log directory (TensorBoard, VisualDL): a writer
    reopened on a directory whose run it closed resumes that run. A subclass sets ``project`` and
    ``init_kwargs`` and calls :meth:`_init_logdirs` in ``__init__``."""

    init_kwargs: Dict[str, Any]

    def _init_logdirs(self) -> None:
        self.runs = {}                     # absolute log dir -> its open run
        self._ids: Dict[str, str] = {}     # log dirs whose run was finished (a reopened writer resumes it)
        self._lock = threading.Lock()

    def _logdir_run(self, logdir: str, start: Callable[[Dict[str, Any]], Any]) -> Any:
        """The open run of ``logdir``; else ``start(init_kwargs)`` makes it (under the lock, with
        ``id`` and ``resume=True`` when the directory had a run before)."""
        run = self.runs.get(logdir)
        if run is not None:
            return run
        with self._lock:
            run = self.runs.get(logdir)
            if run is None:
                kwargs = dict(self.init_kwargs)
                if logdir in self._ids:
                    kwargs.update(id=self._ids[logdir], resume=True)
                run = self.runs[logdir] = start(kwargs)
        return run

    def _close_logdir(self, logdir: str) -> None:
        """The writer of ``logdir`` closed: finish its run and remember it for a reopened writer."""
        with self._lock:
            run = self.runs.pop(logdir, None)
        if run is not None:
            self._ids[logdir] = run.id
            run.finish("success")
