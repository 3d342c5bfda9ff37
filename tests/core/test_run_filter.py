"""The runs filter language (seetrain.run_filter): each form parsed and evaluated over run dicts, and
a filter it cannot read names the position and what was expected."""

from __future__ import annotations

import pytest

from seetrain.run_filter import Condition, Field, FilterError, Literal, filter_runs, matches, parse

RUNS = [
    {"name": "a", "id": "a", "status": "success", "tags": ["best"],
     "config": {"lr": 0.01, "optimizer": "adam", "model": {"depth": 4}, "flag": True},
     "summary": {"val/acc": 0.95, "loss": 0.2}},
    {"name": "b", "id": "b", "status": "crashed", "tags": [],
     "config": {"lr": 0.0001, "optimizer": "sgd", "model": {"depth": 8}},
     "summary": {"val/acc": 0.5}},
    {"name": "c", "id": "c", "status": "success", "tags": ["x"],
     "config": {"lr": "0.001", "optimizer": "adamw", "model.depth": 2},
     "summary": {"val/acc": 0.9}},
    {"name": "d", "id": "d", "status": "failed", "tags": ["x", "best"], "config": {}, "summary": {}},
]


def names(flt: str):
    return [r["name"] for r in filter_runs(flt, RUNS)]


def test_parse_builds_the_ast():
    f = parse("lr>0.001 and optimizer in (adam, 'adam w') and summary.val/acc>=0.9, status!=crashed")
    assert f.conditions == (
        Condition(Field("config", "lr"), ">", (Literal("0.001", 0.001),)),
        Condition(Field("config", "optimizer"), "in", (Literal("adam"), Literal("adam w"))),
        Condition(Field("summary", "val/acc"), ">=", (Literal("0.9", 0.9),)),
        Condition(Field("status"), "!=", (Literal("crashed"),)),
    )
    assert parse("config.lr == 1e-3").conditions[0] == Condition(Field("config", "lr"), "=", (Literal("1e-3", 0.001),))
    assert parse("x not in (\"1\")").conditions[0] == Condition(Field("config", "x"), "not in", (Literal("1"),))
    assert parse("  ").conditions == ()


@pytest.mark.parametrize("flt, expected", [
    ("lr>0.001", ["a"]),                        # numbers as numbers; the text "0.001" is no number
    ("lr=0.001", ["c"]),                        # = also matches the same text
    ("lr=1e-4", ["b"]),                         # ... and the same number however written
    ("config.lr<=0.01", ["a", "b"]),
    ("optimizer in (adam, adamw)", ["a", "c"]),
    ("optimizer not in (adam, adamw)", ["b", "d"]),  # a run without the key is "not in"
    ("summary.val/acc>=0.9", ["a", "c"]),
    ("status!=crashed", ["a", "c", "d"]),
    ("status=success and summary.val/acc>0.92", ["a"]),
    ("tag=best", ["a", "d"]),
    ("tag!=best", ["b", "c"]),
    ("tag in (x, nope)", ["c", "d"]),
    ("model.depth>=4", ["a", "b"]),             # a dotted path into nested config
    ("model.depth=2", ["c"]),                   # the literal key "model.depth" first
    ("flag=true", ["a"]),                       # booleans by name
    ("optimizer>adam", ["b", "c"]),             # text against text, by code point
    ("optimizer>1", []),                        # a number never matches text
    ("name<=b", ["a", "b"]),
    ("lr>0.001, optimizer=adam", ["a"]),        # a comma reads as 'and' (the former config box)
])
def test_each_form_selects_the_expected_runs(flt, expected):
    assert names(flt) == expected


@pytest.mark.parametrize("flt, pos, expected", [
    ("lr>>1", 4, "a value"),
    ("lr ~ 1", 4, "an operator"),
    ("lr>1 or x=2", 6, "'and' between conditions"),
    ("optimizer in adam", 14, "'('"),
    ("optimizer in (adam adamw)", 20, "',' or ')'"),
    ("name='open", 6, "a closing '"),
    ("tag>x", 4, "=, !=, in or not in after 'tag'"),
    ("and lr>1", 1, "a field"),
    ("lr>1 and", 9, "a field"),
    ("summary.=1", 1, "a key after 'summary.'"),
    ("x ! 1", 3, "'!='"),
])
def test_a_filter_it_cannot_read_names_the_position_and_what_was_expected(flt, pos, expected):
    with pytest.raises(FilterError) as e:
        parse(flt)
    msg = str(e.value)
    assert f"at position {pos}:" in msg and f"expected {expected}" in msg, msg
    assert isinstance(e.value, ValueError) and e.value.position == pos - 1


def test_matches_accepts_text_or_a_parsed_filter():
    assert matches("lr>0.001", RUNS[0]) and matches(parse("lr>0.001"), RUNS[0])
    assert not matches("lr>0.001", RUNS[1])
    assert matches("", RUNS[3])
