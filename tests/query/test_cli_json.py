"""``--json`` on every command that answers (ls, show, export, query, server keys, sync, import): one
JSON document on stdout that parses, carries its versioned ``schema`` name and matches the JSON
Schema of seetrain/cli/json_schemas.py; exit codes as docs/cli.md says. Each command runs as a
real child process."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest

import seetrain
from seetrain.cli.json_schemas import SCHEMAS
from tests._child import run_python
from tests.query.sweep import LRS, STEPS

jsonschema = pytest.importorskip("jsonschema")


def cli(*args, code=0, env=None):
    """Run ``seetrain ARGS`` and return its one JSON document, checked against its schema."""
    res = run_python(["-m", "seetrain.cli", *args], capture_output=True, text=True, timeout=180,
                     env={**os.environ, **(env or {})})
    assert res.returncode == code, (res.returncode, res.stderr[-2000:])
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res.stdout[:2000]
    doc = json.loads(lines[0])  # strict JSON: NaN/Infinity would not parse here
    jsonschema.validate(doc, SCHEMAS[doc["schema"]])
    return doc


def test_every_schema_is_a_valid_json_schema():
    for name, schema in SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert name.rsplit("/", 1)[1].isdigit()


def test_ls_json(sweep):
    doc = cli("ls", sweep, "--json")
    assert doc["schema"] == "seetrain.ls/1" and doc["logdir"] == sweep
    by_name = {r["name"]: r for r in doc["runs"]}
    assert set(by_name) == {"lr0", "lr1", "lr2", "solo"}
    readers = {r.name: r for r in seetrain.list_runs(sweep)}
    for name, r in by_name.items():
        assert (r["uuid"], r["status"], r["exit_code"], r["path"]) == (readers[name].uuid, "success", 0,
                                                                        readers[name].path)
    assert by_name["lr2"]["steps"] == STEPS + 3 and by_name["lr2"]["tags"] == ["sweep", "t2"]
    assert by_name["lr2"]["summary"]["val/acc"] == (STEPS - 1) * 3 / 100.0
    assert by_name["lr2"]["summary"]["odd"] is None  # -inf: strict JSON has no infinity
    assert cli("ls", sweep, "--json", "--project", "other")["runs"][0]["name"] == "solo"


def test_show_json(sweep):
    doc = cli("show", "lr1", "--logdir", sweep, "--json")
    assert doc["run"]["name"] == "lr1" and doc["config"]["opt"] == {"name": "adam", "betas": [0.9, 0.99]}
    assert doc["config"]["lr"] == LRS[1] and doc["summary"]["train/loss"] == 1.0 / STEPS + 1


def test_export_json(sweep, tmp_path):
    doc = cli("export", "lr1", "--logdir", sweep, "--json")
    assert set(doc["metrics"]) == {"train/loss", "val/acc", "odd"}
    m = doc["metrics"]["val/acc"]
    assert m["step"] == list(range(STEPS)) and m["value"] == [s * 2 / 100.0 for s in range(STEPS)]
    assert doc["metrics"]["odd"]["value"] == [None, None, None]
    out = tmp_path / "e.json"
    res = run_python(["-m", "seetrain.cli", "export", "lr1", "--logdir", sweep, "--json", "-o", str(out)],
                     capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == "" and json.loads(out.read_text()) == doc


def test_query_json_answers_and_errors(sweep):
    doc = cli("query", "SELECT key, count(*) AS n FROM metrics WHERE run IN (SELECT run FROM runs WHERE "
          "name = 'lr0') GROUP BY key ORDER BY key", sweep, "--json")
    assert doc["ok"] and doc["columns"] == ["key", "n"] and doc["rows"] == [["odd", 3], ["train/loss", STEPS],
                                                                            ["val/acc", STEPS]]
    assert doc["truncated"] is False and doc["row_count"] == 3
    cut = cli("query", "SELECT * FROM metrics", sweep, "--json", "--max-rows", "3", code=4)
    assert cut["truncated"] and cut["row_count"] == 3
    nan = cli("query", "SELECT value FROM metrics WHERE key = 'odd' ORDER BY step LIMIT 1", sweep, "--json")
    assert nan["rows"] == [[None]]
    refused = cli("query", "DROP TABLE runs", sweep, "--json", code=1)
    assert refused["error"]["kind"] == "refused" and "DROP statements are refused" in refused["error"]["message"]
    slow = cli("query", "SELECT count(*) FROM range(1000000000000) a, metrics b WHERE a.range % 7 = b.step",
               sweep, "--json", "--timeout", "0.5", code=3)
    assert slow["error"]["kind"] == "timeout"


def test_server_keys_json(tmp_path):
    pytest.importorskip("sqlalchemy")
    db = str(tmp_path / "k.sqlite")
    made = cli("server", "keys", "create", "--project", "sweep", "--note", "ci", "--db", db, "--json")
    assert made["project"] == "sweep" and made["write"] is False and made["id"] in made["key"]
    listed = cli("server", "keys", "list", "--db", db, "--json")
    assert [(k["id"], k["project"], k["write"], k["note"]) for k in listed["keys"]] == [(made["id"], "sweep", False, "ci")]
    assert cli("server", "keys", "revoke", made["id"], "--db", db, "--json")["revoked"] is True
    assert cli("server", "keys", "revoke", made["id"], "--db", db, "--json", code=1)["revoked"] is False
    assert cli("server", "keys", "list", "--db", db, "--json")["keys"] == []


def test_sync_json(sweep, tmp_path):
    pytest.importorskip("fastapi")
    from tests.server.conftest import ServerProc

    server = ServerProc(str(tmp_path / "s.sqlite"), str(tmp_path / "blobs")).start()
    try:
        doc = cli("sync", sweep, "--host", server.url, "--json")
        assert doc["failed"] == 0 and len(doc["runs"]) == 4 and all(r["sent"] > 0 for r in doc["runs"])
        assert {r["uuid"] for r in doc["runs"]} == {r.uuid for r in seetrain.list_runs(sweep)}
        again = cli("sync", sweep, "--host", server.url, "--json")
        assert again["sent"] == 0 and again["failed"] == 0  # nothing new: nothing sent twice
    finally:
        server.stop()
    down = cli("sync", sweep, "--host", server.url, "--json", code=1)
    assert down["failed"] >= 1 and "unreachable" in down["runs"][0]["error"]


def test_import_json(tmp_path):
    tbx = pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    src = tmp_path / "tb" / "run1"
    w = tbx.SummaryWriter(str(src))
    for s in range(5):
        w.add_scalar("loss", 1.0 / (s + 1), s)
    w.close()
    doc = cli("import", "tensorboard", str(tmp_path / "tb"), "--logdir", str(tmp_path / "logs"), "--json")
    assert doc["source"] == "TensorBoard" and doc["imported"] == 1 and doc["runs"][0]["status"] == "imported"
    again = cli("import", "tensorboard", str(tmp_path / "tb"), "--logdir", str(tmp_path / "logs"), "--json")
    assert again["imported"] == 0 and again["runs"][0]["status"] == "skipped"
