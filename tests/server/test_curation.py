"""Curating runs over REST on a real server process: edit (name, tags, notes), archive, soft delete,
restore and purge; a read key cannot edit; purge frees only the blobs nothing else references."""

from __future__ import annotations

import hashlib
import os
import uuid as _uuid
from typing import Dict, List

import orjson
import pytest

from .conftest import api
from .test_auth import _key


def _put(url: str, path: str, body, key=None, method="PUT"):
    return api(url, path, method, orjson.dumps(body), key=key)


def make_run(url: str, project: str, rid: str, media: Dict[str, bytes] = None, key=None, status="success") -> str:
    """A run through the ingest routes, with ``media`` files (path -> bytes) logged at step 0."""
    u = _uuid.uuid4().hex
    assert _put(url, f"/api/v1/runs/{u}", {"project": project, "id": rid, "name": rid, "tags": ["base"]},
                key=key)[0] == 200
    data = {"loss": 1.0}
    for i, path in enumerate(media or {}):
        data[f"img{i}"] = {"_type": "image", "path": path}
    recs = [{"seq": 0, "time": 1.0, "type": "metrics", "step": 0, "data": data}]
    assert _put(url, f"/api/v1/runs/{u}/records", {"records": recs}, key=key, method="POST")[0] == 200
    for path, raw in (media or {}).items():
        got, _ = api(url, f"/api/v1/runs/{u}/media/{path}", "PUT", raw, key=key,
                     headers={"Content-Type": "application/octet-stream"})
        assert got == 200
    assert _put(url, f"/api/v1/runs/{u}/finish", {"status": status}, key=key, method="POST")[0] == 200
    return u


def listed(url: str, project: str, state: str = "", key=None) -> List[str]:
    q = f"&state={state}" if state else ""
    status, body = api(url, f"/api/v1/runs?project={project}{q}", key=key)
    assert status == 200, body
    return sorted(r["id"] for r in body["runs"])


