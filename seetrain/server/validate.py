"""Validation of what clients send: uuids, run fields, record batches, media paths, and text that a
database cannot hold. Raises :class:`IngestError` (a 4xx with a message saying what was wrong)."""

from __future__ import annotations

import math
import re
from itertools import chain
from typing import AbstractSet, Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ..rundir.format import NON_FINITE, RECORD_TYPES, infer_type, media_refs, norm_uuid as _norm, ref_paths

MAX_JSON_DEPTH = 64        # objects/lists nested in one another, in a record's fields or a run's fields
MAX_RECORD_KEYS = 10_000   # object keys in one record (all levels), or in one run body's fields
INT_QUERY_PARAMS = ("offset", "limit", "after_seq", "points")
INT64 = 2**63

_UUID = re.compile(r"[0-9a-f]{32}")


class IngestError(ValueError):
    """A request the server refuses (becomes a 4xx JSON error); nothing of it was stored."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class Limits(NamedTuple):
    """What one request may hold (docs/server-api.md, "Limits"); checked before anything is stored."""

    batch_records: int = 20_000
    key_length: int = 256              # a metric key
    string_length: int = 1_000_000     # any string in a record or a run body (console lines are cut to it)
    depth: int = MAX_JSON_DEPTH
    keys: int = MAX_RECORD_KEYS

    @classmethod
    def of(cls, settings: Any, batch_records: Optional[int] = None) -> "Limits":
        """The limits of a server's :class:`~.settings.Settings`."""
        return cls(settings.max_batch_records if batch_records is None else batch_records, settings.max_key_length,
                   settings.max_string_length)


def norm_uuid(uuid: str) -> str:
    u = _norm(uuid)
    if not _UUID.fullmatch(u):
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
        return NON_FINITE.get(v)
    return None


def check_project(project: Any, max_len: int) -> str:
    if not isinstance(project, str) or not project or len(project) > max_len or "/" in project or "\x00" in project:
        raise IngestError(422, "run 'project' must be a non-empty string without '/' of at most "
                               f"{max_len} characters")
    return project


def check_status(status: Any, allowed: AbstractSet[str]) -> Optional[str]:
    """``status`` when it is None or one of ``allowed``; any other JSON value, a list or an object
    too, is a 422 naming them."""
    if status is None or (type(status) is str and status in allowed):
        return status
    raise IngestError(422, f"status {str(status)[:40]!r} is not one of {sorted(allowed)}")


def no_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def caption_text(c: Any) -> Optional[str]:
    return None if c is None else no_nul(c if isinstance(c, str) else str(c))


def int_or_none(v: Any, bits: int = 64) -> Optional[int]:
    """``v`` when it is an integer that fits ``bits`` signed bits (the column), else None."""
    return v if type(v) is int and -2**(bits - 1) <= v < 2**(bits - 1) else None


def float_or_none(v: Any) -> Optional[float]:
    return float(v) if type(v) in (int, float) and math.isfinite(v) else None


# --- JSON values: depth, keys, string length, NUL -------------------------------------------------
_LEAF = frozenset((int, float, bool, type(None)))
_LEAF_OR_STR = _LEAF | {str}


class _Scan:
    """State of one scan: what is scanned (for the message), keys seen so far, whether NUL was met."""

    __slots__ = ("lim", "what", "keys", "nul")

    def __init__(self, lim: Limits, what: str) -> None:
        self.lim, self.what, self.keys, self.nul = lim, what, 0, False

    def string(self, text: str) -> None:
        if len(text) > self.lim.string_length:
            raise IngestError(413, f"{self.what}: a string of {len(text):,} characters is over the limit of "
                                   f"{self.lim.string_length:,} characters")
        if "\x00" in text:
            self.nul = True

    def value(self, v: Any, depth: int) -> None:
        """Scan ``v`` found ``depth`` levels down (a field's own object or list is level 1)."""
        t = type(v)
        if t is str:
            self.string(v)
            return
        if t is not dict and t is not list:
            return
        if depth > self.lim.depth:
            raise IngestError(422, f"{self.what} nests objects or lists deeper than {self.lim.depth} levels; "
                                   "flatten it (or store it as a string)")
        if t is dict:
            self.keys += len(v)
            if self.keys > self.lim.keys:
                raise IngestError(413, f"{self.what} holds more than {self.lim.keys:,} keys; split it into "
                                       "several records, or store the rest as a file")
            for k in v:
                self.string(k)
            vals: Iterable[Any] = v.values()
        else:
            vals = v
        for x in vals:
            if type(x) not in _LEAF:
                self.value(x, depth + 1)


