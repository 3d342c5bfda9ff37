"""A field of a run, writer, finish or record body may hold any JSON value; where SeeTrain expects a
word (a status, a record's type), a list or an object must be answered as every other wrong value
is: a JSON 422 naming the field, nothing stored, the run as it was. Before, each of these reached a
set lookup (``status not in STATUSES``, ``set(types)``) and the server answered 500."""

from __future__ import annotations

import uuid as _uuid

import orjson
import pytest

from .conftest import api

pytest.importorskip("fastapi", reason="the server extra is needed")

NOT_WORDS = [["success"], {"status": "success"}, [], {}]


def _metrics(seq):
    return {"seq": seq, "type": "metrics", "time": 1.0 + seq, "step": seq, "data": {"loss": 1.0 / (seq + 1)}}


@pytest.fixture
def run(shared_server):
    uuid = _uuid.uuid4().hex
    assert api(shared_server.url, f"/api/v1/runs/{uuid}", "PUT", orjson.dumps({"project": "p"}))[0] == 200
    assert api(shared_server.url, f"/api/v1/runs/{uuid}/records", "POST",
               orjson.dumps({"records": [_metrics(i) for i in range(3)]}))[0] == 200
    return shared_server.url, uuid


def _unchanged(url, uuid):
    status, body = api(url, f"/api/v1/runs/{uuid}")
    assert status == 200 and (body["status"], body["records"]) == ("running", 3), body


@pytest.mark.parametrize("value", NOT_WORDS, ids=["list", "object", "empty-list", "empty-object"])
def test_a_status_that_is_not_a_word_is_a_422_naming_the_status(run, value):
    url, uuid = run
    for path, method, body in ((f"/api/v1/runs/{uuid}", "PUT", {"status": value}),
                               (f"/api/v1/runs/{_uuid.uuid4().hex}", "PUT", {"project": "p", "status": value}),
                               (f"/api/v1/runs/{uuid}/writers/rank1", "PUT", {"status": value}),
                               (f"/api/v1/runs/{uuid}/finish", "POST", {"status": value})):
        status, answer = api(url, path, method, orjson.dumps(body))
        assert status == 422 and "status" in answer["detail"], (path, status, answer)
    _unchanged(url, uuid)
    status, answer = api(url, f"/api/v1/runs/{uuid}/writers")
    assert status == 200 and [w["primary"] for w in answer] == [True], answer  # no writer rank1


@pytest.mark.parametrize("value", NOT_WORDS, ids=["list", "object", "empty-list", "empty-object"])
def test_a_record_type_that_is_not_a_word_refuses_the_batch_naming_the_record(run, value):
    url, uuid = run
    batch = [_metrics(3), {"seq": 4, "type": value, "time": 5.0}]
    status, answer = api(url, f"/api/v1/runs/{uuid}/records", "POST", orjson.dumps({"records": batch}))
    assert status == 422 and "records[1].type" in answer["detail"], answer
    _unchanged(url, uuid)