def blob_files(root: str) -> Dict[str, int]:
    out = {}
    for sub in os.listdir(root) if os.path.isdir(root) else []:
        for name in os.listdir(os.path.join(root, sub)):
            out[name] = os.path.getsize(os.path.join(root, sub, name))
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request, make_server):
    """A server on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        return make_server()
    return make_server(db=request.getfixturevalue("pg_db"))


def test_edit_archive_delete_restore_purge_round_trip(any_server):
    url = any_server.url
    a, b = make_run(url, "cur", "a"), make_run(url, "cur", "b")
    status, run = _put(url, f"/api/v1/runs/{a}", {"name": "baseline lr=0.1", "add_tags": ["keep", "best"],
                                                  "remove_tags": ["base"], "notes": "line 1\nline 2"},
                       method="PATCH")
    assert status == 200, run
    assert (run["name"], run["tags"], run["notes"]) == ("baseline lr=0.1", ["keep", "best"], "line 1\nline 2")
    # the run's process re-sends run.json (a resume, the finish): the user's name and tags stay
    assert _put(url, f"/api/v1/runs/{a}", {"name": "a", "tags": ["base"], "summary": {"acc": 0.9}})[0] == 200
    run = api(url, f"/api/v1/runs/{a}")[1]
    assert (run["name"], run["tags"], run["summary"]["acc"]) == ("baseline lr=0.1", ["keep", "best"], 0.9)

    assert _put(url, f"/api/v1/runs/{b}", {"archived": True}, method="PATCH")[1]["archived"] is not None
    assert listed(url, "cur") == ["a"]                      # archived runs leave the default list
    assert listed(url, "cur", "archived") == ["b"]
    assert _put(url, f"/api/v1/runs/{b}", {"archived": False}, method="PATCH")[1]["archived"] is None
    assert listed(url, "cur") == ["a", "b"]

    status, run = api(url, f"/api/v1/runs/{a}", "DELETE", b"{}")
    assert status == 200 and run["deleted"] is not None
    assert listed(url, "cur") == ["b"] and listed(url, "cur", "deleted") == ["a"]
    assert [p["runs"] for p in api(url, "/api/v1/projects")[1] if p["name"] == "cur"] == [1]  # deleted: not counted
    assert api(url, f"/api/v1/runs/{a}")[0] == 200          # still readable by uuid: restorable
    status, run = api(url, f"/api/v1/runs/{a}/restore", "POST", b"{}")
    assert status == 200 and run["deleted"] is None and run["name"] == "baseline lr=0.1"
    assert listed(url, "cur") == ["a", "b"]

    status, rep = api(url, f"/api/v1/runs/{a}?purge=true", "DELETE", b"{}")
    assert status == 200 and rep["purged"] and rep["rows"] >= 3
    assert api(url, f"/api/v1/runs/{a}")[0] == 404
    assert listed(url, "cur", "all") == ["b"]
    assert api(url, f"/api/v1/series?run={b}&key=loss")[0] == 200  # the other run is whole


def test_bad_edits_get_a_json_4xx(server):
    url = server.url
    u = make_run(url, "bad", "r")
    for body, status, words in (({"name": ""}, 422, "'name'"), ({"tags": "x"}, 422, "list of strings"),
                                ({"archived": "yes"}, 422, "true or false"), ({"colour": 1}, 422, "unknown field"),
                                ([1], 422, "JSON object")):
        got, answer = _put(url, f"/api/v1/runs/{u}", body, method="PATCH")
        assert got == status and words in answer["detail"], (body, got, answer)
    assert _put(url, f"/api/v1/runs/{'0' * 32}", {"name": "x"}, method="PATCH")[0] == 404
    status, answer = api(url, f"/api/v1/runs/{u}", "DELETE", b"", headers={"Content-Type": "text/plain"})
    assert status == 415 and "Content-Type" in answer["detail"]   # the cross-site write guard
    status, answer = api(url, f"/api/v1/runs?state=gone")
    assert status == 422


def test_a_read_key_cannot_edit(make_server, tmp_path):
    db = str(tmp_path / "keyed.sqlite")
    admin = _key(db, "--project", "*", "--write")
    read, other = _key(db, "--project", "p"), _key(db, "--project", "q", "--write")
    s = make_server(db=db)
    u = make_run(s.url, "p", "r", key=admin)
    for method, path, body in (("PATCH", f"/api/v1/runs/{u}", {"name": "x"}), ("DELETE", f"/api/v1/runs/{u}", {}),
                               ("DELETE", f"/api/v1/runs/{u}?purge=true", {}),
                               ("POST", f"/api/v1/runs/{u}/restore", {})):
        status, answer = _put(s.url, path, body, key=read, method=method)
        assert status == 403 and "may not write" in answer["detail"], (method, path, answer)
        assert _put(s.url, path, body, key=other, method=method)[0] == 404  # another project: no such run
        assert _put(s.url, path, body, method=method)[0] == 401
    run = api(s.url, f"/api/v1/runs/{u}", key=read)[1]
    assert run["name"] == "r" and run["deleted"] is None
    assert _put(s.url, f"/api/v1/runs/{u}", {"name": "x"}, key=admin, method="PATCH")[1]["name"] == "x"


def test_purge_frees_only_blobs_nothing_else_references(any_server):
    server = any_server
    url = server.url
    shared, own_a, own_b = b"\x89PNG shared" * 100, b"\x89PNG only a" * 200, b"\x89PNG only b" * 300
    a = make_run(url, "pg", "a", {"media/img/s.png": shared, "media/img/o.png": own_a})
    b = make_run(url, "pg", "b", {"media/img/s.png": shared, "media/img/o.png": own_b})
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in (("shared", shared), ("a", own_a), ("b", own_b))}
    assert set(blob_files(server.blobs)) == set(sha.values())
    status, rep = api(url, f"/api/v1/runs/{a}?purge=true", "DELETE", b"{}")
    assert status == 200 and (rep["blobs_freed"], rep["bytes_freed"]) == (1, len(own_a))
    on_disk = blob_files(server.blobs)
    assert on_disk == {sha["shared"]: len(shared), sha["b"]: len(own_b)}  # disk == the remaining references
    for m in api(url, f"/api/v1/runs/{b}/media")[1]:
        status, raw = api(url, m["url"])
        assert status == 200 and raw in (shared, own_b)


def test_every_run_table_is_purged_or_kept_on_purpose():
    """A table with a run_uuid column must be in RUN_ROWS (purge deletes its rows) or be listed here
    as a link that outlives a purge; a blob column must be in BLOB_REFERENCES."""
    from seetrain.server.db.models import BLOB_REFERENCES, RUN_ROWS, metadata

    kept_on_purpose: set = set()
    purged = {c.table.name for c in RUN_ROWS}
    for t in metadata.sorted_tables:
        if "run_uuid" in t.c:
            assert t.name in purged | kept_on_purpose, (
                f"table {t.name} holds run rows: append {t.name}.c.run_uuid to RUN_ROWS in db/models.py")
        if "sha256" in t.c and t.name != "blob_leases":
            assert t.c.sha256 in BLOB_REFERENCES, f"append {t.name}.c.sha256 to BLOB_REFERENCES in db/models.py"
