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
        if (getattr(value, "size", 1) if mod == "numpy" else getattr(value, "numel", lambda: 0)()) == 1:
            num = value.item()
            if type(num) is not t and not isinstance(num, (str, bytes)):
                return _coerce(key, num)  # a Python number, or the element of an object array (a Decimal)
            if "complex" in t.__name__:
                return _complex(key)
            if "float" in t.__name__ or "double" in t.__name__:
                return _real(key, num)  # numpy.longdouble: .item() keeps it (no Python float holds it)
        shape = tuple(getattr(value, "shape", ()))
        return SKIP, f"value:{key}", (f"{key!r}: a {mod} value of shape {shape} is not a scalar; it was skipped. "
                                      "Log a scalar (.mean().item()) or wrap it: seetrain.Histogram(x)")
    if isinstance(value, bool):
        return int(value), None, None
    if isinstance(value, int):
        return int(value), None, None
    if isinstance(value, float):
        return float(value), None, None
    if isinstance(value, complex):
        return _complex(key)
    import decimal
    import numbers

    if isinstance(value, (decimal.Decimal, numbers.Real)):  # Decimal, Fraction: numbers like a float
        return _real(key, value)
    return SKIP, f"value:{key}", (f"{key!r}: cannot log a value of type {t.__name__}; it was skipped. "
                                  "Log numbers, or seetrain.Image / Audio / Text / Histogram")


def as_float(value: Any) -> Optional[float]:
    """A real number of another type (Decimal, Fraction, numpy.longdouble) as a float; ``None`` when
    it is beyond a 64-bit float's range (a NaN or an infinity stays one)."""
    try:
        num = float(value)
    except OverflowError:
        return None
    return num if num - num == 0 or value != value or num == value else None


def _real(key: str, value: Any) -> Tuple[Any, Optional[str], Optional[str]]:
    num = as_float(value)
    if num is not None:
        return num, None, None
    return SKIP, f"value:{key}", (f"{key!r}: {safe_repr(value, 40)} is beyond the range of a 64-bit float (about "
                                  "1.8e308); it was skipped. Rescale it (e.g. log its log10) or log it as text: "
                                  "seetrain.Text(str(x))")


def _complex(key: str) -> Tuple[Any, Optional[str], Optional[str]]:
    return SKIP, f"value:{key}", (f"{key!r}: a complex value cannot be logged as a number; it was skipped. "
                                  "Log its .real, .imag or abs() under keys of their own")


STEP_MAX = 2**63 - 1  # steps are 64-bit integers in the record format, the readers and the server


def as_step(step: Any) -> Optional[int]:
    """``step`` as an int in 0..:data:`STEP_MAX` (NumPy / torch integers included), or ``None``."""
    if type(step) is not int:
        if isinstance(step, (bool, float)):
            return None
        try:
            step = operator.index(step)  # numpy.int64, torch integer scalars (0-d), IntEnum
        except Exception:
            return None
    return step if 0 <= step <= STEP_MAX else None


def step_problem(step: Any) -> str:
    """Why ``step`` (refused by :func:`as_step`) is not a step, and what to pass instead."""
    try:
        n = operator.index(step) if not isinstance(step, bool) else None
    except Exception:
        n = None
    if n is not None and n > STEP_MAX:
        return (f"step={n} is beyond the 64-bit range of steps (at most 2**63 - 1 = {STEP_MAX}); logged at the "
                "next step instead. Pass a smaller step (e.g. count batches, not samples)")
    return (f"step={safe_repr(step)} is not a non-negative integer; logged at the next step instead. "
            "Pass step as an int >= 0")


def media_nbytes(value: Any) -> int:
    """Bytes a media value (or a list of them) holds in memory until it is written."""
    if isinstance(value, list):
        return sum(media_nbytes(v) for v in value)
    try:
        return int(value.nbytes)
    except Exception:
        return 1024
