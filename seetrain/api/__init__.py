"""The public read API: runs, their config, summary, history and media, offline or from a server.

    import seetrain
    api = seetrain.Api(logdir="./seetrain_logs")            # or Api(host="http://srv:5095", api_key="...")
    runs = api.runs(filter="lr>0.001 and status!=crashed", sort="-summary.val/acc", limit=10)
    best = runs[0]
    best.config, best.summary                                 # plain dicts
    h = best.history(["val/acc", "train/loss"], x="step", points=1000)
    h["val/acc"].x, h["val/acc"].y, h["val/acc"].ymin          # plain lists
    h.to_pandas()                                             # a long frame (pandas only when asked)
    best.media("samples")                                     # media references (path or url)

:class:`Api` methods:

- ``projects()``: ``[{"name", "runs", "last_activity"}]``.
- ``runs(filter=None, sort="-start_time", limit=None, project=None, state="active")``: a
  :class:`RunList` of :class:`Run`. ``state`` as in the dashboard: ``active`` (neither archived
  nor deleted), ``archived``, ``deleted`` (offline: the log folder's trash) or ``all``.
  ``filter`` is the dashboard's filter language (a string, e.g. ``lr>0.001``,
  ``optimizer in (adam, adamw)``, ``summary.val/acc>=0.9 and status!=crashed``) or, offline, a
  callable taking a :class:`Run`; ``sort`` a field (``start_time``, ``end_time``, ``name``, ``id``,
  ``status``, ``duration``, ``project``), ``config.KEY`` or ``summary.KEY``, ``-`` for descending.
- ``run(ref)``: one :class:`Run` by uuid, ``project/id``, id, name, or (offline) its directory.
- ``query(sql, ...)``: read-only SQL over the documented tables (docs/query.md), as ``seetrain query``.
- ``close()``: closes the server connection (also ``with Api(...) as api:``).

:class:`Run`: fields ``uuid id name project status exit_code start_time end_time duration tags
host git description path archived deleted`` (the last two: when, or None); ``config`` and
``summary`` (dicts); ``keys()``, ``scalar_keys()``;
``history(keys=None, x="step", points=None, with_minmax=True)`` -> :class:`History` of
:class:`KeySeries` (``key x y ymin ymax downsampled total``); ``media(key=None)``;
``events(since_seq=-1, limit=None)``; ``console(since_seq=-1, limit=None)``; ``to_dict()``.

Offline, the runs are read with :func:`seetrain.read_run`; against a server, over its REST API
(full-resolution histories as Arrow IPC when pyarrow is installed, else JSON). The same numbers
either way: offline ``history`` sorts by x and downsamples exactly as the server does.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Union

from .history import History, KeySeries
from .runs import Run, RunList, sort_key_fn

__all__ = ["Api", "Run", "RunList", "History", "KeySeries"]

Filter = Union[str, Callable[[Run], bool], None]
RUN_STATES = ("active", "archived", "deleted", "all")  # as the server's runs list (server/curation.py)


class Api:
    """Read runs from a log directory (``logdir=``, default ``$SEETRAIN_LOGDIR`` or
    ``./seetrain_logs``) or from a server (``host=``, ``api_key=``; default ``$SEETRAIN_HOST`` /
    ``$SEETRAIN_API_KEY`` when no logdir is given and ``$SEETRAIN_HOST`` is set)."""

    def __init__(self, logdir: Optional[str] = None, host: Optional[str] = None, api_key: Optional[str] = None,
                 timeout: float = 60.0) -> None:
        if logdir is not None and host is not None:
            raise ValueError("give either logdir= (offline) or host= (a server), not both")
        if logdir is None and host is None and os.environ.get("SEETRAIN_HOST") and not os.environ.get("SEETRAIN_LOGDIR"):
            host = os.environ["SEETRAIN_HOST"]
        if host is not None:
            from .remote import RemoteSource

            self._source: Any = RemoteSource(host, api_key if api_key is not None else os.environ.get("SEETRAIN_API_KEY"),
                                             timeout=timeout)
        else:
            from .local import LocalSource

            self._source = LocalSource(logdir)

    @property
    def offline(self) -> bool:
        return self._source.kind == "local"

    @property
    def where(self) -> str:
        """The log directory or the server address this API reads."""
        return self._source.logdir if self.offline else self._source.host

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

    def __repr__(self) -> str:
        return f"<seetrain.Api {'logdir' if self.offline else 'host'}={self.where}>"

    def projects(self) -> List[Dict[str, Any]]:
        """``[{"name", "runs", "last_activity"}]``, one per project this API may read."""
        return self._source.projects()

    def runs(self, filter: Filter = None, sort: str = "-start_time", limit: Optional[int] = None,
             project: Optional[str] = None, state: str = "active") -> RunList:
        """Runs matching ``filter``, sorted by ``sort``, at most ``limit`` (see the module docstring)."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit={limit!r}: give a positive number of runs, or None for all")
        if state not in RUN_STATES:
            raise ValueError(f"state={state!r}: give one of {', '.join(RUN_STATES)}")
        if self.offline:
            return self._local_runs(filter, sort, limit, project, state)
        if callable(filter):
            items = self._source.list_page(project, None, sort, None, state)
            runs = [r for r in (Run(self._source, i, v) for i, v in items) if filter(r)]
            return RunList(runs[:limit] if limit else runs)
        return RunList(Run(self._source, i, v)
                       for i, v in self._source.list_page(project, filter, sort, limit, state))

    def _local_runs(self, filter: Filter, sort: str, limit: Optional[int], project: Optional[str],
                    state: str) -> RunList:
        items = self._source.list(project, state)
        key = sort_key_fn(sort)  # raises a clear ValueError on an unknown field, before any work
        if isinstance(filter, str) and filter.strip():
            match = compile_filter(filter)
            items = [it for it in items if match(filter_view(it))]
        items.sort(key=lambda it: (-(it[0].get("start_time") or 0), it[0].get("uuid") or ""))
        items.sort(key=key)
        runs = [Run(self._source, i, v) for i, v in items]
        if callable(filter):
            runs = [r for r in runs if filter(r)]
        return RunList(runs[:limit] if limit else runs)

    def run(self, ref: str) -> Run:
        """One run by uuid, ``project/id``, id or name (offline also its run directory)."""
        return Run(self._source, self._source.get(ref))

    def query(self, sql: str, **options: Any) -> Any:
        """Read-only SQL over the documented tables (docs/query.md); see :func:`seetrain.query.run_query`."""
        from ..query import run_query

        if self.offline:
            return run_query(sql, logdir=self._source.logdir, **options)
        return run_query(sql, host=self._source.host, api_key=self._source.client.api_key, **options)


def filter_view(item: Any) -> Dict[str, Any]:
    """What the filter language reads of one run: its fields, ``config`` and ``summary``."""
    info, view = item
    return {**info, "config": view.get("config") or {}, "summary": view.get("summary") or {}}


def compile_filter(text: str) -> Callable[[Dict[str, Any]], bool]:
    """The dashboard's filter language (:mod:`seetrain.run_filter`) as a predicate over a run view;
    a filter it cannot read raises its ``FilterError`` (a ValueError saying where and what)."""
    from .. import run_filter

    flt = run_filter.parse(text)
    return lambda view: run_filter.matches(flt, view)
