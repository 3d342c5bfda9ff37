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
from typing import Any, Dict, List, Optional

from ..api import Api
from ..api.runs import Run
from .budget import ToolInputError


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
            from .buckets import bucket, in_range, sorted_by_x

            reader = self._reader(run)
            s = reader.scalars(key)
            xs, ys = sorted_by_x(np.asarray(s.steps if x == "step" else s.times, dtype="f8"),
                                 np.asarray(s.values, dtype="f8"))
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
