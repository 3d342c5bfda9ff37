"""The tables of ``seetrain query`` (docs/query.md): their columns, and how values become columns.

Both sources (run directories, a server's database) fill the same :data:`TABLES` through
:class:`Rows` (small tables, row by row) or :func:`metrics_table` (the long one, column by column,
dictionary-encoded ``run`` and ``key``), so a query reads the same offline and online.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import orjson

from ..rundir.format import NON_FINITE, tag


class Col(NamedTuple):
    name: str
    type: str  # an Arrow type name: string, int64, float64, bool, list<string>
    doc: str


# run: the run's uuid (format 1 runs without one: "project/id"), the key that joins every table.
TABLES: Dict[str, Tuple[Col, ...]] = {
    "runs": (
        Col("run", "string", "the run's uuid (project/id for runs older than format 2): joins every table"),
        Col("project", "string", "project"), Col("id", "string", "run id"), Col("name", "string", "display name"),
        Col("status", "string", "running, success, failed, crashed or killed (a running run whose process "
                                "is gone reads crashed)"),
        Col("exit_code", "int64", "the process's exit code, when it ended"),
        Col("start_time", "float64", "epoch seconds"), Col("end_time", "float64", "epoch seconds"),
        Col("duration", "float64", "seconds from start to end (or to the last heartbeat)"),
        Col("tags", "list<string>", "tags"), Col("host", "string", "host name of the writing process"),
        Col("git_commit", "string", "git commit"), Col("git_branch", "string", "git branch"),
        Col("description", "string", "description"),
    ),
    "config": (
        Col("run", "string", "run"), Col("key", "string", "config key; nested objects as dotted paths (opt.lr)"),
        Col("value", "string", "the value as text (strings as written, anything else as JSON)"),
        Col("number", "float64", "the value when it is a number (booleans are not), else NULL"),
    ),
    "summary": (
        Col("run", "string", "run"), Col("key", "string", "metric key"),
        Col("value", "string", "the last value as text (NaN, Infinity as written)"),
        Col("number", "float64", "the last value when it is a number (NaN and infinities kept), else NULL"),
    ),
    "metrics": (
        Col("run", "string", "run"), Col("key", "string", "metric key (system metrics are not here)"),
        Col("step", "int64", "step"), Col("time", "float64", "epoch seconds"),
        Col("value", "float64", "value (NaN and infinities kept)"),
    ),
    "events": (
        Col("run", "string", "run"), Col("seq", "int64", "record number"), Col("time", "float64", "epoch seconds"),
        Col("event", "string", "start, resume, finish, exception, warning, lost, alert, ..."),
        Col("message", "string", "the event's message (an alert's title), when it has one"),
        Col("body", "string", "the whole event record as JSON"),
    ),
    "console": (
        Col("run", "string", "run"), Col("seq", "int64", "record number"), Col("time", "float64", "epoch seconds"),
        Col("stream", "string", "stdout or stderr"), Col("line", "string", "one line of output"),
    ),
    "media": (
        Col("run", "string", "run"), Col("key", "string", "media key"), Col("step", "int64", "step"),
        Col("idx", "int64", "position in a list of media logged at once"),
        Col("type", "string", "image, audio, text, histogram, table, ..."),
        Col("path", "string", "path inside the run directory (media/...)"), Col("caption", "string", "caption"),
        Col("sha256", "string", "content hash (server only, once uploaded)"),
    ),
}
NAMES = list(TABLES)


def arrow_schema(table: str) -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
             "list<string>": pa.list_(pa.string())}
    return pa.schema([(c.name, types[c.type]) for c in TABLES[table]])


def run_ref(uuid: Optional[str], project: str, run_id: str) -> str:
    return uuid or f"{project}/{run_id}"


def value_text(v: Any) -> Optional[str]:
    """A config or summary value as text: strings as they are, floats as Python writes them
    (``nan``, ``inf`` as ``NaN``/``Infinity``), anything else as JSON."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return tag(float(v))
    try:
        return orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(v)


def value_number(v: Any, tags: bool = False) -> Optional[float]:
    """The value as a float when it is a number (not a boolean); ``tags``: the record format's
    ``"NaN"``/``"Infinity"`` strings count as numbers too (summaries)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    if tags and isinstance(v, str) and v in NON_FINITE:
        return NON_FINITE[v]
    return None


def flatten(d: Any, prefix: str = "") -> Iterable[Tuple[str, Any]]:
    """``(dotted key, leaf value)`` pairs of a nested config (lists are leaves)."""
    if not isinstance(d, dict):
        return
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from flatten(v, name + ".")
        else:
            yield name, v


class Rows:
    """Rows of one table gathered as columns, then one Arrow table."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.cols: Dict[str, List[Any]] = {c.name: [] for c in TABLES[table]}

    def add(self, **values: Any) -> None:
        for name, col in self.cols.items():
            col.append(values.get(name))

    def key_values(self, run: str, items: Iterable[Tuple[str, Any]], tags: bool = False) -> None:
        """config/summary rows: ``run``, ``key``, ``value`` (text), ``number``."""
        for k, v in items:
            if tags and isinstance(v, str) and v in NON_FINITE:
                text = v
            else:
                text = value_text(v)
            self.add(run=run, key=str(k), value=text, number=value_number(v, tags))

    def arrow(self) -> Any:
        import pyarrow as pa

        return pa.Table.from_pydict(self.cols, schema=arrow_schema(self.table))


class MetricParts:
    """The long metrics table gathered as numpy parts: per (run, key), steps, times and values."""

    def __init__(self) -> None:
        self.runs: List[str] = []
        self.keys: Dict[str, int] = {}
        self.parts: List[Tuple[int, int, Any, Any, Any]] = []  # run index, key index, steps, times, values
        self.n = 0

    def add(self, run: str, key: str, steps: Any, times: Any, values: Any) -> None:
        if not len(values):
            return
        if not self.runs or self.runs[-1] != run:
            self.runs.append(run)
        ki = self.keys.setdefault(key, len(self.keys))
        self.parts.append((len(self.runs) - 1, ki, steps, times, values))
        self.n += len(values)

    def arrow(self) -> Any:
        import numpy as np
        import pyarrow as pa

        n = self.n
        run_idx, key_idx = np.empty(n, np.int32), np.empty(n, np.int32)
        steps, times, values = np.empty(n, np.int64), np.empty(n, np.float64), np.empty(n, np.float64)
        o = 0
        for ri, ki, st, tm, vs in self.parts:
            m = len(vs)
            run_idx[o:o + m] = ri
            key_idx[o:o + m] = ki
            steps[o:o + m] = st
            times[o:o + m] = tm
            values[o:o + m] = vs
            o += m
        keys = sorted(self.keys, key=self.keys.__getitem__)
        return pa.table({
            "run": pa.DictionaryArray.from_arrays(pa.array(run_idx), pa.array(self.runs, pa.string())),
            "key": pa.DictionaryArray.from_arrays(pa.array(key_idx), pa.array(keys, pa.string())),
            "step": pa.array(steps), "time": pa.array(times), "value": pa.array(values)})


def empty(table: str) -> Any:
    return Rows(table).arrow()


def sequence_floats(values: Sequence[Any]) -> Any:
    """A reader :class:`Column` (``array.array``, ints or floats) as float64 numpy, without a loop."""
    import numpy as np

    return np.frombuffer(values, dtype=np.int64 if values.typecode == "q" else np.float64).astype(np.float64) \
        if hasattr(values, "typecode") else np.asarray(values, dtype=np.float64)