def _no_nul_json(v: Any) -> Any:
    """``v`` with every NUL in keys and strings made readable (PostgreSQL text and jsonb cannot hold it)."""
    t = type(v)
    if t is str:
        return no_nul(v)
    if t is dict:
        return {no_nul(k): _no_nul_json(x) for k, x in v.items()}
    if t is list:
        return [_no_nul_json(x) for x in v]
    return v


def check_run_body(meta: Dict[str, Any], lim: Limits) -> Dict[str, Any]:
    """A run body (run.json fields, or a finish body) within the limits: each field nested at most
    ``lim.depth`` levels, at most ``lim.keys`` keys in all, strings at most ``lim.string_length``;
    NUL characters made readable. Raises :class:`IngestError` naming the field."""
    scan = _Scan(lim, "")
    for k, v in meta.items():
        if type(v) not in _LEAF:
            scan.what = f"run field {str(k)[:60]!r}"
            scan.value(v, 1)
        scan.string(k)
    return _no_nul_json(meta) if scan.nul else meta


def cut_line(line: str, limit: int) -> str:
    """A console line cut to ``limit`` characters, saying how much was cut."""
    return line[:limit] + f" ... [{len(line) - limit:,} characters cut: the server keeps {limit:,} per line]"


def _where(i: int, r: Dict[str, Any]) -> str:
    """Record ``i`` of the batch, named by its seq too (what a user finds in records.jsonl)."""
    seq = r.get("seq")
    return f"records[{i}] (seq {seq})" if type(seq) is int else f"records[{i}]"


def _scan_record(i: int, r: Dict[str, Any], t: Any, lim: Limits) -> bool:
    """Check record ``i`` against the limits (raises); True when it must be rewritten (a NUL, or a
    console line to cut)."""
    scan = _Scan(lim, _where(i, r))
    rewrite = False
    for k, v in r.items():
        scan.string(k)
        if t == "console" and k == "line":
            rewrite = rewrite or len(v) > lim.string_length
        elif type(v) not in _LEAF:
            scan.value(v, 1)
    return rewrite or scan.nul


def _rewrite_record(r: Dict[str, Any], t: Any, lim: Limits) -> Dict[str, Any]:
    line = r.get("line") if t == "console" else None
    out = _no_nul_json({k: v for k, v in r.items() if k != "line"} if line is not None else r)
    if line is not None:  # NUL in a console line is made readable when stored
        out["line"] = cut_line(line, lim.string_length) if len(line) > lim.string_length else line
    return out


def validate_records(recs: Any, max_batch: int = 20_000, max_key: int = 256, *,
                     limits: Optional[Limits] = None) -> List[Dict[str, Any]]:
    """The batch's records, each checked against ``limits`` (default: ``max_batch`` records, keys
    of ``max_key`` characters and the defaults of :class:`Limits`); raises IngestError naming the
    first bad one. Everything is checked here, media paths included, so that storing never fails
    half-way: a bad batch stores nothing."""
    lim = limits or Limits(batch_records=max_batch, key_length=max_key)
    if not isinstance(recs, list):
        raise IngestError(422, "body must be {\"records\": [record, ...]}")
    if len(recs) > lim.batch_records:
        raise IngestError(413, f"batch of {len(recs)} records is over the limit of {lim.batch_records}; "
                               "send smaller batches")
    if _batch_ok(recs, lim):
        return recs
    return _validate_each(recs, lim)


_NONE = type(None)
_NUMBER_TYPES = {int, float, _NONE}
_STEP_TYPES = {int, _NONE}


