"""Curating runs of a log folder from the CLI: ``seetrain tag / note / rename / archive / rm /
restore`` keep the user's edits in ``<logdir>/.seetrain/edits/`` and deleted runs in ``<logdir>/.trash/``,
never writing into a run directory; ``seetrain.read_run`` / ``list_runs`` and ``seetrain ls`` apply them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import seetrain
from tests._child import run_python


def _cli(*args: str, stdin: str = "", ok: bool = True) -> subprocess.CompletedProcess:
    out = run_python(["-m", "seetrain.cli", *args], capture_output=True, text=True, timeout=120, input=stdin)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


def _json(*args: str) -> dict:
    """``seetrain ARGS --json``: its one document, checked against its schema (cli/json_schemas.py)."""
    import pytest

    jsonschema = pytest.importorskip("jsonschema")
    from seetrain.cli.json_schemas import SCHEMAS

    doc = json.loads(_cli(*args, "--json").stdout)
    jsonschema.validate(doc, SCHEMAS[doc["schema"]])
    return doc


def tree_hash(path: str) -> str:
    """One digest of every file's relative path and bytes under ``path``."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, path).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def make_runs(logdir: str, *ids: str) -> dict:
    paths = {}
    for rid in ids:
        run = seetrain.init(project="cur", id=rid, logdir=logdir, tags=["base"], config={"lr": 0.1},
                            console="off", system_metrics=False)
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.finish()
        paths[rid] = run.dir
    return paths


def test_tag_note_rename_archive_round_trip_never_write_into_the_run(tmp_path):
    logdir = str(tmp_path / "logs")
    paths = make_runs(logdir, "a", "b")
    before = {k: tree_hash(p) for k, p in paths.items()}
    _cli("tag", "a", "+best", "-base", "keep", "--logdir", logdir)
    _cli("note", "a", "-", "--logdir", logdir, stdin="tried lr=0.1\nlooks good")
    doc = _json("rename", "a", "baseline", "--logdir", logdir)
    assert doc["schema"] == "seetrain.run_edit/1" and doc["name"] == "baseline" and doc["tags"] == ["best", "keep"]
    r = seetrain.read_run(paths["a"])
    assert (r.name, r.meta["tags"], r.meta["notes"]) == ("baseline", ["best", "keep"], "tried lr=0.1\nlooks good")
    shown = _cli("show", "a", "--logdir", logdir).stdout
    assert "baseline" in shown and "best, keep" in shown and "tried lr=0.1\n          looks good" in shown
    _cli("archive", "b", "--logdir", logdir)
    ls = json.loads(_cli("ls", logdir, "--json").stdout)
    assert [x["id"] for x in ls["runs"]] == ["a"]                      # archived runs leave the list
    ls = json.loads(_cli("ls", logdir, "--archived", "--json").stdout)
    assert [x["id"] for x in ls["runs"]] == ["b"]
    _cli("archive", "b", "--undo", "--logdir", logdir)
    assert sorted(x["id"] for x in json.loads(_cli("ls", logdir, "--json").stdout)["runs"]) == ["a", "b"]
    assert {k: tree_hash(p) for k, p in paths.items()} == before       # no run directory was written
    assert len(os.listdir(os.path.join(logdir, ".seetrain", "edits"))) == 2  # one sidecar per edited run


