"""The finance database and the safety layer: attacks refused, file unchanged, runaway queries stopped."""
import sqlite3
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontier.data import TABLES
from frontier.finance import database as db
from frontier.finance import sql


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return db.build(tmp_path_factory.mktemp("fin") / "finance.db", seed=0)


def test_build_writes_the_documented_schema(base):
    con = sqlite3.connect(base)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert names == set(TABLES)


def test_every_attack_is_refused_and_the_file_is_unchanged(base):
    rows = sql.attack_report(base)
    assert {r["attack"] for r in rows} >= {"drop table", "attach", "multi-statement injection", "runaway recursive CTE"}
    for r in rows:
        assert r["ok"] is False and r["error"] and r["unchanged"], r
    by = {r["attack"]: r for r in rows}
    assert by["runaway recursive CTE"]["error"].startswith("budget:")
    assert by["multi-statement injection"]["error"].startswith("rejected:")


def test_runaway_query_is_stopped_within_its_budget(base):
    q = sql.ATTACKS["runaway recursive CTE"]
    t0 = time.perf_counter()
    r = sql.execute_safely(base, q, max_steps=100_000)
    assert not r.ok and r.error.startswith("budget:")
    assert time.perf_counter() - t0 < 5.0
    small = sql.execute_safely(base, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) "
                                     "SELECT COUNT(*) FROM n", max_steps=100_000)
    assert small.ok and small.rows == [(10,)]                       # a bounded recursion still runs


_VERBS = st.sampled_from([
    "DELETE FROM companies", "UPDATE prices SET close = 0", "INSERT INTO periods VALUES (99, 'x', 1, 1, 'a', 'b')",
    "DROP TABLE prices", "CREATE TABLE t (x)", "ALTER TABLE companies ADD COLUMN y", "ATTACH DATABASE ':memory:' AS m",
    "DETACH DATABASE main", "PRAGMA journal_mode = DELETE", "VACUUM", "REINDEX", "BEGIN", "COMMIT",
    "REPLACE INTO companies (company_id) VALUES (1)", "SELECT * FROM sqlite_master", "SELECT load_extension('x')",
    "CREATE VIEW v AS SELECT 1", "ANALYZE"])
_SELECTS = st.sampled_from(["SELECT name FROM companies", "SELECT COUNT(*) FROM prices", "SELECT 1"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=_VERBS, good=_SELECTS, sep=st.sampled_from([";", "; ", ";\n", " ;"]), order=st.booleans(),
       comment=st.sampled_from(["", " -- note", " /* x */"]))
def test_property_only_single_selects_pass(base, bad, good, sep, order, comment):
    before = db.checksum(base)
    assert not sql.execute_safely(base, bad + comment).ok
    stacked = (good + sep + bad) if order else (bad + sep + good)
    r = sql.execute_safely(base, stacked + comment)
    assert not r.ok and r.error and r.rows == []
    assert sql.execute_safely(base, good + comment).ok
    assert db.checksum(base) == before


def test_instances_keep_names_and_redraw_numbers(tmp_path):
    a = db.build(tmp_path / "a.db", 0)
    b = db.build_instance(tmp_path / "b.db", 7, names_seed=0)
    ra = sql.execute_safely(a, "SELECT name, ticker FROM companies ORDER BY company_id")
    rb = sql.execute_safely(b, "SELECT name, ticker FROM companies ORDER BY company_id")
    assert ra.rows == rb.rows
    va = sql.execute_safely(a, "SELECT SUM(revenue) FROM income_statements").rows
    vb = sql.execute_safely(b, "SELECT SUM(revenue) FROM income_statements").rows
    assert va != vb
    assert db.checksum(a) != db.checksum(b)


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError):
        db.checksum(tmp_path / "missing.db")
    with pytest.raises(ValueError, match="seed"):
        db.build(tmp_path / "x.db", seed=-1)
