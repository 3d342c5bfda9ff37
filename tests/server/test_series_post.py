"""``POST /api/v1/series`` and ``POST /api/v1/ui/compare``: the GET routes' reads with their query in a
JSON body (hundreds of runs' uuids do not fit in a URL); the same answers, the same checks."""

from __future__ import annotations

import orjson

from tests._child import run_python

from .conftest import api, write_run


def test_post_forms_answer_as_the_get_forms(server, tmp_path):
    uuids = []
    for i in range(3):
        d = str(tmp_path / "logs" / "p" / f"r{i}")
        uuids.append(write_run(d, 20)["uuid"])
        p = run_python(["-m", "seetrain.cli", "sync", d, "--host", server.url], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    query = "&".join(f"run={u}" for u in uuids) + "&key=k0&key=k1&points=5&band=false"
    status, got = api(server.url, f"/api/v1/series?{query}")
    assert status == 200
    body = {"run": uuids, "key": ["k0", "k1"], "points": 5, "band": False}
    status, posted = api(server.url, "/api/v1/series", "POST", orjson.dumps(body))
    assert status == 200 and posted == got and len(posted["series"]) == 6

    status, got = api(server.url, "/api/v1/ui/compare?" + "&".join(f"run={u}" for u in uuids))
    status2, posted = api(server.url, "/api/v1/ui/compare", "POST", orjson.dumps({"run": uuids}))
    assert status == status2 == 200 and posted["keys"] == got["keys"] and [r["uuid"] for r in posted["runs"]] == uuids


def test_post_series_refuses_bad_bodies_with_json_4xx(server):
    status, ans = api(server.url, "/api/v1/series", "POST", orjson.dumps({"run": [], "key": ["k0"]}))
    assert status == 422 and "run" in str(ans["detail"])
    status, ans = api(server.url, "/api/v1/series", "POST", orjson.dumps({"run": ["0" * 32], "key": ["k0"]}))
    assert status == 404
    status, ans = api(server.url, "/api/v1/series", "POST", orjson.dumps({"run": ["a"] * 60, "key": [f"k{i}" for i in range(50)]}))
    assert status == 422 and "60 runs x 50 keys = 3000 series" in ans["detail"]
    status, ans = api(server.url, "/api/v1/series", "POST", b"run=1", headers={"Content-Type": "text/plain"})
    assert status == 415
