"""The record schema and its JSON Lines codec.

One record is one line of ``records.jsonl``::

    {"seq": 7, "step": 3, "time": 1764079200.12, "data": {"loss": 0.25, "acc": "NaN"}}
    {"seq": 8, "time": 1764079200.13, "config": {"lr": 0.001}}

``seq`` is unique and increasing within a run; a record carries either ``data`` (metrics and
media references at ``step``) or ``config`` (an update of the run config). JSON has no NaN or
infinity, so non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` and turned back into floats when read. Plain strings are never metric values
(text is logged as :class:`seetrain.Text`), so the mapping is unambiguous.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

import orjson

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _finite_or_tag(value: float) -> Any:
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def encode_value(value: Any) -> Any:
    """Make one metric value JSON-safe (non-finite floats become tags)."""
    if type(value) is float and not math.isfinite(value):
        return _finite_or_tag(value)
    return value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float):
        return encode_value(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def sanitize(obj: Any) -> Any:
    """Deep-copy ``obj`` into plain JSON types: non-finite floats tagged, unknowns as ``str``."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return encode_value(obj)
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [sanitize(v) for v in obj]
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return sanitize(item())
        except Exception:
            pass
    return str(obj)


def encode_record(seq: int, time: float, step: Optional[int] = None,
                  data: Optional[Dict[str, Any]] = None,
                  config: Optional[Dict[str, Any]] = None) -> bytes:
    """Serialise one record to a JSON line (with the trailing newline)."""
    if data is not None:
        try:
            body = orjson.dumps(data, default=_json_default, option=_OPTS)
        except orjson.JSONEncodeError:  # e.g. an int beyond 64 bits: store it as a float
            data = {k: float(v) if type(v) is int else v for k, v in data.items()}
            body = orjson.dumps(data, default=_json_default, option=_OPTS)
        if b"null" in body:  # orjson writes NaN/Inf as null; None itself is never a metric value
            body = orjson.dumps({k: encode_value(v) for k, v in data.items()}, default=_json_default, option=_OPTS)
        return b'{"seq":%d,"time":%r,"step":%d,"data":%b}\n' % (seq, time, step, body)
    rec: Dict[str, Any] = {"seq": seq, "time": time}
    if config is not None:
        rec["config"] = sanitize(config)
    return orjson.dumps(rec, default=_json_default, option=_OPTS | orjson.OPT_APPEND_NEWLINE)


def decode_record(line: bytes) -> Dict[str, Any]:
    """Parse one JSON line; raises ``orjson.JSONDecodeError`` on a torn or corrupt line."""
    rec = orjson.loads(line)
    if not isinstance(rec, dict) or "seq" not in rec:
        raise orjson.JSONDecodeError("not a SeeTrain record", line.decode("utf-8", "replace"), 0)
    data = rec.get("data")
    if data:
        for key, value in data.items():
            if type(value) is str:
                data[key] = NON_FINITE.get(value, value)
    return rec


def dumps(obj: Any, indent: bool = True) -> bytes:
    """JSON for metadata files (``run.json``)."""
    opt = _OPTS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(sanitize(obj), option=opt)


def loads(raw: bytes) -> Any:
    return orjson.loads(raw)
