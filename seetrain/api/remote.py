"""The server source of :class:`seetrain.Api`: the REST API ``/api/v1`` over HTTP
(:mod:`seetrain.transport`), full-resolution histories as Arrow IPC when pyarrow is installed."""

from __future__ import annotations

import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from ..transport import Client, ServerError
from .runs import untag

PAGE = 1000  # the server's largest page of runs
ARROW_TYPE = "application/vnd.apache.arrow.stream"


def _q(**params: Any) -> str:
    items = []
    for k, v in params.items():
        if v is None:
            continue
        for one in (v if isinstance(v, (list, tuple)) else [v]):
            items.append((k, "true" if one is True else "false" if one is False else str(one)))
    return urllib.parse.urlencode(items)


def _info(d: Dict[str, Any]) -> Dict[str, Any]:
    env = d.get("environment") or {}
    return {"uuid": d["uuid"], "id": d["id"], "name": d["name"], "project": d["project"], "status": d["status"],
            "vanished": d.get("vanished", False), "exit_code": d.get("exit_code"),
            "start_time": d.get("start_time"), "end_time": d.get("end_time"), "duration": d.get("duration"),
            "tags": list(d.get("tags") or []), "host": env.get("host"), "git": env.get("git"),
            "description": d.get("description"), "path": None, "fork_from": d.get("fork_from"),
            "archived": d.get("archived"), "deleted": d.get("deleted")}


def has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


