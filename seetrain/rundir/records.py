"""The typed record schema (run directory format 2) and its JSON Lines codec.

One record is one line of ``records.jsonl``; every record has ``seq``, ``time`` and ``type``::

    {"seq":7,"time":1764079200.12,"type":"metrics","step":3,"data":{"loss":0.25,"acc":"NaN"}}
    {"seq":8,"time":1764079200.13,"type":"config","config":{"lr":0.001}}
    {"seq":9,"time":1764079200.20,"type":"event","event":"warning","message":"...","key":"x"}

See ``docs/record-format.md`` for every type and :mod:`seetrain.rundir.format` for the schema's
facts (record types, the ``"NaN"``/``"Infinity"``/``"-Infinity"`` tags of non-finite floats, media
references).

The encoders never raise on a value: anything JSON cannot hold (an int beyond 64 bits, a key with
a lone surrogate, a recursion-deep structure) is repaired or dropped, and reported through the
``problem`` callback as ``(key, message)`` so the caller can warn once, naming the key.
"""

from __future__ import annotations

import decimal
import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import orjson

from ..values import as_float, fix_text, safe_repr
from .format import INF_TAG, NEG_INF_TAG, NON_FINITE, TAGGED_FIELD, UNKNOWN, infer_type, tag

MAX_DEPTH = 64  # deeper structures are cut (a record is data, not a recursion test)

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
# The writer's fast path for metrics: log() only lets str keys through it, and OPT_NON_STR_KEYS
# costs orjson ~40% per record; anything else raises and takes encode_metrics' careful path.
METRIC_OPTS = orjson.OPT_SERIALIZE_NUMPY
METRICS_LINE = b'{"seq":%d,"time":%r,"type":"metrics","step":%d,"data":%b}\n'
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson (and most JSON readers) hold exactly

Problem = Optional[Callable[[str, str], None]]


def _safe_str(obj: Any) -> str:
    try:
        return fix_text(str(obj))
    except BaseException:  # noqa: B036
        return safe_repr(obj)


def _big_int(value: int) -> Any:
    try:
        return float(value)
    except OverflowError:
        return INF_TAG if value > 0 else NEG_INF_TAG


def sanitize(obj: Any, _depth: int = 0) -> Any:
    """Deep-copy ``obj`` into plain JSON types; never raises.

    Non-finite floats are tagged, ints beyond 64 bits become floats (or infinity tags), keys and
    strings are made valid UTF-8, structures deeper than :data:`MAX_DEPTH` are cut to a string,
    other real numbers (``Decimal``, ``Fraction``, ``numpy.longdouble``) become floats, and anything
    else becomes its ``str``.
    """
    t = type(obj)
    if obj is None or t is bool:
        return obj
    if t is int:
        return obj if _INT_MIN <= obj <= _INT_MAX else _big_int(obj)
    if t is float:
        return tag(obj)
    if t is str:
        return fix_text(obj)
    if _depth >= MAX_DEPTH:
        return f"<cut: nested deeper than {MAX_DEPTH} levels>"
    if isinstance(obj, dict):
        out = {}
        for k, v in list(obj.items()):
            out[fix_text(k) if type(k) is str else _safe_str(k)] = sanitize(v, _depth + 1)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [sanitize(v, _depth + 1) for v in list(obj)]
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        try:
            return sanitize(int(obj), _depth + 1)
        except BaseException:  # noqa: B036
            return _safe_str(obj)
    if isinstance(obj, float):
        try:
            return tag(float(obj))
        except BaseException:  # noqa: B036
            return _safe_str(obj)
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            num = item()
            if type(num) is not type(obj):  # numpy.longdouble.item() is itself: taken as a real below
                return sanitize(num, _depth + 1)
        except BaseException:  # noqa: B036
            pass
    if isinstance(obj, (decimal.Decimal, numbers.Real)):  # Decimal, Fraction: numbers, as log() takes them
        try:
            num = as_float(obj)
            if num is not None:
                return tag(num)
        except BaseException:  # noqa: B036 - a signaling NaN
            pass
    return _safe_str(obj)


def _clean_metrics(data: Dict[Any, Any], problem: Problem) -> Dict[str, Any]:
    """The per-key slow path: repair what can be stored, drop (and report) what cannot."""
    out: Dict[str, Any] = {}
    for key, value in data.items():
        text = type(key) is str
        name = fix_text(key) if text else _safe_str(key)
        if name != key and problem is not None:
            why = "is not valid UTF-8 (a lone surrogate)" if text else "is not text"
            problem(name, f"metric key {safe_repr(key)} {why}; stored as {name!r}")
        t = type(value)
        if t is float:
            value = tag(value)
        elif t is int:
            if not _INT_MIN <= value <= _INT_MAX:
                try:
                    value = float(value)
                    msg = "is an integer beyond 64 bits; stored as a float (low digits lost)"
                except OverflowError:
                    if problem is not None:
                        problem(name, f"{name!r}: an integer of {len(str(abs(value)))} digits cannot be stored "
                                      "as a number; it was skipped. Log it as a float or a string (Text)")
                    continue
                if problem is not None:
                    problem(name, f"{name!r} {msg}")
        else:
            value = sanitize(value)
        out[name] = value
    return out


