"""Turning what a user passes to ``log()`` into storable values (the slow side of the hot path).

Nothing here raises on a value: a value that cannot be logged becomes ``SKIP`` plus one message
for the caller to warn with, naming the key.
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Dict, Optional, Tuple

FAST = frozenset((float, int))


def fix_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


def safe_repr(obj: Any, limit: int = 80) -> str:
    """``repr(obj)`` that never raises (a ``__repr__`` may) and stays short."""
    try:
        text = repr(obj)
    except BaseException:  # noqa: B036 - a user __repr__ can raise anything
        text = f"<{type(obj).__name__} object with a failing __repr__>"
    if not isinstance(text, str):
        text = f"<{type(obj).__name__}>"
    text = fix_text(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


MAX_NESTING = 32  # nested dicts deeper than this are cut (log() flattens them to "a/b/c" keys)


class _Skip:
    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIP"


SKIP = _Skip()


def flatten(prefix: str, data: Dict[Any, Any], out: Dict[Any, Any], depth: int = 0) -> Optional[str]:
    """Flatten nested dicts into ``prefix/key`` entries of ``out``; returns the key where it cut, if any."""
    if depth >= MAX_NESTING:
        return prefix
    cut = None
    for k, v in data.items():
        key = f"{prefix}/{k}" if type(k) is str else k
        if type(v) is dict:
            cut = flatten(key if type(key) is str else safe_repr(key), v, out, depth + 1) or cut
        else:
            out[key] = v
    return cut


def coerce(key: Any, value: Any) -> Tuple[Any, Optional[str], Optional[str]]:
    """``(value, warn_tag, message)``: a float/int/media, or ``SKIP`` with the reason."""
    try:
        return _coerce(key, value)
    except Exception as exc:  # a __float__ / __len__ / item() of the user's object raised
        return SKIP, f"value:{safe_repr(key)}", (f"{safe_repr(key)}: could not read a {type(value).__name__} value "
                                                  f"({type(exc).__name__}: {safe_repr(exc)}); it was skipped")


def _coerce(key: Any, value: Any) -> Tuple[Any, Optional[str], Optional[str]]:
    if type(key) is not str:
        name = safe_repr(key)
        return SKIP, f"key-type:{name}", (f"metric key {name} is a {type(key).__name__}, not a string; it was "
                                          "skipped. Use string keys such as 'train/loss'")
    t = type(value)
    if t is bool:
        return int(value), None, None
    if t in FAST:
        return value, None, None
    from .media import Media, Text

    if isinstance(value, Media):
        if value.error:
            return SKIP, f"media:{key}", f"{key!r}: {value.error}; this value was skipped"
        return value, None, None
    if t is str:
        return Text(value), None, None
    if t in (list, tuple) and value and all(isinstance(m, Media) for m in value):
        bad = [m.error for m in value if m.error]
        good = [m for m in value if not m.error]
        msg = f"{key!r}: {bad[0]}; the bad items were skipped" if bad else None
        return (good if good else SKIP), (f"media:{key}" if bad else None), msg
    mod = t.__module__
    if mod == "numpy" or (mod.startswith("torch") and "torch" in sys.modules):
        try:
            if getattr(value, "size", 1) == 1 if mod == "numpy" else value.numel() == 1:
                num = value.item()
                if isinstance(num, bool):
                    return int(num), None, None
                if isinstance(num, (int, float)):
                    return num, None, None
        except Exception:
            pass
        shape = tuple(getattr(value, "shape", ()))
        return SKIP, f"value:{key}", (f"{key!r}: a {mod} value of shape {shape} is not a scalar; it was skipped. "
                                      "Log a scalar (.mean().item()) or wrap it: seetrain.Histogram(x)")
    if isinstance(value, bool):
        return int(value), None, None
    if isinstance(value, int):
        return int(value), None, None
    if isinstance(value, float):
        return float(value), None, None
    import decimal
    import fractions

    if isinstance(value, (decimal.Decimal, fractions.Fraction)):
        return float(value), None, None
    return SKIP, f"value:{key}", (f"{key!r}: cannot log a value of type {t.__name__}; it was skipped. "
                                  "Log numbers, or seetrain.Image / Audio / Text / Histogram")


def as_step(step: Any) -> Optional[int]:
    """``step`` as a non-negative int (NumPy / torch integers included), or ``None`` if it is not one."""
    if type(step) is int:
        return step if step >= 0 else None
    if isinstance(step, bool) or isinstance(step, float):
        return None
    try:
        n = operator.index(step)  # numpy.int64, torch integer scalars (0-d), IntEnum
    except Exception:
        return None
    return n if n >= 0 else None


def media_nbytes(value: Any) -> int:
    """Bytes a media value (or a list of them) holds in memory until it is written."""
    if isinstance(value, list):
        return sum(media_nbytes(v) for v in value)
    try:
        return int(value.nbytes)
    except Exception:
        return 1024
