"""``seetrain artifact ls / get / alias / rm / gc`` over a log folder (a server: test_server.py);
every ``--json`` document matches its schema (seetrain/cli/json_schemas.py)."""

from __future__ import annotations

import os

import orjson
import pytest

from seetrain.artifacts.api import log_version
from seetrain.cli.json_schemas import SCHEMAS
from tests._child import run_python
from tests.artifacts.helpers import write_file

jsonschema = pytest.importorskip("jsonschema")


def _cli(logdir, *args):
    out = run_python(["-m", "seetrain.cli", "artifact", *args, "--logdir", str(logdir)], capture_output=True,
                     text=True, timeout=60)
    return out


def _json(logdir, *args):
    out = _cli(logdir, *args, "--json")
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    jsonschema.validate(doc, SCHEMAS[doc["schema"]])
    return doc


def test_ls_get_alias_rm_gc_on_a_log_folder(tmp_path):
    logdir = tmp_path / "logs"
    for i in range(2):
        write_file(str(tmp_path / f"s{i}" / "sub" / "w.bin"), bytes([i]) * 2000)
        log_version(str(logdir), "p", str(tmp_path / f"s{i}"), "m", type="model", metadata={"i": i})
    doc = _json(logdir, "ls", "--project", "p")
    assert [(a["name"], a["type"], a["versions"], a["latest"]) for a in doc["artifacts"]] == [("m", "model", 2, "v1")]
    doc = _json(logdir, "ls", "m", "--project", "p")
    assert [(v["version"], v["aliases"], v["metadata"]) for v in doc["versions"]] == [(1, ["latest"], {"i": 1}),
                                                                                     (0, [], {"i": 0})]
    doc = _json(logdir, "get", "m:v0", str(tmp_path / "out"), "--project", "p")
    assert doc["path"] == str(tmp_path / "out") and doc["version"]["version"] == 0
    with open(tmp_path / "out" / "sub" / "w.bin", "rb") as f:
        assert f.read() == bytes([0]) * 2000
    doc = _json(logdir, "alias", "m:v0", "production", "--project", "p")
    assert doc == {"schema": "seetrain.artifact.alias/1", "name": "m", "alias": "production", "version": 0,
                   "removed": False}
    out = _cli(logdir, "alias", "m:v1", "production", "--project", "p")
    assert out.returncode == 0 and "m:production -> v1" in out.stdout
    assert [v["aliases"] for v in _json(logdir, "ls", "m", "--project", "p")["versions"]] == [["latest", "production"], []]
    doc = _json(logdir, "rm", "m:production", "--project", "p")
    assert doc["version"] == 1 and doc["removed"]
    assert [(v["version"], v["aliases"]) for v in _json(logdir, "ls", "m", "--project", "p")["versions"]] == [(0, ["latest"])]
    doc = _json(logdir, "gc", "--grace", "0")
    assert doc["freed_bytes"] == 2000
    assert os.path.isfile(tmp_path / "out" / "sub" / "w.bin")  # the kept version's checkout is untouched


def test_bad_references_fail_with_a_message_and_exit_code_1(tmp_path):
    logdir = tmp_path / "logs"
    write_file(str(tmp_path / "s" / "w.bin"), b"x")
    log_version(str(logdir), "p", str(tmp_path / "s"), "m")
    out = _cli(logdir, "get", "m:v7", "--project", "p")
    assert out.returncode == 1 and "m:v7 of project 'p' does not exist (versions: v0, latest->v0)" in out.stderr
    out = _cli(logdir, "alias", "m:v0", "v2", "--project", "p")
    assert out.returncode == 1 and "names a version" in out.stderr
    out = _cli(logdir, "ls", "nope", "--project", "p")
    assert out.returncode == 1 and "no artifact named 'nope'" in out.stderr
