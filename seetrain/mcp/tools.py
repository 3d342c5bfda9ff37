"""The tools of ``seetrain mcp``: plain Python over a :class:`~seetrain.mcp.source.Source`, each
returning a dict that :func:`seetrain.mcp.budget.respond` turns into JSON text within the token
budget. Bad arguments raise :class:`~seetrain.mcp.budget.ToolInputError` with what to pass instead.

The docstrings of the public methods are what an agent reads about each tool: keep them exact.
"""

from __future__ import annotations

import datetime
import difflib
import importlib.util
from typing import Any, Dict, List, Optional, Sequence, Union

from ..api.runs import FIELDS, RunList
from ..run_filter import MISSING, lookup
from .budget import (DEFAULT_MAX_TOKENS, MIN_TOKENS, ToolInputError, chars_for, decode_cursor, dumps,
                     encode_cursor, tag_nonfinite, take_fitting)
from .source import Source

DEFAULT_RUN_FIELDS = ("uuid", "project", "id", "name", "status", "start_time", "duration", "tags")
MAX_POINTS = 20_000
ENVELOPE = 600  # characters kept free for the fields around a list
LOWER_IS_BETTER = ("loss", "err", "error", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer", "nll",
                   "distance", "latency", "time")



def _flat(d: Any, prefix: str = "", out: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    out = {} if out is None else out
    if isinstance(d, dict):
        for k, v in d.items():
            name = f"{prefix}{k}"
            if isinstance(v, dict) and v:
                _flat(v, name + ".", out)
            else:
                out[name] = v
    return out


def _time_arg(since: Union[float, int, str, None]) -> Optional[float]:
    """``since`` as epoch seconds: a number, or an ISO 8601 time (``2026-12-06T14:00:00Z``)."""
    if since is None or since == "":
        return None
    if isinstance(since, bool):
        raise ToolInputError(f"since={since!r}: give epoch seconds (a number) or an ISO 8601 time")
    if isinstance(since, (int, float)):
        value = float(since)
    else:
        text = str(since).strip()
        try:
            value = float(text)
        except ValueError:
            try:
                t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ToolInputError(f"since={since!r} is not a time: give epoch seconds (1765000000.5) or ISO "
                                     "8601 ('2026-12-06T14:00:00Z')") from None
            if t.tzinfo is None:
                t = t.replace(tzinfo=datetime.timezone.utc)
            value = t.timestamp()
    if value != value or value in (float("inf"), float("-inf")):
        raise ToolInputError(f"since={since!r}: give a finite time")
    return value


def _is_lower_better(key: str) -> bool:
    name = key.lower().rsplit("/", 1)[-1]
    return any(w in name for w in LOWER_IS_BETTER) and "acc" not in name


class Tools:
    """The MCP tools over one source; ``max_tokens`` is the most one answer may take."""

    def __init__(self, source: Source, max_tokens: int = DEFAULT_MAX_TOKENS, sql: Optional[bool] = None) -> None:
        self.source = source
        self.max_tokens = max(MIN_TOKENS, int(max_tokens))
        if sql is None:
            sql = (not source.offline) or (importlib.util.find_spec("duckdb") is not None
                                           and importlib.util.find_spec("pyarrow") is not None)
        self.sql = sql

    # --- shared checks ---------------------------------------------------------------------------
    def budget(self, max_tokens: Optional[int]) -> int:
        if max_tokens is None:
            return self.max_tokens
        if not isinstance(max_tokens, int) or max_tokens < MIN_TOKENS or max_tokens > self.max_tokens:
            raise ToolInputError(f"max_tokens={max_tokens!r}: give {MIN_TOKENS}..{self.max_tokens} (this server's "
                                 "budget per answer), or leave it out")
        return max_tokens

    def _scalar_key(self, run: Any, key: Any) -> str:
        if not isinstance(key, str) or not key:
            raise ToolInputError(f"key {key!r}: give a metric key name (get_run lists them under metric_keys)")
        keys = self.source.scalar_keys(run)
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            listing = ", ".join(keys[:30]) + (f" and {len(keys) - 30} more" if len(keys) > 30 else "")
            raise ToolInputError(f"run {run.project}/{run.id} has no metric {key!r}{hint} Its metric keys: "
                                 f"{listing or 'none'}")
        return key

    def _label(self, run: Any) -> str:
        return f"{run.project}/{run.id}"

    # --- tools -----------------------------------------------------------------------------------
    def list_projects(self, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """The projects there are: name, number of runs, last activity (epoch seconds)."""
        self.budget(max_tokens)
        return {"source": self.source.where, "projects": self.source.api.projects()}

    def list_runs(self, project: Optional[str] = None, filter: Optional[str] = None, sort: str = "-start_time",
                  fields: Optional[List[str]] = None, limit: int = 20, cursor: Optional[str] = None,
                  max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """Runs, filtered, sorted and paged.

        filter: the dashboard's filter language, e.g. "lr>0.001 and status!=crashed",
        "optimizer in (adam, adamw)", "summary.val/acc>=0.9", "tag=baseline" (bare names are config keys).
        sort: start_time, end_time, name, id, status, duration, config.KEY or summary.KEY; prefix "-" for
        descending. fields: which fields to return (default uuid, project, id, name, status, start_time,
        duration, tags); also exit_code, end_time, host, git, description, "config", "summary",
        "config.KEY", "summary.KEY". limit: runs per page (1-200). Pass next_cursor to get the next page.
        """
        budget = self.budget(max_tokens)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            raise ToolInputError(f"limit={limit!r}: give 1..200 runs per page (page on with next_cursor)")
        fields = list(fields) if fields else list(DEFAULT_RUN_FIELDS)
        for f in fields:
            if not (f in FIELDS or f in ("config", "summary") or f.startswith(("config.", "summary."))):
                raise ToolInputError(f"fields: {f!r} is not a run field; give some of {list(FIELDS)}, 'config', "
                                     "'summary', 'config.KEY' or 'summary.KEY'")
        state = decode_cursor(cursor, "list_runs")
        offset = int(state.get("o", 0))
        try:
            runs = self.source.api.runs(filter=filter or None, sort=sort or "-start_time",
                                        limit=None if self.source.offline else offset + limit + 1, project=project)
        except ValueError as exc:
            raise ToolInputError(str(exc)) from None
        page = runs[offset:offset + limit]
        rows = [self._row(r, fields) for r in RunList(page).rows()]
        fit = take_fitting(rows, chars_for(budget) - ENVELOPE)
        more = len(runs) > offset + len(fit)
        out: Dict[str, Any] = {"source": self.source.where, "offset": offset, "count": len(fit), "runs": fit}
        if self.source.offline:
            out["total"] = len(runs)
        out["next_cursor"] = encode_cursor({"tool": "list_runs", "o": offset + len(fit)}) if more else None
        return out

    @staticmethod
    def _row(row: Dict[str, Any], fields: Sequence[str]) -> Dict[str, Any]:
        config = {k[7:]: v for k, v in row.items() if k.startswith("config.")}
        summary = {k[8:]: v for k, v in row.items() if k.startswith("summary.")}
        out: Dict[str, Any] = {}
        for f in fields:
            if f == "config":
                out[f] = config
            elif f == "summary":
                out[f] = summary
            elif f.startswith(("config.", "summary.")):
                section, name = f.split(".", 1)
                v = lookup(config if section == "config" else summary, name)
                out[f] = None if v is MISSING else v
            else:
                out[f] = row.get(f)
        return tag_nonfinite(out)

    def get_run(self, run: str, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """One run: its fields, config, summary (last value of each metric), metric keys, and its
        alerts (count and the latest five). run: a uuid, project/id, id or name."""
        self.budget(max_tokens)
        r = self.source.run(run)
        alerts = self.source.events(r, "alert", None, -1, 10_000)
        scalar = self.source.scalar_keys(r)
        return tag_nonfinite({
            "run": {f: getattr(r, f) for f in FIELDS}, "config": self.source.config(r),
            "summary": self.source.summary(r), "metric_keys": scalar,
            "other_keys": sorted(set(self.source.keys(r)) - set(scalar)),
            "alerts": {"count": len(alerts), "latest": alerts[-5:][::-1]},
        })

    def get_metric_history(self, run: str, keys: Union[str, List[str]], x: str = "step",
                           start: Optional[float] = None, end: Optional[float] = None, points: int = 500,
                           cursor: Optional[str] = None, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """The history of one or more metric keys of a run, within [start, end] of x ("step" or "time").

        points > 0: at most that many points per key (default 500, up to 20000), bucketed so that each
        bucket keeps its first, last, minimum and maximum point: a spike is never lost; ymin/ymax give
        each point's bucket band. points = 0: every point (full resolution), paged. An answer larger than
        the token budget is paged (next_cursor) or, when bucketed, asked again with fewer points
        (points_used says how many).
        """
        budget = self.budget(max_tokens)
        r = self.source.run(run)
        names = [keys] if isinstance(keys, str) else list(keys or [])
        if not names:
            raise ToolInputError("keys: give one metric key or a list of them (get_run lists them)")
        names = [self._scalar_key(r, k) for k in names]
        if x not in ("step", "time"):
            raise ToolInputError(f"x={x!r}: give 'step' or 'time'")
        if not isinstance(points, int) or not 0 <= points <= MAX_POINTS:
            raise ToolInputError(f"points={points!r}: give 1..{MAX_POINTS} (bucketed) or 0 (every point, paged)")
        for name, v in (("start", start), ("end", end)):
            if v is not None and (not isinstance(v, (int, float)) or v != v):
                raise ToolInputError(f"{name}={v!r}: give a number on the x axis ({x}) or leave it out")
        if start is not None and end is not None and start > end:
            raise ToolInputError(f"start={start:g} is after end={end:g}: give start <= end")
        state = decode_cursor(cursor, "get_metric_history")
        k0, o0 = int(state.get("k", 0)), int(state.get("o", 0))
        room = chars_for(budget) - ENVELOPE
        series: List[Dict[str, Any]] = []
        next_state = None
        for ki in range(k0, len(names)):
            key = names[ki]
            offset = o0 if ki == k0 else 0
            h = self.source.history(r, key, x, start, end, points)
            if h["downsampled"]:
                h, used = self._fit_bucketed(r, key, x, start, end, points, h, room)
                one = self._series_json(key, h, x, 0, len(h["x"]), used)
                size = len(dumps(one))
                if series and size > room:
                    next_state = {"k": ki, "o": 0}
                    break
                series.append(one)
                room -= size
                continue
            n = len(h["x"])
            m = self._fitting_count(key, h, x, offset, room)
            if series and m == 0:
                next_state = {"k": ki, "o": offset}
                break
            m = max(m, 1) if n > offset else 0
            one = self._series_json(key, h, x, offset, offset + m, None)
            series.append(one)
            room -= len(dumps(one))
            if offset + m < n:
                next_state = {"k": ki, "o": offset + m}
                break
        return {"run": self._label(r), "x": x, "start": start, "end": end, "series": series,
                "next_cursor": encode_cursor({"tool": "get_metric_history", **next_state}) if next_state else None}

    def _fit_bucketed(self, r: Any, key: str, x: str, start: Any, end: Any, points: int, h: Dict[str, Any],
                      room: int):
        """A bucketed answer that fits ``room``: asked again with half the points until it does."""
        used = points
        while used > 8 and len(dumps(self._series_json(key, h, x, 0, len(h["x"]), used))) > room:
            used //= 2
            h = self.source.history(r, key, x, start, end, used)
        return h, used

    def _fitting_count(self, key: str, h: Dict[str, Any], x: str, offset: int, room: int) -> int:
        """How many raw points from ``offset`` fit in ``room`` characters (binary search)."""
        n = len(h["x"]) - offset
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(dumps(self._series_json(key, h, x, offset, offset + mid, None))) <= room:
                lo = mid
            else:
                hi = mid - 1
        return lo

    @staticmethod
    def _series_json(key: str, h: Dict[str, Any], x: str, a: int, b: int, used: Optional[int]) -> Dict[str, Any]:
        import numpy as np

        xs = h["x"][a:b]
        if x == "step" and xs.size and np.all(np.mod(xs, 1) == 0):
            xs_out: List[Any] = xs.astype(np.int64).tolist()
        else:
            xs_out = xs.tolist()
        out: Dict[str, Any] = {"key": key, "total": h["total"], "downsampled": h["downsampled"]}
        if h["downsampled"]:
            out["points_used"] = used
        else:
            out["first_index"] = a
        out["x"] = xs_out
        out["y"] = tag_nonfinite(h["y"][a:b].tolist())
        if h["downsampled"]:
            out["ymin"] = tag_nonfinite(h["ymin"][a:b].tolist())
            out["ymax"] = tag_nonfinite(h["ymax"][a:b].tolist())
        return out

    def compare_runs(self, runs: List[str], keys: Optional[List[str]] = None,
                     goals: Optional[Dict[str, str]] = None, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """Compare 2-20 runs: the config keys whose values differ (and how many are the same), and for
        each metric key the last, min and max value per run and which run is best. keys: the metrics
        (default: those all runs share, up to 30). goals: {"key": "min" | "max"} when "best" means the
        lowest or highest value (default: min for names like loss/error/perplexity, else max)."""
        self.budget(max_tokens)
        if not isinstance(runs, list) or not 2 <= len(runs) <= 20:
            raise ToolInputError("runs: give a list of 2 to 20 runs (uuid, project/id, id or name)")
        rs = [self.source.run(ref) for ref in runs]
        labels = [self._label(r) for r in rs]
        if len(set(labels)) < len(labels):
            raise ToolInputError(f"runs: the same run is given twice ({labels})")
        flat = [_flat(self.source.config(r)) for r in rs]
        scalar = {lab: set(self.source.scalar_keys(r)) for lab, r in zip(labels, rs)}
        all_keys = sorted(set().union(*flat))
        differ, same = {}, {}
        for k in all_keys:
            vals = [f.get(k, MISSING) for f in flat]
            if all(v is not MISSING for v in vals) and all(dumps(v) == dumps(vals[0]) for v in vals):
                same[k] = vals[0]
            else:
                differ[k] = {lab: (None if v is MISSING else v) for lab, v in zip(labels, vals)}
        if keys is None:
            common = set.intersection(*scalar.values())
            names = sorted(k for k in common if not k.startswith("sys/"))[:30]
        else:
            names = []
            for k in keys:
                if not any(k in keys_of for keys_of in scalar.values()):
                    self._scalar_key(rs[0], k)  # raises, naming the keys there are
                names.append(k)
        goals = dict(goals or {})
        for k, g in goals.items():
            if g not in ("min", "max"):
                raise ToolInputError(f"goals[{k!r}]={g!r}: give 'min' or 'max'")
        metrics: Dict[str, Any] = {}
        for key in names:
            goal = goals.get(key) or ("min" if _is_lower_better(key) else "max")
            per: Dict[str, Any] = {}
            for lab, r in zip(labels, rs):
                if key not in scalar[lab]:
                    per[lab] = None
                    continue
                h = self.source.history(r, key, "step", None, None, 4)
                per[lab] = self._stats(h)
            best = self._best(per, goal)
            metrics[key] = {"goal": goal, "best_run": best, "runs": per}
        return tag_nonfinite({"runs": [{"label": lab, "uuid": r.uuid, "name": r.name, "status": r.status}
                                       for lab, r in zip(labels, rs)],
                              "config_differs": differ, "config_same_count": len(same), "config_same": same,
                              "metrics": metrics})

    @staticmethod
    def _stats(h: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        import numpy as np

        if not len(h["x"]):
            return None
        y, lo, hi = h["y"], h["ymin"], h["ymax"]
        finite_lo, finite_hi = lo[~np.isnan(lo)], hi[~np.isnan(hi)]
        last_x = float(h["x"][-1])
        return {"last": float(y[-1]), "last_step": int(last_x) if last_x.is_integer() else last_x,
                "min": float(finite_lo.min()) if finite_lo.size else float("nan"),
                "max": float(finite_hi.max()) if finite_hi.size else float("nan"), "points": h["total"]}

    @staticmethod
    def _best(per: Dict[str, Any], goal: str) -> Optional[str]:
        scored = [(s[goal], lab) for lab, s in per.items() if s and s[goal] == s[goal]]
        if not scored:
            return None
        return (min(scored) if goal == "min" else max(scored))[1]

    def query_sql(self, sql: str, max_rows: int = 200, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """Read-only SQL (one SELECT) over the tables runs, config, summary, metrics, events, console, media
        (schema: docs/query.md; e.g. SELECT run, max(value) FROM metrics WHERE key='val/acc' GROUP BY run).
        max_rows: rows to return (1-10000); rows beyond the token budget are cut: use LIMIT/OFFSET."""
        budget = self.budget(max_tokens)
        if not isinstance(sql, str) or not sql.strip():
            raise ToolInputError("sql: give one SELECT statement")
        if not isinstance(max_rows, int) or not 1 <= max_rows <= 10_000:
            raise ToolInputError(f"max_rows={max_rows!r}: give 1..10000")
        from ..query import QueryError

        try:
            res = self.source.api.query(sql, max_rows=max_rows)
        except QueryError as exc:
            raise ToolInputError(f"query {exc.kind}: {exc}") from None
        rows = [tag_nonfinite(list(row)) for row in res.rows]
        fit = take_fitting(rows, chars_for(budget) - ENVELOPE - len(dumps(res.columns)))
        out: Dict[str, Any] = {"columns": res.columns, "types": res.types, "rows": fit, "row_count": len(fit),
                               "row_limit_hit": res.truncated, "seconds": round(res.seconds, 4)}
        if len(fit) < len(rows):
            out["rows_cut_to_fit"] = (f"{len(rows) - len(fit)} more rows did not fit the token budget: "
                                      f"add LIMIT {len(fit)} OFFSET {len(fit)} to read on")
        return out

    def tail_console(self, run: str, lines: int = 50, after_seq: Optional[int] = None,
                     stream: Optional[str] = None, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """The captured stdout/stderr of a run: its last `lines` lines (1-2000), or, with after_seq (the
        next_after_seq of an earlier answer), the lines written since. stream: "stdout" or "stderr"."""
        budget = self.budget(max_tokens)
        if not isinstance(lines, int) or not 1 <= lines <= 2000:
            raise ToolInputError(f"lines={lines!r}: give 1..2000")
        if stream not in (None, "stdout", "stderr"):
            raise ToolInputError(f"stream={stream!r}: give 'stdout', 'stderr' or leave it out")
        r = self.source.run(run)
        if after_seq is not None:
            got = self.source.console(r, int(after_seq), None if stream else lines)
        else:
            got = self.source.console(r, -1, None)
        if stream:
            got = [ln for ln in got if ln.get("stream") == stream]
        got = got[:lines] if after_seq is not None else got[-lines:]
        rows = [{"seq": ln["seq"], "stream": ln["stream"], "line": ln["line"]} for ln in got]
        kept = take_fitting(rows[::-1] if after_seq is None else rows, chars_for(budget) - ENVELOPE)
        if after_seq is None:
            kept = kept[::-1]
        last = kept[-1]["seq"] if kept else (after_seq if after_seq is not None else -1)
        out = {"run": self._label(r), "lines": kept, "next_after_seq": last}
        if len(kept) < len(rows):
            out["cut_to_fit"] = f"{len(rows) - len(kept)} lines left out to fit the token budget"
        return out

    def get_events(self, run: str, event: Optional[str] = None, since: Union[float, str, None] = None,
                   after_seq: int = -1, limit: int = 100, max_tokens: Optional[int] = None) -> Dict[str, Any]:
        """A run's events in order: alert (seetrain.alert: title, text, level), start, resume, finish,
        exception (with traceback), warning, lost. event: one kind only (e.g. "alert"). since: only events
        at or after this time (epoch seconds or ISO 8601). after_seq: only events after this seq; poll
        with the next_after_seq of the previous answer. limit: 1-1000."""
        budget = self.budget(max_tokens)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ToolInputError(f"limit={limit!r}: give 1..1000")
        if not isinstance(after_seq, int):
            raise ToolInputError(f"after_seq={after_seq!r}: give a seq number (-1 for the start)")
        t = _time_arg(since)
        r = self.source.run(run)
        evs = self.source.events(r, event or None, t, after_seq, limit + 1)
        more = len(evs) > limit
        evs = tag_nonfinite(evs[:limit])
        fit = take_fitting(evs, chars_for(budget) - ENVELOPE)
        more = more or len(fit) < len(evs)
        return {"run": self._label(r), "events": fit, "more": more,
                "next_after_seq": fit[-1]["seq"] if fit else after_seq}