def encode_metrics(seq: int, time: float, step: int, data: Dict[str, Any],
                   problem: Problem = None, kind: str = "metrics") -> Tuple[bytes, Dict[str, Any]]:
    """One ``metrics`` (or ``system``) line and the values as stored (for the summary)."""
    try:
        body = orjson.dumps(data, option=_OPTS)
        if b"null" in body:  # orjson writes NaN/Inf as null; None itself is never a metric value
            raise ValueError
    except (orjson.JSONEncodeError, ValueError, TypeError):
        data = _clean_metrics(data, problem)
        body = orjson.dumps(data, option=_OPTS)
    if kind == "metrics":
        return METRICS_LINE % (seq, time, step, body), data
    return b'{"seq":%d,"time":%r,"type":"%b","data":%b}\n' % (seq, time, kind.encode(), body), data


_RECORD_SEP = b'},{"seq":'  # between two records of a dumped list (a string cannot hold it: '"' is escaped)
_LINE_SEP = b'}\n{"seq":'


def encode_metrics_batch(items: Sequence[Tuple[int, int, float, int, Dict[str, Any]]]) -> Optional[List[Any]]:
    """The lines of consecutive queued metrics items (:class:`~seetrain.rundir.queue.Item` s:
    ``kind, seq, time, step, data``) made in one
    orjson call (a third of the cost of one call per record), as bytes-like parts to join; or
    ``None`` when any record needs :func:`encode_metrics`' careful path (non-finite floats, ints
    beyond 64 bits, odd keys).

    The values of queued metrics are numbers (``Run.log`` makes them so) and keys are strings, so
    ``},{"seq":`` occurs in the dumped list only between two records.
    """
    try:
        out = orjson.dumps([{"seq": seq, "time": t, "type": "metrics", "step": step, "data": data}
                            for _, seq, t, step, data in items], option=METRIC_OPTS)
    except orjson.JSONEncodeError:
        return None
    if b"null" in out:  # orjson writes NaN and infinities as null
        return None
    return [memoryview(out.replace(_RECORD_SEP, _LINE_SEP))[1:-1], b"\n"]  # without the list's brackets


def encode(seq: int, time: float, type: str, fields: Dict[str, Any]) -> bytes:
    """Any other typed record (``config``, ``event``, ``console``, ``summary``); never raises."""
    rec: Dict[str, Any] = {"seq": seq, "time": time, "type": type}
    rec.update(sanitize(fields))
    return orjson.dumps(rec, option=_OPTS | orjson.OPT_APPEND_NEWLINE)


def encode_record(seq: int, time: float, step: Optional[int] = None,
                  data: Optional[Dict[str, Any]] = None,
                  config: Optional[Dict[str, Any]] = None) -> bytes:
    """A ``metrics`` record (with ``data``) or a ``config`` record: one JSON line with its newline."""
    if data is not None:
        return encode_metrics(seq, time, step or 0, data)[0]
    return encode(seq, time, "config", {"config": config or {}})


def normalize_record(rec: Dict[str, Any]) -> Dict[str, Any]:
    """Give a parsed record its ``type`` and turn ``"NaN"``/``"Infinity"`` tags back into floats.

    Records written before format 2 have no ``type``: one with ``data`` is ``metrics``, one with
    ``config`` is ``config`` (anything else ``unknown``, which readers skip).
    """
    kind = rec.get("type")
    if kind is None:
        kind = rec["type"] = infer_type(rec) or UNKNOWN
    field = TAGGED_FIELD.get(kind)
    if field is not None:
        values = rec.get(field)
        if values and type(values) is dict:
            for key, value in values.items():
                if type(value) is str:
                    values[key] = NON_FINITE.get(value, value)
    return rec


def decode_record(line: bytes) -> Dict[str, Any]:
    """Parse one JSON line into a typed record (see :func:`normalize_record`).

    Raises ``orjson.JSONDecodeError`` (a ``ValueError``) on a torn or corrupt line.
    """
    rec = orjson.loads(line)
    if type(rec) is not dict or "seq" not in rec:
        raise orjson.JSONDecodeError("not a SeeTrain record", line.decode("utf-8", "replace"), 0)
    return normalize_record(rec)


def dumps(obj: Any, indent: bool = True) -> bytes:
    """JSON for metadata files (``run.json``); never raises (see :func:`sanitize`)."""
    opt = _OPTS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(sanitize(obj), option=opt)


def loads(raw: bytes) -> Any:
    return orjson.loads(raw)
