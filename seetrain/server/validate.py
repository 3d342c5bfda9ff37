"""Validation of what clients send: uuids, run fields, record batches, media paths, and text that a
database cannot hold. Raises :class:`IngestError` (a 4xx with a message saying what was wrong)."""

from __future__ import annotations

import math
import re
from typing import Any, Dict, Iterable, List, Optional

RECORD_TYPES = {"metrics", "config", "system", "event", "console", "summary"}




_UUID = re.compile(r"^[0-9a-f]{32}$")


_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


STATUSES = {"running", "success", "failed", "crashed", "killed"}


class IngestError(ValueError):
    """A request the server refuses (becomes a 4xx JSON error); nothing of it was stored."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def norm_uuid(uuid: str) -> str:
    u = str(uuid).replace("-", "").lower()
    if not _UUID.match(u):
        raise IngestError(400, f"run uuid {str(uuid)[:80]!r} is not 32 hex digits (run.json 'uuid')")
    return u


def num(v: Any) -> Optional[float]:
    """A scalar value as float, or None when ``v`` is not a scalar."""
    t = type(v)
    if t is float or t is int:
        return float(v)
    if t is bool:
        return float(v)
    if t is str:
        return _NONFINITE.get(v)
    return None


def media_refs(v: Any) -> Optional[List[Dict[str, Any]]]:
    if isinstance(v, dict) and "_type" in v:
        return [v]
    if isinstance(v, list) and v and all(isinstance(i, dict) and "_type" in i for i in v):
        return v
    return None


def check_project(project: Any, max_len: int) -> str:
    if not isinstance(project, str) or not project or len(project) > max_len or "/" in project or "\x00" in project:
        raise IngestError(422, "run 'project' must be a non-empty string without '/' of at most "
                               f"{max_len} characters")
    return project


def no_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def caption_text(c: Any) -> Optional[str]:
    return None if c is None else no_nul(c if isinstance(c, str) else str(c))


def int_or_none(v: Any) -> Optional[int]:
    return v if type(v) is int and -2**63 <= v < 2**63 else None


def float_or_none(v: Any) -> Optional[float]:
    return float(v) if type(v) in (int, float) and math.isfinite(v) else None


def validate_records(recs: Any, max_batch: int, max_key: int) -> List[Dict[str, Any]]:
    """The batch's records, each checked; raises IngestError naming the first bad one. (Media paths
    are checked while storing, inside the same transaction, so a bad one still stores nothing.)"""
    if not isinstance(recs, list):
        raise IngestError(422, "body must be {\"records\": [record, ...]}")
    if len(recs) > max_batch:
        raise IngestError(413, f"batch of {len(recs)} records is over the limit of {max_batch}; send smaller batches")
    if _batch_ok(recs, max_key):
        return recs
    return _validate_each(recs, max_key)


_NONE = type(None)
_NUMBER_TYPES = {int, float, _NONE}
_STEP_TYPES = {int, _NONE}


def _batch_ok(recs: List[Any], max_key: int) -> bool:
    """The common batch checked column by column in C passes (map/set/min/max): True when every
    record is valid and needs no rewriting. False sends the batch to :func:`_validate_each`, which
    checks record by record, rewrites what it must, and names the first bad record; so this path only
    ever accepts what that one accepts."""
    if not recs:
        return True
    if set(map(type, recs)) != {dict}:
        return False
    seqs = [r.get("seq") for r in recs]
    if set(map(type, seqs)) != {int} or min(seqs) < 0 or max(seqs) >= 2**62:
        return False
    types = [r.get("type") for r in recs]
    tset = set(types)
    if not tset <= RECORD_TYPES or not set(map(type, [r.get("time") for r in recs])) <= _NUMBER_TYPES:
        return False  # format 1 (no type), unknown types, bool or NaN-tag times: record by record
    scalar = recs if tset <= {"metrics", "system"} else [r for r, t in zip(recs, types) if t == "metrics" or t == "system"]
    datas = [r.get("data") for r in scalar]
    if datas and set(map(type, datas)) != {dict}:
        return False
    for kt in set(map(tuple, datas)):
        for k in kt:
            if len(k) > max_key or "\x00" in k:
                return False
    metrics = recs if tset == {"metrics"} else [r for r, t in zip(recs, types) if t == "metrics"]
    steps = [r.get("step") for r in metrics]
    stypes = set(map(type, steps))
    if not stypes <= _STEP_TYPES:
        return False
    if int in stypes:
        ints = [s for s in steps if s is not None] if _NONE in stypes else steps
        if min(ints) <= -2**63 or max(ints) >= 2**63:
            return False
    if len(scalar) < len(recs):
        try:
            for i, (r, t) in enumerate(zip(recs, types)):
                if t != "metrics" and t != "system":
                    _check_other(i, r, t)
        except IngestError:
            return False
    return True


def _check_other(i: int, r: Dict[str, Any], t: Any) -> None:
    """A record of a type other than metrics/system (``t`` its type)."""
    if not isinstance(t, str) or not 0 < len(t) <= 32:  # unknown types are kept, not interpreted
        raise IngestError(422, f"records[{i}].type must be a short string, one of {sorted(RECORD_TYPES)}")
    elif t == "config" and type(r.get("config")) is not dict:
        raise IngestError(422, f"records[{i}].config must be a JSON object")
    elif t == "summary" and type(r.get("summary")) is not dict:
        raise IngestError(422, f"records[{i}].summary must be a JSON object")
    elif t == "event" and type(r.get("event")) is not str:
        raise IngestError(422, f"records[{i}].event must be a string")
    elif t == "console" and type(r.get("line")) is not str:
        raise IngestError(422, f"records[{i}].line must be a string")


def _validate_each(recs: List[Any], max_key: int) -> List[Dict[str, Any]]:
    """Record by record: fills the type of format-1 records, makes NUL in keys readable, raises
    IngestError naming the first bad record."""
    good_keys: set = set()
    nul_keys: set = set()
    for i, r in enumerate(recs):
        if type(r) is not dict:
            raise IngestError(422, f"records[{i}] is not a JSON object")
        seq = r.get("seq")
        if type(seq) is not int or not 0 <= seq < 2**62:
            raise IngestError(422, f"records[{i}].seq must be a non-negative integer")
        t = r.get("type")
        if t is None:  # format 1 record
            t = r["type"] = "metrics" if "data" in r else "config" if "config" in r else None
        if t == "metrics" or t == "system":
            data = r.get("data")
            if type(data) is not dict:
                raise IngestError(422, f"records[{i}].data must be a JSON object of key: value")
            kt = tuple(data)
            if kt not in good_keys:
                for k in kt:
                    if len(k) > max_key:
                        raise IngestError(422, f"records[{i}] key {k[:60]!r}... is longer than {max_key} characters")
                    if "\x00" in k:
                        nul_keys.add(kt)
                good_keys.add(kt)
            if kt in nul_keys:  # PostgreSQL text cannot hold NUL: keep the key, readable
                r["data"] = {no_nul(k): v for k, v in data.items()}
            step = r.get("step")
            if t == "metrics" and step is not None and (type(step) is not int or abs(step) >= 2**63):
                raise IngestError(422, f"records[{i}].step must be an integer")
        else:
            _check_other(i, r, t)
        tm = r.get("time")
        if tm is not None and type(tm) is not float and num(tm) is None:
            raise IngestError(422, f"records[{i}].time must be a number")
    return recs


def iter_refs(r: Dict[str, Any]) -> Iterable[Dict[str, Any]]:
    for v in r["data"].values():
        refs = media_refs(v)
        if refs:
            yield from refs


def check_media_path(path: Any, what: str = "media path") -> str:
    """A record's media path: relative, under ``media/``, no ``..``, no backslash or NUL."""
    if (not isinstance(path, str) or not path.startswith("media/") or len(path) > 1024 or "\\" in path
            or "\x00" in path or any(p in ("", ".", "..") for p in path.split("/"))):
        raise IngestError(422, f"{what} {str(path)[:80]!r} must be a relative path under media/ without '..'")
    return path
