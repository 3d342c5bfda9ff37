"""What every command's ``--json`` shares: one JSON document on stdout with a versioned
``schema`` name (``seetrain.<command>/<version>``, docs/cli.md), strict JSON (NaN and infinities
as ``null``), and the documented exit codes."""

from __future__ import annotations

import math
import sys
from typing import Any, Dict

import orjson

# Exit codes (docs/cli.md): the same meaning for every command.
OK = 0
FAILED = 1          # the command ran and failed (a query error or refusal, a run not found, sync errors)
USAGE = 2           # bad arguments (argparse's own code)
TIME_LIMIT = 3      # a query stopped at its time limit
ROW_LIMIT = 4       # a query's answer was cut at its row limit (the rows up to it were printed)


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def dumps(doc: Dict[str, Any]) -> bytes:
    return orjson.dumps(_plain(doc), default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def emit(schema: str, doc: Dict[str, Any]) -> None:
    """Write ``{"schema": schema, **doc}`` as one line of JSON on stdout."""
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    data = dumps({"schema": schema, **doc}) + b"\n"
    if out is not None:
        sys.stdout.flush()
        out.write(data)
        out.flush()
    else:  # a replaced sys.stdout (tests capturing text)
        sys.stdout.write(data.decode())


def cell(v: Any) -> str:
    """One value as a table cell (``NULL`` for None, floats as Python writes them)."""
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def table(rows: "list[list[str]]", header: "list[str]") -> str:
    """Columns padded to their widest cell, a rule under the header."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])
