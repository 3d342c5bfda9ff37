"""Safe class-level patching for autolog.

A patch replaces one method on a client *class* (so every client is covered, including those
created before autolog was enabled) and keeps the exact original attribute so that
:func:`restore` puts it back (``Cls.__dict__[name] is original``). The wrappers keep two kinds of
failure apart:

- an exception raised by the real API call reaches the caller unchanged (the same object, raised
  from the same place, with the original traceback below the wrapper frame);
- an exception raised by SeeTrain's own logging code is caught, counted with
  :func:`seetrain.resilience.record_failure` and warned about once per owner; the call goes on.

Patching a method that SeeTrain already patched replaces the earlier wrapper instead of wrapping
it again: the newest owner receives the calls, the original stays the one true original.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

_MISSING = object()
_lock = threading.RLock()
_active: Dict[Tuple[type, str], "Patch"] = {}

#: ``hooks(instance, args, kwargs)`` -> a call object with ``fail(exc)`` and ``done(result) -> result``,
#: or ``None`` to let the call through unrecorded.
StartHook = Callable[[Any, tuple, dict], Any]


@dataclass(eq=False)
class Patch:
    """One patched class attribute."""

    cls: type
    name: str
    original: Any           # the raw attribute from ``cls.__dict__`` (``_MISSING`` if inherited)
    wrapper: Any
    owner: str
    active: bool = field(default=True)


def report_failure(owner: str, what: str, exc: BaseException) -> None:
    """Count a failure of SeeTrain's logging code and warn once per owner (raised under
    ``SEETRAIN_TESTING=1``: :func:`seetrain.integration.run_holder.shield`)."""
    from seetrain.integration.run_holder import shield

    shield(f"autolog.{owner}", exc, f"{owner} autolog could not {what}",
           "the API call itself was not affected. Further failures are only counted "
           "(see seetrain.resilience.get_integration_error_stats())", stacklevel=3, once=True)


def guarded(owner: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or ``_MISSING`` after reporting an exception it raised."""
    try:
        return fn(*args)
    except Exception as exc:
        report_failure(owner, what, exc)
        return _MISSING


def _callable_of(raw: Any) -> Callable[..., Any]:
    if isinstance(raw, (staticmethod, classmethod)):
        return raw.__func__
    return raw


def _sync_wrapper(original: Callable[..., Any], start: StartHook, owner: str) -> Callable[..., Any]:
    def wrapper(self, *args, **kwargs):
        call = guarded(owner, "start recording a call", start, self, args, kwargs)
        if call is None or call is _MISSING:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            guarded(owner, "record a failed call", call.fail, exc)
            raise
        out = guarded(owner, "record a call", call.done, result)
        return result if out is _MISSING else out

    return wrapper


def _async_wrapper(original: Callable[..., Any], start: StartHook, owner: str) -> Callable[..., Any]:
    async def wrapper(self, *args, **kwargs):
        call = guarded(owner, "start recording a call", start, self, args, kwargs)
        if call is None or call is _MISSING:
            return await original(self, *args, **kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            guarded(owner, "record a failed call", call.fail, exc)
            raise
        out = guarded(owner, "record a call", call.done, result)
        return result if out is _MISSING else out

    return wrapper


def apply(cls: type, name: str, start: StartHook, owner: str, is_async: Optional[bool] = None,
          make_wrapper: Optional[Callable[[Callable[..., Any]], Callable[..., Any]]] = None) -> Patch:
    """Patch ``cls.name`` so every call goes through ``start`` (see :data:`StartHook`).

    ``make_wrapper(original_function)`` replaces the standard sync/async wrapper when a method needs
    special handling. A method already patched by SeeTrain is re-patched around its true original.
    """
    with _lock:
        key = (cls, name)
        previous = _active.get(key)
        if previous is not None:
            original = previous.original
            previous.active = False
        else:
            if not hasattr(cls, name):
                raise AttributeError(f"{cls.__module__}.{cls.__qualname__} has no attribute {name!r}; this "
                                     "client version is not supported by SeeTrain's autolog")
            original = cls.__dict__.get(name, _MISSING)
        raw = getattr(cls, name) if original is _MISSING else original
        func = _callable_of(raw)
        if make_wrapper is not None:
            wrapper = make_wrapper(func)
        else:
            if is_async is None:
                is_async = inspect.iscoroutinefunction(inspect.unwrap(func))
            wrapper = (_async_wrapper if is_async else _sync_wrapper)(func, start, owner)
        functools.update_wrapper(wrapper, func)
        wrapper.__seetrain_autolog__ = owner  # type: ignore[attr-defined]
        if isinstance(original, staticmethod):
            wrapper = staticmethod(wrapper)
        elif isinstance(original, classmethod):
            wrapper = classmethod(wrapper)
        setattr(cls, name, wrapper)
        patch = Patch(cls, name, original, wrapper, owner)
        _active[key] = patch
        return patch


def restore(patch: Patch) -> bool:
    """Put the original attribute back; a no-op for a patch that a newer one replaced.

    Returns whether the class attribute was restored.
    """
    with _lock:
        key = (patch.cls, patch.name)
        if not patch.active or _active.get(key) is not patch:
            patch.active = False
            return False
        patch.active = False
        del _active[key]
        current = patch.cls.__dict__.get(patch.name, _MISSING)
        if current is not patch.wrapper:
            warnings.warn(f"seetrain: {patch.cls.__qualname__}.{patch.name} was patched again by something else "
                          "after SeeTrain's autolog; that patch was left in place", stacklevel=3)
            return False
        if patch.original is _MISSING:
            delattr(patch.cls, patch.name)
        else:
            setattr(patch.cls, patch.name, patch.original)
        return True


def active_patches() -> Dict[Tuple[type, str], Patch]:
    """The patches in place now, by (class, attribute)."""
    with _lock:
        return dict(_active)


def original_of(cls: type, name: str) -> Any:
    """The original attribute of a patched method (or the current one if not patched)."""
    with _lock:
        patch = _active.get((cls, name))
        return patch.original if patch is not None else cls.__dict__.get(name, _MISSING)