class RemoteSource:
    """Runs on the server at ``host`` that ``api_key`` may read."""

    kind = "server"

    def __init__(self, host: str, api_key: Optional[str] = None, timeout: float = 60.0,
                 use_arrow: Optional[bool] = None) -> None:
        self.client = Client(host, api_key, timeout=timeout)
        self.host = self.client.base
        self.use_arrow = has_pyarrow() if use_arrow is None else use_arrow
        self._detail: Dict[str, Dict[str, Any]] = {}

    def get_json(self, path: str, **params: Any) -> Any:
        qs = _q(**params)
        return self.client.call("GET", "/api/v1" + path + ("?" + qs if qs else ""))

    def projects(self) -> List[Dict[str, Any]]:
        return self.get_json("/projects")

    def list_page(self, project: Optional[str], filter: Optional[str], sort: str, limit: Optional[int],
                  state: str = "active") -> List[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]]:
        """Runs filtered, sorted and paged by the server (``filter`` in the dashboard's language;
        ``state``: active, archived, deleted or all)."""
        out: List[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]] = []
        offset = 0
        while limit is None or len(out) < limit:
            n = PAGE if limit is None else min(PAGE, limit - len(out))
            page = self.get_json("/runs", project=project, filter=filter or None, sort=sort, limit=n, offset=offset,
                                 state=state)
            for d in page["runs"]:
                out.append((_info(d), {"config": d.get("config") or {}, "summary": untag(d.get("summary"))}))
            offset += len(page["runs"])
            if not page["runs"] or offset >= page["total"]:
                break
        return out

    def get(self, ref: str) -> Dict[str, Any]:
        """One run by its uuid (or ``project/id``, id or name: looked up in the run list)."""
        ref_hex = ref.replace("-", "")
        if len(ref_hex) == 32 and all(c in "0123456789abcdefABCDEF" for c in ref_hex):
            try:
                return _info(self._fetch_detail(ref_hex.lower()))
            except ServerError as exc:
                if exc.status != 404:
                    raise
        project, _, rid = ref.rpartition("/")
        every = [i for i, _ in self.list_page(project or None, None, "-start_time", None, "all")
                 if i["id"] == rid or (not project and i["name"] == rid)]
        for hits in ([i for i in every if i["deleted"] is None], [i for i in every if i["deleted"] is not None]):
            if len(hits) == 1:
                return hits[0]
            if hits:
                raise LookupError(f"{len(hits)} runs match {ref!r} on {self.host}: give its uuid")
        raise LookupError(f"no run {ref!r} on {self.host} that this key may read (give a uuid, project/id or name)")

    def _fetch_detail(self, uuid: str) -> Dict[str, Any]:
        d = self.get_json(f"/runs/{uuid}")
        self._detail[uuid] = d
        return d

    def _detail_of(self, info: Dict[str, Any]) -> Dict[str, Any]:
        return self._detail.get(info["uuid"]) or self._fetch_detail(info["uuid"])

    def config(self, info: Dict[str, Any]) -> Dict[str, Any]:
        return dict(self._detail_of(info).get("config") or {})

    def summary(self, info: Dict[str, Any]) -> Dict[str, Any]:
        return untag(self._detail_of(info).get("summary"))

    def forks(self, info: Dict[str, Any]) -> List[Dict[str, Any]]:
        return list(self._fetch_detail(info["uuid"]).get("forks") or [])

    def _keys(self, info: Dict[str, Any]) -> List[Dict[str, Any]]:
        return self.get_json(f"/runs/{info['uuid']}/keys")

    def keys(self, info: Dict[str, Any]) -> List[str]:
        return [k["key"] for k in self._keys(info) if not k["key"].startswith("sys/")]

    def scalar_keys(self, info: Dict[str, Any]) -> List[str]:
        return [k["key"] for k in self._keys(info) if k["kind"] == "scalar" and not k["key"].startswith("sys/")]

    def series(self, info: Dict[str, Any], key: str, x: str,
               superseded: bool = False) -> Tuple[List[float], List[float]]:
        """Every point of ``key`` sorted by ``x``: Arrow IPC from ``/runs/{uuid}/history`` when pyarrow
        is installed, else JSON from ``/series?full=true`` (``superseded``: the points a rewind
        superseded, from ``/series?superseded=true``)."""
        if superseded:
            d = self.get_json("/series", run=info["uuid"], key=key, x=x, full=True, superseded=True)["series"][0]
            return [float(v) for v in d["x"]], _values(d)
        if self.use_arrow:
            cols = self.arrow_history(info["uuid"], key, x)
            return cols[x], cols["value"]
        d = self.get_json("/series", run=info["uuid"], key=key, x=x, full=True)["series"][0]
        return [float(v) for v in d["x"]], _values(d)

    def arrow_history(self, uuid: str, key: str, x: str = "step") -> Dict[str, List[Any]]:
        """``{"step", "time", "value"}`` columns of one key (Arrow IPC decoded to lists)."""
        import pyarrow as pa

        body = self.client.call("GET", f"/api/v1/runs/{uuid}/history?" + _q(key=key, x=x, format="arrow"),
                                headers={"Accept": ARROW_TYPE}, raw=True)
        table = pa.ipc.open_stream(body).read_all()
        out = {}
        for name in ("step", "time", "value"):
            col = table.column(name)
            if name == "step" and col.null_count == 0:
                col = col.cast(pa.float64())  # steps as the floats every history gives (exact below 2**53)
            out[name] = col.to_numpy().tolist() if col.null_count == 0 else col.to_pylist()
        return out

    def downsampled(self, info: Dict[str, Any], key: str, x: str, points: int) -> Dict[str, Any]:
        """The server's own downsampling (``/series?points=N``)."""
        d = self.get_json("/series", run=info["uuid"], key=key, x=x, points=points)["series"][0]
        ys = _values(d)
        if not d["downsampled"]:  # every point kept: its band is itself
            lo = hi = ys
        else:  # JSON has no infinity: a band edge that was infinite reads NaN
            lo, hi = [_num(v) for v in d["ymin"]], [_num(v) for v in d["ymax"]]
        return {"x": [float(v) for v in d["x"]], "y": ys, "ymin": lo, "ymax": hi,
                "downsampled": bool(d["downsampled"]), "total": int(d["total"])}

    def media(self, info: Dict[str, Any], key: Optional[str]) -> List[Dict[str, Any]]:
        out = self.get_json(f"/runs/{info['uuid']}/media", key=key)
        for m in out:
            if m.get("url"):
                m["url"] = self.host + m["url"]
        return out

    def events(self, info: Dict[str, Any], after_seq: int, limit: Optional[int]) -> List[Dict[str, Any]]:
        return self._paged(f"/runs/{info['uuid']}/events", after_seq, limit)

    def console(self, info: Dict[str, Any], after_seq: int, limit: Optional[int]) -> List[Dict[str, Any]]:
        return self._paged(f"/runs/{info['uuid']}/console", after_seq, limit)

    def _paged(self, path: str, after_seq: int, limit: Optional[int]) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        while limit is None or len(out) < limit:
            n = 100_000 if limit is None else min(100_000, limit - len(out))
            page = self.get_json(path, after_seq=after_seq, limit=n)
            out.extend(page)
            if len(page) < n:
                break
            after_seq = page[-1]["seq"]
        return out

    def close(self) -> None:
        self.client.close()


NONFINITE = {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf")}


def _values(d: Dict[str, Any]) -> List[float]:
    """``y`` of a ``/series`` answer as floats: JSON null is NaN unless ``nonfinite`` says it was
    an infinity."""
    ys = [_num(v) for v in d["y"]]
    for mark in d.get("nonfinite") or ():
        ys[mark["i"]] = NONFINITE.get(mark["value"], ys[mark["i"]])
    return ys


def _num(v: Any) -> float:
    """A JSON value of a series as a float (the server writes NaN and infinities as null)."""
    return float("nan") if v is None else float(v)
