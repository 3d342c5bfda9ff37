"""seetrain.Table reaches a server online and through ``seetrain sync``: the table's JSON and every
image cell are stored (the listing maps each cell to its blob), served inert, never as active content."""

from __future__ import annotations

import glob
import os

import orjson
import pytest

from tests._child import run_python

from .conftest import api

MAKE_TABLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "ui", "make_tables.py")


def _check_stored(url: str, uuid: str) -> None:
    status, items = api(url, f"/api/v1/runs/{uuid}/media?key=preds")
    assert status == 200, items
    assert [(i["type"], i["step"], i["rows"], i["columns"]) for i in items] == [
        ("table", s, 5, ["image", "label", "score"]) for s in (0, 10, 20)]
    last = items[-1]
    assert len(last["files"]) == 5 and set(last["file_urls"]) == set(last["files"])
    assert all(last["file_urls"].values()), last["file_urls"]  # every image cell was stored
    status, body = api(url, last["url"])
    assert status == 200
    table = orjson.loads(body)
    assert [r[1] for r in table["data"]] == ["cat", "dog", "emu", "ant", "bee"]
    assert [r[2] for r in table["data"]] == [20.5, 20.9, 20.1, 20.7, 20.3]
    cell = table["data"][1][0]
    assert cell["_type"] == "image" and cell["width"] == 8 and cell["path"] in last["file_urls"]
    import urllib.request

    with urllib.request.urlopen(url + last["file_urls"][cell["path"]]) as r:
        assert r.headers["content-type"] == "image/png" and r.read(8) == b"\x89PNG\r\n\x1a\n"
    with urllib.request.urlopen(url + last["url"]) as r:  # the JSON: bytes to save, never run
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_table_logged_online_is_stored_with_its_image_cells(server, tmp_path):
    p = run_python([MAKE_TABLES, str(tmp_path / "logs"), "online", server.url], capture_output=True, text=True,
                   timeout=180)
    assert p.returncode == 0, p.stderr
    meta = orjson.loads(open(os.path.join(p.stdout.strip(), "run.json"), "rb").read())
    _check_stored(server.url, meta["uuid"])


def test_table_synced_later_is_stored_with_its_image_cells(server, tmp_path):
    p = run_python([MAKE_TABLES, str(tmp_path / "logs")], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    (run_json,) = glob.glob(str(tmp_path / "logs" / "tables" / "*" / "run.json"))
    s = run_python(["-m", "seetrain.cli", "sync", os.path.dirname(run_json), "--host", server.url],
                   capture_output=True, text=True, timeout=180)
    assert s.returncode == 0, s.stderr
    _check_stored(server.url, orjson.loads(open(run_json, "rb").read())["uuid"])


@pytest.mark.parametrize("columns, data, says", [
    (["a", "b"], [[1]], "row 0 has 1 cells; each row needs 2"),
    (["a"], [[{"x": 1}]], "cell (row 0, column 'a') is a dict"),
    ("ab", [], "columns must be a list"),
    ([], [], "at least one column"),
])
def test_a_bad_table_is_skipped_with_a_message_naming_the_cell(columns, data, says):
    import seetrain

    t = seetrain.Table(columns=columns, data=data)
    assert t.error and says in t.error, t.error


def test_numpy_scalars_become_numbers():
    np = pytest.importorskip("numpy")
    import seetrain

    t = seetrain.Table(columns=["n", "x"], data=[[np.int64(3), np.float32(0.5)]])
    assert t.error is None and t.rows == [[3, 0.5]] and type(t.rows[0][0]) is int


def test_read_run_gives_a_tables_files_as_paths_to_open(tmp_path):
    p = run_python([MAKE_TABLES, str(tmp_path / "logs")], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    import seetrain

    (last,) = [m for m in seetrain.read_run(p.stdout.strip()).media("preds") if m["step"] == 20]
    assert last["type"] == "table" and last["rows"] == 5
    table = orjson.loads(open(last["path"], "rb").read())
    assert [r[1] for r in table["data"]] == ["cat", "dog", "emu", "ant", "bee"]
    assert all(os.path.isfile(f) and f.endswith(".png") for f in last["files"]) and len(last["files"]) == 5
