"""`seetrain query` is read-only and bounded: writes, ATTACH, COPY, file-reading functions, PRAGMA/SET
escapes and extensions are refused with a message saying so; a slow query stops at the time limit."""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("duckdb", reason="seetrain query needs the query extra: pip install -e '.[query]'")
pytest.importorskip("pyarrow", reason="seetrain query needs the query extra: pip install -e '.[query]'")

from seetrain.query import QueryError, run_query  # noqa: E402

REFUSED = [
    ("DELETE FROM metrics", "DELETE statements are refused"),
    ("UPDATE runs SET name = 'x'", "UPDATE statements are refused"),
    ("INSERT INTO runs (run) VALUES ('x')", "INSERT statements are refused"),
    ("CREATE TABLE t AS SELECT * FROM runs", "CREATE statements are refused"),
    ("CREATE TEMP TABLE t (a INT)", "CREATE statements are refused"),
    ("DROP TABLE runs", "DROP statements are refused"),
    ("ATTACH '{tmp}/other.duckdb' AS o", "ATTACH statements are refused"),
    ("COPY metrics TO '{tmp}/out.csv'", "COPY statements are refused"),
    ("EXPORT DATABASE '{tmp}/dump'", "EXPORT statements are refused"),
    ("PRAGMA enable_external_access", "PRAGMA statements are refused"),
    ("SET enable_external_access = true", "SET statements are refused"),
    ("RESET lock_configuration", "statements are refused"),
    ("INSTALL httpfs", "statements are refused"),
    ("LOAD httpfs", "LOAD statements are refused"),
    ("CALL pragma_version()", "CALL statements are refused"),
    ("SELECT 1; DELETE FROM metrics", "2 statements given"),
    ("SELECT * FROM read_csv('{secret}')", "reads only its own tables"),
    ("SELECT * FROM read_text('{secret}')", "reads only its own tables"),
    ("SELECT * FROM read_blob('{secret}')", "reads only its own tables"),
    ("SELECT * FROM read_parquet('{tmp}/x.parquet')", "reads only its own tables"),
    ("SELECT * FROM read_json_auto('{secret}')", "reads only its own tables"),
    ("SELECT * FROM glob('{tmp}/*')", "reads only its own tables"),
    ("SELECT * FROM '{secret}'", "reads only its own tables"),
]


@pytest.mark.parametrize("sql,message", REFUSED, ids=[s.split("(")[0].split(" '")[0][:40] for s, _ in REFUSED])
def test_escape_is_refused(sweep, tmp_path, sql, message):
    tmp_path = tmp_path / "files"
    tmp_path.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    with pytest.raises(QueryError) as err:
        run_query(sql.format(tmp=tmp_path, secret=secret), logdir=sweep)
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)
    assert sorted(os.listdir(tmp_path)) == ["secret.csv"]  # nothing was written


def test_a_refused_query_leaves_the_tables_as_they_were(sweep):
    before = run_query("SELECT count(*) FROM metrics", logdir=sweep).rows
    with pytest.raises(QueryError):
        run_query("DELETE FROM metrics", logdir=sweep)
    assert run_query("SELECT count(*) FROM metrics", logdir=sweep).rows == before


def test_python_variables_are_not_tables(sweep):
    leaked = [("not", "for", "sql")]  # noqa: F841 - DuckDB's replacement scan would read it by name
    with pytest.raises(QueryError) as err:
        run_query("SELECT * FROM leaked", logdir=sweep)
    assert err.value.kind == "sql" and "leaked" in str(err.value)


def test_slow_query_is_stopped_at_the_time_limit(sweep):
    t0 = time.monotonic()
    with pytest.raises(QueryError) as err:
        run_query("SELECT count(*) FROM range(1000000000000) a, metrics b WHERE a.range % 7 = b.step",
                  logdir=sweep, timeout_s=0.5)
    assert err.value.kind == "timeout" and "time limit of 0.5 s" in str(err.value)
    assert time.monotonic() - t0 < 60  # stopped, not run to the end (which would take hours)


def test_bad_sql_names_the_problem(sweep):
    with pytest.raises(QueryError) as err:
        run_query("SELEC 1", logdir=sweep)
    assert err.value.kind == "sql" and "SELEC" in str(err.value)