def _batch_ok(recs: List[Any], lim: Limits) -> bool:
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
    try:
        tset = set(types)
    except TypeError:  # a list or an object as a type: record by record names it
        return False
    if not tset <= RECORD_TYPES or not set(map(type, [r.get("time") for r in recs])) <= _NUMBER_TYPES:
        return False  # format 1 (no type), unknown types, bool or NaN-tag times: record by record
    scalar = recs if tset <= {"metrics", "system"} else [r for r, t in zip(recs, types) if t == "metrics" or t == "system"]
    datas = [r.get("data") for r in scalar]
    if datas and set(map(type, datas)) != {dict}:
        return False
    for kt in set(map(tuple, datas)):
        if len(kt) > lim.keys:
            return False
        for k in kt:
            if len(k) > lim.key_length or "\x00" in k:
                return False
    if datas:  # plain values only (a media ref or a nested value: record by record)
        vals = list(chain.from_iterable(map(dict.values, datas)))
        vtypes = set(map(type, vals))
        if not vtypes <= _LEAF:
            if not vtypes <= _LEAF_OR_STR:
                return False
            strs = [v for v in vals if type(v) is str]
            if max(map(len, strs)) > lim.string_length or any("\x00" in v for v in strs):
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
                    if _scan_record(i, r, t, lim):
                        return False
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
    elif t == "rewind" and not (type(r.get("step")) is int and 0 <= r["step"] < 2**63):
        raise IngestError(422, f"records[{i}].step of a rewind must be a non-negative integer (the step "
                               "the run's history goes back to)")


def _validate_each(recs: List[Any], lim: Limits) -> List[Dict[str, Any]]:
    """Record by record: fills the type of format-1 records, makes NUL readable, cuts console lines
    over the string limit, checks media paths; raises IngestError naming the first bad record."""
    good_keys: set = set()
    max_key = lim.key_length
    for i, r in enumerate(recs):
        if type(r) is not dict:
            raise IngestError(422, f"records[{i}] is not a JSON object")
        seq = r.get("seq")
        if type(seq) is not int or not 0 <= seq < 2**62:
            raise IngestError(422, f"records[{i}].seq must be a non-negative integer")
        t = r.get("type")
        if t is None:  # format 1 record
            t = r["type"] = infer_type(r)
        if t == "metrics" or t == "system":
            data = r.get("data")
            if type(data) is not dict:
                raise IngestError(422, f"records[{i}].data must be a JSON object of key: value")
            kt = tuple(data)
            if kt not in good_keys:
                if len(kt) > lim.keys:
                    raise IngestError(413, f"{_where(i, r)} holds more than {lim.keys:,} keys; split it into "
                                           "several records")
                for k in kt:
                    if len(k) > max_key:
                        raise IngestError(422, f"records[{i}] key {k[:60]!r}... is longer than {max_key} characters")
                good_keys.add(kt)
            step = r.get("step")
            if t == "metrics" and step is not None and (type(step) is not int or abs(step) >= 2**63):
                raise IngestError(422, f"records[{i}].step must be an integer")
            for v in data.values():
                for ref in media_refs(v) or ():
                    for path in ref_paths(ref):  # a table names its image cells' files too
                        check_media_path(path, f"{_where(i, r)} media path")
        else:
            _check_other(i, r, t)
        tm = r.get("time")
        if tm is not None and type(tm) is not float and num(tm) is None:
            raise IngestError(422, f"records[{i}].time must be a number")
        if _scan_record(i, r, t, lim):
            recs[i] = _rewrite_record(r, t, lim)
    return recs


def check_query_params(params: Iterable[Tuple[str, str]]) -> None:
    """Query parameters a database can take: no NUL anywhere, integers within 64 bits. Raises
    IngestError (400) naming the parameter."""
    for k, v in params:
        if "\x00" in k or "\x00" in v:
            raise IngestError(400, f"query parameter {k[:60]!r} holds a NUL character (%00); remove it")
        if k in INT_QUERY_PARAMS:
            try:
                n = int(v)
            except ValueError:
                continue  # not an integer at all: the route's own check says so
            if not -INT64 <= n < INT64:
                raise IngestError(400, f"query parameter {k}={v[:40]}... is beyond a 64-bit integer")


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
