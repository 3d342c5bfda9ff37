"""The JSON Schema of every ``--json`` document (docs/cli.md), by its ``schema`` name.

A document's shape only grows within a version (new fields may appear); a field that changes
meaning or goes away gets a new version (``seetrain.ls/2``). Numbers that are NaN or infinite are
``null`` (strict JSON)."""

from __future__ import annotations

from typing import Any, Dict

NUM = {"type": ["number", "null"]}
STR = {"type": ["string", "null"]}
INT = {"type": ["integer", "null"]}


def _obj(props: Dict[str, Any], required: Any = None) -> Dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required or props)}


def _doc(name: str, props: Dict[str, Any]) -> Dict[str, Any]:
    return _obj({"schema": {"const": name}, **props})


RUN = _obj({"project": {"type": "string"}, "name": {"type": "string"}, "id": {"type": "string"}, "uuid": STR,
            "status": {"type": "string"}, "vanished": {"type": "boolean"}, "exit_code": INT, "start_time": NUM,
            "end_time": NUM, "duration": NUM, "steps": {"type": "integer"},
            "tags": {"type": "array"}, "path": {"type": "string"}})

SCHEMAS: Dict[str, Dict[str, Any]] = {
    "seetrain.ls/1": _doc("seetrain.ls/1", {
        "logdir": {"type": "string"},
        "runs": {"type": "array", "items": {"allOf": [RUN, _obj({"summary": {"type": "object"}})]}}}),
    "seetrain.show/1": _doc("seetrain.show/1", {
        "run": {"allOf": [RUN, _obj({"description": STR, "error": {"type": ["object", "null"]},
                                     "lost": {"type": "integer"}, "heartbeat_age": NUM,
                                     "git": {"type": ["object", "null"]}, "host": STR})]},
        "config": {"type": "object"}, "summary": {"type": "object"}}),
    "seetrain.export/1": _doc("seetrain.export/1", {
        "run": _obj({"project": {"type": "string"}, "name": {"type": "string"}, "id": {"type": "string"},
                     "uuid": STR, "path": {"type": "string"}}),
        "metrics": {"type": "object", "additionalProperties": _obj({
            "step": {"type": "array", "items": {"type": "integer"}},
            "time": {"type": "array", "items": NUM}, "value": {"type": "array", "items": NUM}})}}),
    "seetrain.query/1": {"oneOf": [
        _doc("seetrain.query/1", {"ok": {"const": True}, "columns": {"type": "array", "items": {"type": "string"}},
                                  "types": {"type": "array", "items": {"type": "string"}},
                                  "rows": {"type": "array", "items": {"type": "array"}},
                                  "row_count": {"type": "integer"}, "truncated": {"type": "boolean"},
                                  "max_rows": {"type": "integer"}, "seconds": {"type": "number"}}),
        _doc("seetrain.query/1", {"ok": {"const": False}, "error": _obj({
            "kind": {"enum": ["refused", "sql", "timeout", "unavailable", "server"]},
            "message": {"type": "string"}})})]},
    "seetrain.server.keys.list/1": _doc("seetrain.server.keys.list/1", {
        "keys": {"type": "array", "items": _obj({"id": {"type": "string"}, "project": {"type": "string"},
                                                 "write": {"type": "boolean"}, "note": {"type": "string"},
                                                 "created": {"type": "number"}})}}),
    "seetrain.server.keys.create/1": _doc("seetrain.server.keys.create/1", {
        "id": {"type": "string"}, "key": {"type": "string"}, "project": {"type": "string"},
        "write": {"type": "boolean"}, "note": {"type": "string"}}),
    "seetrain.server.keys.revoke/1": _doc("seetrain.server.keys.revoke/1", {
        "id": {"type": "string"}, "revoked": {"type": "boolean"}}),
    "seetrain.sync/1": _doc("seetrain.sync/1", {
        "host": {"type": "string"}, "sent": {"type": "integer"}, "failed": {"type": "integer"},
        "runs": {"type": "array", "items": _obj({"path": {"type": "string"}, "uuid": STR,
                                                 "sent": {"type": "integer"}, "error": STR})}}),
    "seetrain.import/1": _doc("seetrain.import/1", {
        "source": {"type": "string"}, "imported": {"type": "integer"}, "failed": {"type": "integer"},
        "runs": {"type": "array", "items": _obj({"path": STR, "records": INT,
                                                 "status": {"enum": ["imported", "skipped", "failed"]},
                                                 "problem": STR})}}),
}

# run curation (cli/curate.py): the run after tag / note / rename / archive / restore, and rm
SCHEMAS.update({
    "seetrain.run_edit/1": _doc("seetrain.run_edit/1", {
        "uuid": STR, "project": {"type": "string"}, "id": {"type": "string"}, "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}, "notes": STR, "archived": NUM, "deleted": NUM,
        "path": STR}),
    "seetrain.rm/1": _doc("seetrain.rm/1", {
        "uuid": STR, "deleted": {"type": "boolean"}, "purged": {"type": "boolean"}, "path": STR,
        "blobs_freed": INT, "bytes_freed": INT}),
    "seetrain.server.gc/1": _doc("seetrain.server.gc/1", {
        "dry_run": {"type": "boolean"}, "examined": {"type": "integer"}, "examined_bytes": {"type": "integer"},
        "collected": {"type": "integer"}, "collected_bytes": {"type": "integer"}, "leased": {"type": "integer"},
        "shas": {"type": "array", "items": {"type": "string"}}}),
})

# artifacts (cli/artifact.py, docs/artifacts.md)
_ARTIFACT_VERSION = _obj({"name": {"type": "string"}, "version": {"type": "integer"}, "type": {"type": "string"},
                          "digest": {"type": "string"}, "size": {"type": "integer"}, "created": NUM,
                          "aliases": {"type": "array", "items": {"type": "string"}}, "metadata": {"type": "object"}})
SCHEMAS.update({
    "seetrain.artifact.ls/1": {"oneOf": [
        _doc("seetrain.artifact.ls/1", {"project": {"type": "string"}, "artifacts": {"type": "array", "items": _obj({
            "name": {"type": "string"}, "type": {"type": "string"}, "versions": {"type": "integer"}, "latest": STR,
            "size": {"type": "integer"}, "updated": NUM})}}),
        _doc("seetrain.artifact.ls/1", {"project": {"type": "string"}, "name": {"type": "string"},
                                        "versions": {"type": "array", "items": _ARTIFACT_VERSION}})]},
    "seetrain.artifact.get/1": _doc("seetrain.artifact.get/1", {"version": _ARTIFACT_VERSION, "path": {"type": "string"}}),
    "seetrain.artifact.alias/1": _doc("seetrain.artifact.alias/1", {
        "name": {"type": "string"}, "alias": {"type": "string"}, "version": INT, "removed": {"type": "boolean"}}),
    "seetrain.artifact.rm/1": _doc("seetrain.artifact.rm/1", {
        "name": {"type": "string"}, "version": {"type": "integer"}, "removed": {"type": "boolean"}}),
    "seetrain.artifact.gc/1": _doc("seetrain.artifact.gc/1", {"freed_bytes": {"type": "integer"}}),
})
