"""One run as the public API shows it (:class:`Run`), a list of them (:class:`RunList`), and the
offline sort (the server sorts its own)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ..run_filter import MISSING, lookup
from .frames import records_to_columns, to_pandas, to_polars
from .history import History, KeySeries, make_series

FIELDS = ("uuid", "id", "name", "project", "status", "exit_code", "start_time", "end_time", "duration", "tags",
          "host", "git", "description", "path", "archived", "deleted")
SORTABLE = ("start_time", "end_time", "name", "id", "status", "duration", "project", "exit_code")


class Run:
    """A run read through :class:`seetrain.Api` (offline or from a server).

    Attributes: ``uuid``, ``id``, ``name``, ``project``, ``status``, ``exit_code``, ``start_time``,
    ``end_time``, ``duration``, ``tags``, ``host``, ``git``, ``description``, ``path`` (offline only).
    ``config`` and ``summary`` are dicts read on first use; ``history()``, ``media()``,
    ``events()``, ``console()`` and ``keys()`` read on each call.
    """

    def __init__(self, source: Any, info: Dict[str, Any], view: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
        self._source = source
        self._info = info
        self._view = view or {}
        self._config: Optional[Dict[str, Any]] = None
        self._summary: Optional[Dict[str, Any]] = None

    def __getattr__(self, name: str) -> Any:
        info = self.__dict__.get("_info")
        if info is not None and name in FIELDS:
            return info.get(name)
        raise AttributeError(f"Run has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<seetrain.api.Run {self.project}/{self.name} id={self.id} status={self.status}>"

    @property
    def config(self) -> Dict[str, Any]:
        if self._config is None:
            self._config = self._source.config(self._info)
        return self._config

    @property
    def summary(self) -> Dict[str, Any]:
        """The last value of each metric key, with values set through ``run.summary`` on top."""
        if self._summary is None:
            self._summary = self._source.summary(self._info)
        return self._summary

    def keys(self) -> List[str]:
        """The run's metric and media keys (system metrics left out)."""
        return self._source.keys(self._info)

    def scalar_keys(self) -> List[str]:
        """The keys that have numbers (what :meth:`history` gives by default)."""
        return self._source.scalar_keys(self._info)

    def history(self, keys: Union[str, Sequence[str], None] = None, x: str = "step", points: Optional[int] = None,
                with_minmax: bool = True, superseded: bool = False) -> History:
        """The history of ``keys`` (one key, several, or ``None``: every scalar key).

        ``x``: ``"step"`` or ``"time"``. ``points=None`` gives every point (full resolution); ``points=N``
        at most N per key, downsampled so spikes survive (``ymin``/``ymax`` hold each bucket's band
        unless ``with_minmax=False``). Values are floats (NaN and infinities kept offline and over Arrow).
        The history is the run's as rewound (``seetrain.init(resume_from=STEP)``); ``superseded=True``
        gives instead only the points a rewind superseded.
        """
        if x not in ("step", "time"):
            raise ValueError(f"x={x!r}: give 'step' or 'time'")
        if points is not None and (not isinstance(points, int) or points < 0):
            raise ValueError(f"points={points!r}: give a positive number of points, or None for every point")
        names = self.scalar_keys() if keys is None else [keys] if isinstance(keys, str) else list(keys)
        out: List[KeySeries] = []
        for key in names:
            if superseded:
                xs, ys = self._source.series(self._info, key, x, superseded=True)
                out.append(make_series(key, xs, ys, points, with_minmax))
                continue
            d = self._source.downsampled(self._info, key, x, points) if points else None
            if d is not None:
                out.append(KeySeries(key, d["x"], d["y"], d["ymin"] if with_minmax else None,
                                     d["ymax"] if with_minmax else None, d["downsampled"], d["total"]))
                continue
            xs, ys = self._source.series(self._info, key, x)
            out.append(make_series(key, xs, ys, points, with_minmax))
        return History(out, x)

    @property
    def fork_from(self) -> Optional[Dict[str, Any]]:
        """For a forked run (``seetrain.init(fork_from=(RUN, STEP))``): its parent's ``id``,
        ``project``, ``uuid`` and the ``step`` it was forked at; None otherwise."""
        return self._info.get("fork_from")

    def forks(self) -> List[Dict[str, Any]]:
        """The runs forked from this one (the reverse lineage link): ``id``, ``project``, ``uuid``, ``step``."""
        return self._source.forks(self._info)

    def media(self, key: Optional[str] = None) -> List[Dict[str, Any]]:
        """Media references of ``key`` (default: every media key): ``key``, ``step``, ``type``,
        ``caption``, and ``path`` (offline: the file) or ``url`` (server)."""
        return self._source.media(self._info, key)

    def events(self, since_seq: int = -1, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Event records (start, finish, exception, warning, alert, ...) after ``since_seq``."""
        return self._source.events(self._info, since_seq, limit)

    def console(self, since_seq: int = -1, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Captured stdout/stderr lines: ``seq``, ``time``, ``stream``, ``line``."""
        return self._source.console(self._info, since_seq, limit)

    def to_dict(self, config: bool = True, summary: bool = True) -> Dict[str, Any]:
        """The run's fields as a plain dict (with its config and summary unless told not to)."""
        d = {k: self._info.get(k) for k in FIELDS}
        if config:
            d["config"] = self.config
        if summary:
            d["summary"] = self.summary
        return d


class RunList(List[Run]):
    """A list of :class:`Run` s; ``to_pandas()`` / ``to_polars()`` give one row per run with its
    fields, ``config.*`` and ``summary.*`` columns."""

    def rows(self) -> List[Dict[str, Any]]:
        out = []
        for r in self:
            row = {k: r._info.get(k) for k in FIELDS}
            view = r._view
            for k, v in (view.get("config") or {}).items():
                row[f"config.{k}"] = v
            for k, v in (view.get("summary") or {}).items():
                row[f"summary.{k}"] = v
            out.append(row)
        return out

    def to_pandas(self) -> Any:
        return to_pandas(records_to_columns(self.rows()))

    def to_polars(self) -> Any:
        return to_polars(records_to_columns(self.rows()))


def untag(d: Any) -> Dict[str, Any]:
    """A summary with the record format's NaN/infinity tags (``"NaN"``, ``"Infinity"``) as floats:
    how run.json and the server store it, turned into what the reader gives."""
    from ..rundir.format import untag_values

    return untag_values(d)


def sort_key_fn(sort: str) -> Callable[[Any], Any]:
    """A sort key for ``(info, view)`` pairs that puts missing values last in either direction and
    numbers before text, as the server does."""
    field = sort.lstrip("-+") or "start_time"
    desc = sort.startswith("-")
    if field.startswith(("config.", "summary.")):
        section, name = field.split(".", 1)

        def get(item: Any) -> Any:
            return lookup(item[1].get(section) or {}, name)
    elif field in SORTABLE:
        def get(item: Any) -> Any:
            v = item[0].get(field)
            return MISSING if v is None else v
    else:
        raise ValueError(f"sort={sort!r}: sort by one of {list(SORTABLE)}, config.KEY or summary.KEY "
                         "(prefix '-' for descending)")

    def order(item: Any) -> Any:
        v = get(item)
        if v is MISSING or v is None:
            return (2, 0)
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, (int, float)) and v == v:
            return (0, -v if desc else v)
        text = str(v)
        return (1, _Desc(text) if desc else text)
    return order


class _Desc:
    """Reverses the order of a string inside an ascending sort."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def __lt__(self, other: "_Desc") -> bool:
        return self.s > other.s

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.s == other.s
