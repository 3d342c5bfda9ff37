"""Fuzzing the ingest routes and the run list of a real server (SQLite and PostgreSQL) with random
nesting, keys and Unicode (NUL included): every answer is 2xx or a JSON 4xx, never a 500, and the
project's run list, filters and sorts still answer afterwards."""

from __future__ import annotations

import os
import urllib.parse
import uuid as _uuid

import orjson
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .conftest import api  # noqa: E402

EXAMPLES = int(os.environ.get("SEETRAIN_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

INT = st.integers(-2**63, 2**64 - 1)  # what JSON encoders write
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # NUL and any plane; no lone surrogate
KEY = st.one_of(TEXT, st.sampled_from(["a", "a.b", "ü", "a,b", "a\\", "", "\x00", "lr", "_type", "path"]))
LEAF = st.one_of(st.none(), st.booleans(), INT, st.floats(allow_nan=False, allow_infinity=False),
                 TEXT, st.sampled_from(["NaN", "Infinity", "-Infinity"]))
JSON = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=4),
                    max_leaves=20)


@st.composite
def deep_json(draw):
    """A JSON value wrapped in up to 100 objects or lists (past the server's limit of 64)."""
    v = draw(JSON)
    for _ in range(draw(st.integers(0, 100))):
        v = {draw(KEY): v} if draw(st.booleans()) else [v]
    return v


VALUE = st.one_of(JSON, deep_json(), st.fixed_dictionaries(
    {"_type": st.sampled_from(["image", "audio", "x"])},
    optional={"path": st.one_of(st.sampled_from(["media/a.png", "../etc/passwd", "media/", "media/b\\c"]), TEXT),
              "caption": JSON}))
RECORD = st.fixed_dictionaries(
    {"seq": st.one_of(st.integers(0, 40), st.integers(-5, 2**63 - 1), TEXT)},
    optional={"type": st.sampled_from(["metrics", "system", "config", "summary", "event", "console", "custom", 7]),
              "time": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.none(), TEXT, st.booleans()),
              "step": st.one_of(INT, st.none(), TEXT),
              "data": st.one_of(st.dictionaries(KEY, VALUE, max_size=6), JSON),
              "config": st.one_of(st.dictionaries(KEY, VALUE, max_size=4), JSON),
              "summary": st.one_of(st.dictionaries(KEY, VALUE, max_size=4), JSON),
              "event": st.one_of(TEXT, JSON), "line": st.one_of(TEXT, JSON), "stream": TEXT, "extra": VALUE})
RUN_BODY = st.fixed_dictionaries(
    {"project": st.one_of(st.just("fz"), st.just("fz"), TEXT)},
    optional={"name": st.one_of(TEXT, JSON), "id": st.one_of(TEXT, JSON), "tags": st.one_of(st.lists(TEXT, max_size=4), JSON),
              "config": st.one_of(st.dictionaries(KEY, VALUE, max_size=6), deep_json()),
              "summary": st.one_of(st.dictionaries(KEY, VALUE, max_size=4), deep_json()),
              "status": st.sampled_from(["running", "success", "nope"]), "exit_code": st.one_of(INT, TEXT),
              "start_time": st.one_of(st.floats(allow_nan=False), INT, TEXT),
              "heartbeat": st.floats(allow_nan=False, allow_infinity=False), "host": VALUE, "env": VALUE})
FINISH = st.fixed_dictionaries({"status": st.sampled_from(["success", "failed", "killed", "running", "x"])},
                               optional={"summary": st.one_of(st.dictionaries(KEY, VALUE, max_size=4), deep_json()),
                                         "exit_code": st.one_of(INT, TEXT),
                                         "end_time": st.one_of(st.floats(allow_nan=False), TEXT)})


@pytest.fixture(params=["sqlite", "postgresql"])
def fuzz_server(request, make_server):
    if request.param == "postgresql":
        return make_server(db=request.getfixturevalue("pg_db"))
    return make_server()


def answered(status, body, what):
    assert status < 500, (what, status, body)
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("detail"), (str, list)), (what, status, body)


def list_still_answers(url):
    for query in ("project=fz", "project=fz&sort=config.a", "project=fz&sort=-summary.a", "project=fz&config.a=1",
                  "project=fz&sort=config.%C3%BC", "project=fz&tag=a", "project=fz&q=a", ""):
        status, body = api(url, "/api/v1/runs?" + query)
        assert status == 200 and isinstance(body["runs"], list), (query, status, body)
    assert api(url, "/api/v1/projects")[0] == 200


def test_random_runs_records_and_finishes_never_answer_500(fuzz_server):
    url = fuzz_server.url

    @FUZZ
    @given(body=RUN_BODY, batches=st.lists(st.lists(RECORD, max_size=6), max_size=3), finish=st.none() | FINISH)
    def one_run(body, batches, finish):
        u = _uuid.uuid4().hex
        status, answer = api(url, f"/api/v1/runs/{u}", "PUT", orjson.dumps(body))
        answered(status, answer, "PUT run")
        if status != 200:
            body = {"project": "fz"}
            assert api(url, f"/api/v1/runs/{u}", "PUT", orjson.dumps(body))[0] == 200
        for recs in batches:
            status, answer = api(url, f"/api/v1/runs/{u}/records", "POST", orjson.dumps({"records": recs}))
            answered(status, answer, "POST records")
        if finish is not None:
            status, answer = api(url, f"/api/v1/runs/{u}/finish", "POST", orjson.dumps(finish))
            answered(status, answer, "POST finish")
        for path in ("", "/events", "/media", "/export"):
            status, answer = api(url, f"/api/v1/runs/{u}{path}")
            assert status == 200, (path, status, answer)

    one_run()
    list_still_answers(url)


QUERY_NAME = st.one_of(st.sampled_from(["q", "sort", "status", "tag", "project", "offset", "limit", "config.a"]),
                       KEY.map(lambda k: "config." + k))
QUERY_VALUE = st.one_of(TEXT, st.integers(-2**80, 2**80).map(str), KEY.map(lambda k: "-config." + k),
                        KEY.map(lambda k: "summary." + k))


def test_random_run_list_queries_never_answer_500(fuzz_server):
    url = fuzz_server.url
    for config in ({"a": 1, "ü": "x", "a,b": {"c": True}}, {"a": {"b": [1, 2]}, "lr": None}):
        assert api(url, f"/api/v1/runs/{_uuid.uuid4().hex}", "PUT",
                   orjson.dumps({"project": "fz", "config": config, "summary": config, "tags": ["a"]}))[0] == 200

    @FUZZ
    @given(params=st.lists(st.tuples(QUERY_NAME, QUERY_VALUE), max_size=4))
    def one_query(params):
        status, answer = api(url, "/api/v1/runs?" + urllib.parse.urlencode(params))
        answered(status, answer, params)

    one_query()
    list_still_answers(url)
