"""The run config: attribute and item access; every change after init becomes a record."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Mapping, MutableMapping, Optional


MAX_DEPTH = 64


def to_plain(obj: Any, _depth: int = 0) -> Any:
    """Turn Namespaces, OmegaConf objects, dataclasses and mappings into plain dicts and lists.

    Structures nested deeper than ``MAX_DEPTH`` are cut to a marker string (never a RecursionError)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if _depth >= MAX_DEPTH:
        return f"<cut: nested deeper than {MAX_DEPTH} levels>"
    d = _depth + 1
    mod = type(obj).__module__
    if mod.startswith("omegaconf"):
        from omegaconf import OmegaConf  # only when the user already has omegaconf objects

        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, Mapping):
        return {_key(k): to_plain(v, d) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_plain(v, d) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return to_plain(dataclasses.asdict(obj), d)
    if type(obj).__name__ == "Namespace" and hasattr(obj, "__dict__"):
        return to_plain(vars(obj), d)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        try:
            return to_plain(obj.to_dict(), d)
        except Exception:
            pass
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            pass
    if type(obj).__name__ in ("Decimal", "Fraction"):  # numbers, as log() takes them (str when beyond a float)
        from .values import as_float

        try:
            num = as_float(obj)
            if num is not None:
                return num
        except Exception:
            pass
    try:
        return str(obj)
    except Exception:
        return f"<unprintable {type(obj).__name__}>"


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    try:
        return str(k)
    except Exception:
        return f"<unprintable {type(k).__name__}>"


class Config(MutableMapping):
    """A dict-like run config. ``config.lr = 1e-3``, ``config["lr"]``, ``config.update({...})``."""

    def __init__(self, data: Optional[Mapping[str, Any]] = None,
                 on_change: Optional[Callable[[Dict[str, Any]], None]] = None) -> None:
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_on_change", None)
        if data:
            self.update(data)
        object.__setattr__(self, "_on_change", on_change)

    # mapping protocol
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # attribute access
    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}; known keys: {sorted(self._data)}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def update(self, other: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Merge a dict (or Namespace, OmegaConf, dataclass) into the config and record the change."""
        changes: Dict[str, Any] = {}
        if other is not None:
            plain = to_plain(other)
            if not isinstance(plain, dict):
                raise TypeError(f"config.update() takes a mapping, got {type(other).__name__}")
            changes.update(plain)
        changes.update({str(k): to_plain(v) for k, v in kwargs.items()})
        if not changes:
            return
        self._data.update(changes)
        if self._on_change is not None:
            self._on_change(changes)

    def restore(self, values: Mapping[str, Any]) -> None:
        """Put back values recorded earlier (a resumed run's config) without recording them again."""
        self._data.update(values)

    def setdefaults(self, values: Mapping[str, Any]) -> None:
        """Set keys that are not yet present (as integrations do for framework defaults)."""
        self.update({k: v for k, v in to_plain(values).items() if k not in self._data})

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"
