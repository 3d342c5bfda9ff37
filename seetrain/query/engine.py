"""The sandboxed SQL engine of ``seetrain query``: DuckDB over tables handed to it in memory (Arrow)
or in its own read-only cache file, that can only read them.

- One statement, and only ``SELECT`` (``WITH ... SELECT``, ``VALUES``) or ``EXPLAIN``: writes, DDL,
  ``ATTACH``, ``COPY``, ``EXPORT``, ``PRAGMA``, ``SET``, ``CALL``, ``INSTALL``/``LOAD`` are refused
  before anything runs.
- DuckDB's own sandbox behind that: ``enable_external_access=false`` (no file, URL or extension is
  read: ``read_csv``, ``read_parquet``, ``glob``, ``'/etc/passwd'`` as a table all fail),
  no Python variables as tables, no extension auto-install/load, and ``lock_configuration`` once
  the tables are in place, so a query cannot turn any of it back on.
- A time limit (the query is interrupted) and a row limit (the answer stops there and says so).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional

from ..errors import SeeTrainError
from ..lazy import require

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000

SANDBOX = {
    "enable_external_access": False,
    "python_enable_replacements": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


class QueryError(SeeTrainError):
    """A query that cannot run: refused, malformed, or stopped. ``kind`` is ``refused``, ``sql``,
    ``timeout``, ``unavailable`` or ``server``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class QueryResult(NamedTuple):
    """Columns, rows (tuples of plain Python values), whether the row limit cut the answer, and
    the seconds the query took."""

    columns: List[str]
    types: List[str]
    rows: List[tuple]
    truncated: bool
    seconds: float

    def as_dicts(self) -> List[Dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def to_pandas(self) -> Any:
        pd = require("pandas", "query", purpose="to_pandas()")
        return pd.DataFrame.from_records(self.rows, columns=self.columns)


ALLOWED = ("SELECT", "EXPLAIN")


def tables_named(sql: str, names: "list[str]") -> List[str]:
    """Which of ``names`` the query may read (a word match: building a table it does not use is
    only wasted time, leaving out one it does use would be wrong)."""
    low = sql.lower()
    return [n for n in names if re.search(r"(?<![\w$])" + re.escape(n) + r"(?![\w$])", low)]


def connect(database: str = ":memory:", read_only: bool = False, threads: Optional[int] = None) -> Any:
    """A DuckDB connection with the sandbox settings (configuration not locked yet: see :func:`lock`)."""
    duckdb = require("duckdb", "query", purpose="seetrain query")
    config = dict(SANDBOX)
    if threads:
        config["threads"] = threads
    return duckdb.connect(database, read_only=read_only, config=config)


def lock(con: Any) -> None:
    """No setting can change from here on (``SET``/``PRAGMA`` are refused anyway)."""
    con.execute("SET lock_configuration = true")


def check_statement(con: Any, sql: str) -> None:
    """Refuse anything but one read-only statement, naming what was refused and why."""
    try:
        statements = con.extract_statements(sql)
    except Exception as exc:  # duckdb.ParserException and friends
        raise QueryError("sql", f"the SQL does not parse: {_first_line(exc)}") from None
    if not statements:
        raise QueryError("sql", "no SQL statement given")
    if len(statements) > 1:
        raise QueryError("refused", f"{len(statements)} statements given; seetrain query runs one SELECT at a time")
    kind = statements[0].type.name
    if kind not in ALLOWED:
        raise QueryError("refused", f"{kind} statements are refused: seetrain query is read-only and runs one "
                                    "SELECT (or WITH ... SELECT) over the documented tables (docs/query.md)")


def execute(con: Any, sql: str, timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run ``sql`` (checked by :func:`check_statement`) with the time and row limits."""
    check_statement(con, sql)
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s and timeout_s > 0 else None
    t0 = time.perf_counter()
    timed_out = False
    try:
        if timer:
            timer.start()
        cur = con.execute(sql)
        rows = cur.fetchmany(max_rows + 1) if max_rows > 0 else cur.fetchall()
        desc = cur.description or []
    except Exception as exc:
        timed_out = timer is not None and not timer.is_alive() and time.perf_counter() - t0 >= timeout_s * 0.99
        if timed_out or "INTERRUPT" in type(exc).__name__.upper():
            raise QueryError("timeout", f"the query was stopped at the time limit of {timeout_s:g} s; narrow it "
                                        "(WHERE key = '...', fewer runs) or raise --timeout") from None
        if "Permission" in type(exc).__name__:
            raise QueryError("refused", f"{_first_line(exc)}: seetrain query reads only its own tables, no file, "
                                        "URL or extension") from None
        raise QueryError("sql", _first_line(exc)) from None
    finally:
        if timer:
            timer.cancel()
    truncated = max_rows > 0 and len(rows) > max_rows
    return QueryResult([d[0] for d in desc], [str(d[1]) for d in desc], rows[:max_rows] if truncated else rows,
                       truncated, time.perf_counter() - t0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split("\n\n")[0].strip() if text else type(exc).__name__
