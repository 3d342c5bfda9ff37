"""What the MCP tools read: :class:`seetrain.Api` (a log directory or a server), plus the two reads
it does not offer: a metric's points in an x range, bucketed to a point budget, and events
filtered by kind and time.

Offline those come from :func:`seetrain.read_run` (readers kept and refreshed incrementally, so
a second look at a million-point run costs milliseconds) and :mod:`seetrain.mcp.buckets`; against
a server from its REST API (``/series?start=&end=&points=``, ``/runs/{uuid}/events?since=&event=``),
whose own downsampling applies. This module never imports :mod:`seetrain.server`.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from ..api import Api
from ..api.runs import Run
from .budget import ToolInputError


SERIES_KEPT = 8  # sorted series kept in memory (16 MB each at a million points)


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


class Source:
    """The runs one ``seetrain mcp`` serves: a log directory, or a server with an API key."""

    def __init__(self, logdir: Optional[str] = None, host: Optional[str] = None, api_key: Optional[str] = None,
                 timeout: float = 60.0) -> None:
        self.api = Api(logdir=logdir, host=host, api_key=api_key, timeout=timeout) if host else Api(logdir=logdir)
        self.offline = self.api.offline
        self.where = self.api.where
        self._readers: Dict[str, Any] = {}
        self._series: Dict[Tuple[str, str, str], Tuple[int, Any, Any]] = {}  # insertion order = LRU
        self._client: Any = None
        if not self.offline:
            from ..transport import Client

            self._client = Client(host, api_key, timeout=timeout)

    def close(self) -> None:
        self.api.close()
        if self._client is not None:
            self._client.close()

    # --- runs ------------------------------------------------------------------------------------
    def run(self, ref: str) -> Run:
        if not isinstance(ref, str) or not ref.strip():
            raise ToolInputError("run: give a run's uuid, project/id, id or name (list_runs shows them)")
        try:
            return self.api.run(ref.strip())
        except LookupError as exc:
            raise ToolInputError(f"{exc}. list_runs shows the runs there are") from None

    def _reader(self, run: Run) -> Any:
        import seetrain

        r = self._readers.get(run.path)
        if r is None:
            r = self._readers[run.path] = seetrain.read_run(run.path)
        elif r.status == "running":
            r.refresh()
        return r

    # offline these read the kept reader (the Api would scan the records again on each call)
    def config(self, run: Run) -> Dict[str, Any]:
        return self._reader(run).config if self.offline else run.config

    def summary(self, run: Run) -> Dict[str, Any]:
        return self._reader(run).summary() if self.offline else run.summary

    def keys(self, run: Run) -> List[str]:
        return self._reader(run).keys() if self.offline else run.keys()

    def scalar_keys(self, run: Run) -> List[str]:
        return self._reader(run).scalar_keys() if self.offline else run.scalar_keys()

    def _sorted_series(self, run: Run, key: str, x: str):
        """One key's points sorted by x, kept (a few keys, LRU) until the run has new records: the
        reader's columns take ~0.5 s to turn into a million-point series, the bucketing ~50 ms."""
        import numpy as np

        from .buckets import sorted_by_x

        reader = self._reader(run)
        stamp = reader.num_records
        cache_key = (run.path, key, x)
        hit = self._series.pop(cache_key, None)
        if hit is None or hit[0] != stamp:
            s = reader.scalars(key)
            # copies: a view would pin the reader's columns, which grow in place on refresh
            hit = (stamp, *sorted_by_x(np.array(s.steps if x == "step" else s.times, dtype="f8"),
                                       np.array(s.values, dtype="f8")))
        self._series[cache_key] = hit
        while len(self._series) > SERIES_KEPT:
            self._series.pop(next(iter(self._series)))
        return hit[1], hit[2]

    def _get(self, path: str, **params: Any) -> Any:
        items = [(k, v) for k, v in params.items() if v is not None]
        qs = urllib.parse.urlencode(items)
        return self._client.call("GET", "/api/v1" + path + ("?" + qs if qs else ""))

    # --- history ---------------------------------------------------------------------------------
    def history(self, run: Run, key: str, x: str, start: Optional[float], end: Optional[float],
                points: int) -> Dict[str, Any]:
        """``{"x", "y", "ymin", "ymax"}`` (float64 arrays), ``downsampled`` and ``total`` (points in
        the range) of one scalar key, at most ``points`` points (0: every point)."""
        import numpy as np

        if self.offline:
            from .buckets import bucket, in_range

            xs, ys = self._sorted_series(run, key, x)
            xs, ys = in_range(xs, ys, start, end)
            b = bucket(xs, ys, points)
            return {"x": b.x, "y": b.y, "ymin": b.ymin, "ymax": b.ymax, "downsampled": b.downsampled,
                    "total": b.total}
        params: Dict[str, Any] = {"run": run.uuid, "key": key, "x": x, "start": start, "end": end}
        params.update({"full": "true"} if points <= 0 else {"points": points})
        d = self._get("/series", **params)["series"][0]
        arr = {k: np.array([_num(v) for v in d[k]], dtype="f8") for k in ("x", "y", "ymin", "ymax")}
        for nf in d.get("nonfinite") or ():  # the server sends NaN/Inf as null and says which were which
            arr["y"][nf["i"]] = {"+Inf": np.inf, "-Inf": -np.inf}.get(nf["value"], np.nan)
        return {**arr, "downsampled": bool(d["downsampled"]), "total": int(d["total"])}

    # --- events and console ----------------------------------------------------------------------
    def events(self, run: Run, kind: Optional[str], since: Optional[float], after_seq: int,
               limit: int) -> List[Dict[str, Any]]:
        """Events after ``after_seq``, at or after time ``since``, of ``kind``; at most ``limit``."""
        if self.offline:
            out = []
            for e in self._reader(run).events:
                if e.get("seq", -1) <= after_seq or (kind and e.get("event") != kind):
                    continue
                if since is not None and not (isinstance(e.get("time"), (int, float)) and e["time"] >= since):
                    continue
                out.append(e)
                if len(out) >= limit:
                    break
            return out
        return self._get(f"/runs/{run.uuid}/events", after_seq=after_seq, limit=limit, since=since, event=kind)

    def console(self, run: Run, after_seq: int, limit: Optional[int]) -> List[Dict[str, Any]]:
        return run.console(after_seq, limit)
