"""Compact storage of scalar series while a run is read (``array`` module, not a dict per record).

A run's metrics are held as one row per record (its step and time) plus, per key, the row numbers
where the key appears and its values: 12-16 bytes per logged number instead of a few hundred
for a decoded record, which keeps :func:`seetrain.read_run` under twice the file size.
"""

from __future__ import annotations

import array
from itertools import chain
from operator import itemgetter
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from .format import REWIND, media_refs
from .stream import Chunk


_type = itemgetter("type")


class Column(array.array):
    """A compact sequence of numbers (an ``array.array``: ``tolist()``, the buffer protocol, so
    ``numpy.asarray`` takes it without copying) that also compares equal to a list or tuple of the
    same values."""

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, (list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return array.array.__eq__(self, other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Column({self.tolist()!r})"


class Series(NamedTuple):
    """The history of one scalar key: equal-length ``steps``, ``values`` and ``times``.

    For system metrics ``steps`` are the sample numbers (0, 1, ...): they have no user step.
    """

    steps: Sequence[int]
    values: Sequence[float]
    times: Sequence[float]


_MISSING = object()


class KeyColumn:
    """Where one key appears (row numbers) and its values; ints stay ints until a float arrives."""

    __slots__ = ("rows", "values")

    def __init__(self) -> None:
        self.rows = array.array("I")
        self.values = Column("q")

    def add_slow(self, row: int, value: Any) -> None:
        """Append a value that did not fit the column as it is (a float into ints, a huge int)."""
        if self.values.typecode == "q":
            self.values = Column("d", self.values)
        try:
            self.values.append(value)
        except OverflowError:  # an int beyond what a double holds
            self.values.append(float("inf") if value > 0 else float("-inf"))
        self.rows.append(row)


class Table:
    """Rows (step, time) and their scalar keys; media references and other values kept aside."""

    def __init__(self) -> None:
        self.steps = array.array("q")
        self.times = array.array("d")
        self.keys: Dict[str, KeyColumn] = {}
        self.media: Dict[str, List[Tuple[int, Any]]] = {}
        self.other: Dict[str, Tuple[int, Any]] = {}  # last non-number value of a key, with its row
        self.superseded: Optional[bytearray] = None  # 1 for a row a later rewind superseded (None: none)

    def __len__(self) -> int:
        return len(self.steps)

    def rewind(self, step: int) -> int:
        """A ``rewind`` record: every row so far whose step is above ``step`` is superseded (kept,
        hidden from :meth:`series` unless asked for). Returns how many rows it superseded."""
        dead = self.superseded
        if dead is None:
            dead = self.superseded = bytearray()
        dead.extend(bytes(len(self.steps) - len(dead)))
        n = 0
        for row, s in enumerate(self.steps):
            if s > step and not dead[row]:
                dead[row] = 1
                n += 1
        return n

    def live(self, row: int) -> bool:
        """Whether ``row`` is part of the run's history (no rewind superseded it)."""
        dead = self.superseded
        return dead is None or row >= len(dead) or not dead[row]

    def add(self, step: Optional[int], time: Any, data: Dict[str, Any]) -> None:
        row = len(self.steps)
        try:
            self.steps.append(step if type(step) is int else -1)
        except OverflowError:
            self.steps.append(-1)
        try:
            self.times.append(time if type(time) is float else float(time or 0))
        except (TypeError, ValueError, OverflowError):
            self.times.append(0.0)
        for k, v in data.items():
            self._add_value(k, row, v)

    def add_many(self, steps: List[Any], times: List[Any], datas: List[Dict[str, Any]]) -> None:
        """Append many rows at once: per key, one C-level conversion instead of a loop per value
        (several times faster); anything unusual in a key (a string, media, a huge int) takes the
        one-by-one path for that key."""
        base = len(self.steps)
        n = len(datas)
        try:
            new_steps, new_times = array.array("q", steps), array.array("d", times)
        except (TypeError, OverflowError):
            for st, t, d in zip(steps, times, datas):
                self.add(st, t, d)
            return
        self.steps.extend(new_steps)
        self.times.extend(new_times)
        keys = self.keys
        for k in dict.fromkeys(chain.from_iterable(datas)):  # first-seen order, in C
            vals = [d.get(k, _MISSING) for d in datas]
            if _MISSING in vals:
                rows = [base + i for i, v in enumerate(vals) if v is not _MISSING]
                vals = [v for v in vals if v is not _MISSING]
            else:
                rows = range(base, base + n)
            col = keys.get(k)
            packed = None
            if col is None or col.values.typecode == "q":
                try:
                    packed = Column("q", vals)
                except (TypeError, OverflowError):
                    pass
            if packed is None:
                try:
                    packed = Column("d", vals)
                except (TypeError, OverflowError):
                    for row, v in zip(rows, vals):
                        self._add_value(k, row, v)
                    continue
            if col is None:
                col = keys[k] = KeyColumn()
            if packed.typecode == "d" and col.values.typecode == "q":
                col.values = Column("d", col.values)
            col.values.extend(packed)
            col.rows.extend(rows)

    def _add_value(self, k: str, row: int, v: Any) -> None:
        t = type(v)
        if t is float or t is int or t is bool:
            col = self.keys.get(k)
            if col is None:
                col = self.keys[k] = KeyColumn()
            if t is float and col.values.typecode == "q":
                col.add_slow(row, v)
                return
            try:
                col.values.append(v)
            except OverflowError:
                col.add_slow(row, v)
                return
            col.rows.append(row)
        else:
            if (t is dict or t is list) and media_refs(v) is not None:
                self.media.setdefault(k, []).append((row, v))
            self.other[k] = (row, v)

    def last_values(self) -> Dict[str, Any]:
        """The last value of each key (numbers from their columns, anything else as logged)."""
        out: Dict[str, Any] = {}
        rows: Dict[str, int] = {}
        live = self.live
        for k, col in self.keys.items():
            i = len(col.rows) - 1
            if self.superseded is not None:
                while i >= 0 and not live(col.rows[i]):
                    i -= 1
                if i < 0:
                    continue
            rows[k], out[k] = col.rows[i], col.values[i]
        for k, (row, v) in self.other.items():
            if row >= rows.get(k, -1) and live(row):
                out[k] = v
        return out

    def series(self, key: str, sample_steps: bool = False, superseded: bool = False) -> Series:
        """One key's points: the run's history, or with ``superseded=True`` only the points a
        rewind superseded."""
        col = self.keys.get(key)
        if col is None:
            return Series(Column("q"), Column("d"), Column("d"))
        rows, values = col.rows, col.values
        if self.superseded is not None or superseded:
            live = self.live
            pick = [i for i, r in enumerate(rows) if live(r) != superseded]
            if len(pick) != len(rows):
                rows = array.array("I", _take(rows, pick))
                values = Column(values.typecode, _take(values, pick))
        if len(rows) == len(self.steps):  # the key is in every row (rows are 0..n-1): copies in C
            steps = Column("q", rows) if sample_steps else Column("q", self.steps)
            return Series(steps, values, Column("d", self.times))
        steps = Column("q", rows) if sample_steps else Column("q", _take(self.steps, rows))
        return Series(steps, values, Column("d", _take(self.times, rows)))

    def media_items(self, key: str, superseded: bool = False) -> Iterable[Tuple[int, float, Any]]:
        for row, v in self.media.get(key, ()):
            if self.live(row) != superseded:
                yield self.steps[row], self.times[row], v


def _take(src: "array.array[Any]", rows: "array.array[int]") -> Iterable[Any]:
    return map(src.__getitem__, rows)


class RecordScan:
    """Everything one streaming pass over ``records.jsonl`` keeps (compactly)."""

    def __init__(self) -> None:
        self.metrics = Table()
        self.system = Table()
        self.config: Dict[str, Any] = {}
        self.summary: Dict[str, Any] = {}  # summary records (run.summary[...] = ...)
        self.events: List[Dict[str, Any]] = []
        self.rewinds: List[Dict[str, Any]] = []  # rewind records, in log order
        self.last_seq = -1
        self.count = 0
        self.corrupt = 0
        self.end = 0  # byte offset after the last complete line

    def add(self, chunk: Chunk, old_format: bool) -> None:
        recs = chunk.records
        self.corrupt += chunk.corrupt
        self.end = chunk.next_offset
        self.count += len(recs)
        try:
            self.last_seq = max(self.last_seq, max(r["seq"] for r in recs)) if recs else self.last_seq
        except TypeError:  # a foreign seq: count the int ones
            self.last_seq = max([self.last_seq] + [r["seq"] for r in recs if type(r["seq"]) is int])
        mets = [r for r in recs if r["type"] == "metrics" and type(r.get("data")) is dict]
        if len(mets) < len(recs) and REWIND in set(map(_type, recs)):
            start = 0  # a rewind supersedes only what came before it: the records up to each one first
            for cut in [i + 1 for i, r in enumerate(recs) if r["type"] == REWIND] + [len(recs)]:
                part = recs[start:cut]
                self._add(part, [r for r in part if r["type"] == "metrics" and type(r.get("data")) is dict],
                          old_format)
                start = cut
        else:
            self._add(recs, mets, old_format)

    def _add(self, recs: List[Dict[str, Any]], mets: List[Dict[str, Any]], old_format: bool) -> None:
        if mets and not (old_format and any(k.startswith("sys/") for r in mets for k in r["data"])):
            self.metrics.add_many([r.get("step") for r in mets], [r.get("time") for r in mets],
                                  [r["data"] for r in mets])
        elif mets:  # format 1 logged system metrics as sys/ keys of metrics records: split them off
            for r in mets:
                data = r["data"]
                sys_part = {k: v for k, v in data.items() if k.startswith("sys/")}
                if sys_part:
                    self.system.add(None, r.get("time"), sys_part)
                    data = {k: v for k, v in data.items() if not k.startswith("sys/")}
                if data:
                    self.metrics.add(r.get("step"), r.get("time"), data)
        if len(mets) == len(recs):
            return
        for rec in recs:
            kind = rec["type"]
            if kind == "system":
                if type(rec.get("data")) is dict:
                    self.system.add(None, rec.get("time"), rec["data"])
            elif kind == "config":
                if isinstance(rec.get("config"), dict):
                    self.config.update(rec["config"])
            elif kind == "event":
                self.events.append(rec)
            elif kind == "summary":
                if isinstance(rec.get("summary"), dict):
                    self.summary.update(rec["summary"])
            elif kind == REWIND:
                if type(rec.get("step")) is int:
                    self.metrics.rewind(rec["step"])
                    self.rewinds.append(rec)
