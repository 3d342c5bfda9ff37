"""Columns (``{name: list}``) as pandas or polars frames, imported only when asked for."""

from __future__ import annotations

from typing import Any, Dict, List

from ..lazy import require


def to_pandas(columns: Dict[str, List[Any]]) -> Any:
    """A ``pandas.DataFrame`` of ``columns`` (pandas is needed only here)."""
    pd = require("pandas", "query", purpose="to_pandas()")
    return pd.DataFrame(columns)


def to_polars(columns: Dict[str, List[Any]]) -> Any:
    """A ``polars.DataFrame`` of ``columns`` (polars is needed only here)."""
    pl = require("polars", "query", purpose="to_polars()")
    return pl.DataFrame(columns, strict=False)


def records_to_columns(rows: List[Dict[str, Any]]) -> Dict[str, List[Any]]:
    """Dicts with possibly different keys as columns (a missing field is ``None``)."""
    names: Dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    return {n: [r.get(n) for r in rows] for n in names}
