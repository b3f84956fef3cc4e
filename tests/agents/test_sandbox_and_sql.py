"""The sandboxed code tool and safe SQL execution: every refusal is attempted and checked."""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.agents import check_sql, execute_safely, run_python_expression
from frontier.agents.sql import _run, connect_readonly


# ----------------------------------------------------------------------------- code tool
def test_code_tool_evaluates_expressions():
    r = run_python_expression("sum(i * i for i in range(10))")
    assert r.ok and r.value == "285"
    r = run_python_expression("math.comb(10, 3)")
    assert r.ok and r.value == "120"
    r = run_python_expression("print('hi') or 4")
    assert r.ok and r.value == "4" and r.stdout == "hi\n"


def test_code_tool_refuses_statements():
    r = run_python_expression("import os")
    assert not r.ok and r.error_kind == "syntax"


def test_code_tool_cannot_write_files(tmp_path, monkeypatch):
    target = tmp_path / "pwned.txt"
    r = run_python_expression(f"open({str(target)!r}, 'w').write('x')")
    assert not r.ok and r.error_kind == "refused"
    assert not target.exists()
    r = run_python_expression("__import__('pathlib').Path('/tmp/pwned').write_text('x')")
    assert not r.ok and r.error_kind == "refused"


def test_code_tool_cannot_read_files():
    r = run_python_expression("open('/etc/hostname').read()")
    assert not r.ok and r.error_kind == "refused"


def test_code_tool_cannot_open_sockets():
    r = run_python_expression("__import__('socket').socket()")
    assert not r.ok and r.error_kind == "refused"
    r = run_python_expression("__import__('urllib.request').request.urlopen('http://example.com')")
    assert not r.ok and r.error_kind == "refused"


def test_code_tool_cannot_start_processes():
    r = run_python_expression("__import__('os').system('touch /tmp/frontier-pwned')")
    assert not r.ok and r.error_kind == "refused"
    assert not os.path.exists("/tmp/frontier-pwned")
    r = run_python_expression("__import__('subprocess').run(['ls'])")
    assert not r.ok and r.error_kind == "refused"


def test_code_tool_memory_limit():
    r = run_python_expression("len(bytearray(4 * 2**30))", memory_mb=128)
    assert not r.ok and r.error_kind == "memory"


def test_code_tool_time_limit():
    r = run_python_expression("sum(range(10**11))", timeout_s=1.5, cpu_s=1)
    assert not r.ok and r.error_kind == "timeout"
    assert r.seconds < 5


def test_code_tool_bad_arguments():
    with pytest.raises(TypeError, match="code"):
        run_python_expression(42)
    with pytest.raises(ValueError, match="timeout_s"):
        run_python_expression("1", timeout_s=0)


# ----------------------------------------------------------------------------- SQL
@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE prices (item TEXT PRIMARY KEY, price INTEGER)")
    con.execute("CREATE TABLE secrets (k TEXT)")
    con.executemany("INSERT INTO prices VALUES (?, ?)", [(f"item{i}", i) for i in range(500)])
    con.commit()
    con.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_runs_and_results_are_capped(db):
    r = execute_safely(db, "SELECT item, price FROM prices WHERE price < 3 ORDER BY price")
    assert r.ok and r.columns == ["item", "price"] and r.rows == [("item0", 0), ("item1", 1), ("item2", 2)]
    r = execute_safely(db, "SELECT * FROM prices", max_rows=10)
    assert r.ok and len(r.rows) == 10 and r.truncated
    r = execute_safely(db, "WITH cheap AS (SELECT * FROM prices WHERE price < 5) SELECT count(*) FROM cheap")
    assert r.ok and r.rows == [(5,)]


ATTACKS = [
    "DROP TABLE prices",
    "DELETE FROM prices",
    "UPDATE prices SET price = 0",
    "INSERT INTO prices VALUES ('x', 1)",
    "SELECT 1; DROP TABLE prices",
    "SELECT * FROM prices; DELETE FROM prices",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA writable_schema = ON",
    "CREATE TABLE t (x)",
    "VACUUM",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM main.prices",
    "REPLACE INTO prices VALUES ('item1', 0)",
    "SELECT * FROM prices WHERE 1=1 --; DROP TABLE prices",
]


@pytest.mark.parametrize("sql", ATTACKS)
def test_attacks_are_rejected_and_the_file_is_unchanged(db, sql):
    before = _digest(db)
    r = execute_safely(db, sql, tables=["prices"])
    if "--" in sql:            # the comment hides the DROP: it is one harmless SELECT
        assert r.ok
    else:
        assert not r.ok and r.error and r.rows == []
    assert _digest(db) == before


def test_unknown_tables_are_rejected(db):
    r = execute_safely(db, "SELECT * FROM secrets", tables=["prices"])
    assert not r.ok and "unknown table" in r.error


def test_runaway_query_is_stopped_within_its_budget(db):
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    r = execute_safely(db, sql, max_steps=200_000)
    assert not r.ok and r.error.startswith("budget:")


def test_read_only_connection_refuses_writes_even_past_the_parser(db):
    before = _digest(db)
    con = connect_readonly(db)
    r = _run(con, "DELETE FROM prices", 100, 10_000, own=True)      # the parser is skipped on purpose
    con.close()
    assert not r.ok and r.error.startswith("sqlite:")
    assert _digest(db) == before


def test_in_memory_connection_is_read_only_for_the_call_only():
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE a (x)")
    con.execute("INSERT INTO a VALUES (1)")
    assert execute_safely(con, "SELECT x FROM a").rows == [(1,)]
    r = _run(con, "INSERT INTO a VALUES (2)", 100, 10_000, own=False)           # authorizer + query_only
    assert not r.ok
    assert con.execute("SELECT count(*) FROM a").fetchone() == (1,)
    con.execute("INSERT INTO a VALUES (3)")            # the caller's connection is writable again
    assert con.execute("SELECT count(*) FROM a").fetchone() == (2,)


_VERBS = ["INSERT INTO {t} VALUES (1)", "DELETE FROM {t}", "UPDATE {t} SET {c} = 1", "DROP TABLE {t}",
          "DROP VIEW {t}", "CREATE TABLE {t}2 AS SELECT * FROM {t}", "ALTER TABLE {t} ADD COLUMN {c}2",
          "CREATE INDEX i ON {t}({c})", "ATTACH '{t}.db' AS {c}", "DETACH {c}", "PRAGMA {c}",
          "BEGIN", "COMMIT", "REINDEX {t}", "ANALYZE {t}", "SELECT 1; {inner}", "{inner}; SELECT 1"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_VERBS), st.sampled_from(["prices", "secrets", "x"]), st.sampled_from(["price", "k", "y"]),
       st.sampled_from(["DELETE FROM prices", "DROP TABLE prices", "UPDATE prices SET price = 0"]))
def test_generated_non_select_statements_are_all_rejected(template, t, c, inner):
    sql = template.format(t=t, c=c, inner=inner)
    assert check_sql(sql, ["prices", "secrets", "x"]) is not None, sql


def test_sql_bad_arguments(db):
    with pytest.raises(TypeError, match="db"):
        execute_safely(42, "SELECT 1")
    with pytest.raises(FileNotFoundError):
        execute_safely(db.parent / "missing.db", "SELECT 1")
    with pytest.raises(ValueError, match="max_rows"):
        execute_safely(db, "SELECT 1", max_rows=0)
    assert execute_safely(db, "").error.startswith("parse:")