def test_rm_moves_to_the_trash_restore_brings_back_purge_deletes(tmp_path):
    logdir = str(tmp_path / "logs")
    paths = make_runs(logdir, "a", "b")
    digest = tree_hash(paths["a"])
    out = _json("rm", "a", "--logdir", logdir)
    assert (out["deleted"], out["purged"]) == (True, False) and ".trash" in out["path"]
    assert not os.path.exists(paths["a"])
    assert [r.id for r in seetrain.list_runs(logdir)] == ["b"]
    ls = json.loads(_cli("ls", logdir, "--deleted", "--json").stdout)
    assert [x["id"] for x in ls["runs"]] == ["a"]
    _cli("restore", "a", "--logdir", logdir)
    assert os.path.isdir(paths["a"]) and tree_hash(paths["a"]) == digest   # back whole, unchanged
    assert sorted(r.id for r in seetrain.list_runs(logdir)) == ["a", "b"]
    _cli("rm", "a", "--logdir", logdir)
    _cli("rm", "a", "--purge", "--logdir", logdir)                          # purge from the trash
    assert not os.listdir(os.path.join(logdir, ".trash", "cur"))
    _cli("rm", "b", "--purge", "--logdir", logdir)                          # or in place
    assert seetrain.list_runs(logdir) == []
    missing = _cli("restore", "a", "--logdir", logdir, ok=False)
    assert missing.returncode != 0 and "deleted runs" in missing.stderr


def test_rm_refuses_a_running_run(tmp_path):
    logdir = str(tmp_path / "logs")
    run = seetrain.init(project="cur", id="live", logdir=logdir, console="off", system_metrics=False)
    try:
        out = _cli("rm", "live", "--logdir", logdir, ok=False)
        assert out.returncode == 1 and "still running" in out.stderr and os.path.isdir(run.dir)
    finally:
        run.finish()


def test_tag_rm_restore_on_a_server(tmp_path):
    import pytest

    pytest.importorskip("fastapi")
    from tests.server.conftest import ServerProc
    from tests.server.test_curation import listed, make_run

    s = ServerProc(str(tmp_path / "db.sqlite"), str(tmp_path / "blobs")).start()
    try:
        u = make_run(s.url, "srv", "r1")
        _cli("tag", "srv/r1", "+best", "-base", "--server", s.url)
        _cli("note", u, "on the server", "--server", s.url)
        _cli("rename", "r1", "first", "--server", s.url)
        _cli("archive", u, "--server", s.url)
        assert listed(s.url, "srv") == [] and listed(s.url, "srv", "archived") == ["r1"]
        _cli("archive", u, "--undo", "--server", s.url)
        gone = _json("rm", u, "--server", s.url)
        assert (gone["uuid"], gone["deleted"], gone["purged"]) == (u, True, False)
        assert listed(s.url, "srv", "deleted") == ["r1"]
        run = _json("restore", u, "--server", s.url)
        assert (run["deleted"], run["tags"], run["name"], run["notes"]) == (None, ["best"], "first", "on the server")
        assert listed(s.url, "srv") == ["r1"]
        out = _json("rm", u, "--purge", "--server", s.url)
        assert out["purged"] and out["blobs_freed"] == 0 and listed(s.url, "srv", "all") == []
    finally:
        s.stop()


def test_sync_ships_the_log_folders_edits(tmp_path):
    import pytest

    pytest.importorskip("fastapi")
    from tests.server.conftest import ServerProc, api

    logdir = str(tmp_path / "logs")
    paths = make_runs(logdir, "a", "b")
    _cli("rename", "a", "renamed", "--logdir", logdir)
    _cli("tag", "a", "+best", "--logdir", logdir)
    _cli("note", "a", "why", "--logdir", logdir)
    _cli("archive", "b", "--logdir", logdir)
    s = ServerProc(str(tmp_path / "db.sqlite"), str(tmp_path / "blobs")).start()
    try:
        _cli("sync", logdir, "--host", s.url)
        runs = {r["id"]: r for r in api(s.url, "/api/v1/runs?project=cur&state=all")[1]["runs"]}
        a = api(s.url, f"/api/v1/runs/{runs['a']['uuid']}")[1]
        assert (a["name"], a["tags"], a["notes"], a["archived"]) == ("renamed", ["base", "best"], "why", None)
        assert runs["b"]["archived"] is not None
        assert [r["id"] for r in api(s.url, "/api/v1/runs?project=cur")[1]["runs"]] == ["a"]
    finally:
        s.stop()
    assert os.path.isdir(paths["a"])
