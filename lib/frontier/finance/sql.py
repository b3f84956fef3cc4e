"""Safe SQL for the finance section: :func:`execute_safely` (implemented in :mod:`frontier.agents.sql`) and the
attacks the lesson shows it refusing.

``execute_safely(path, sql)`` returns a :class:`SQLResult` with ``ok``, ``rows`` and ``error``: one read-only
``SELECT`` over known tables (parsed with ``sqlglot``), a ``mode=ro`` connection, a budget of SQLite VM steps
(progress handler) and a row cap.  :data:`ATTACKS` are statements a model (or a prompt injection) might produce;
:func:`attack_report` runs each and checks the database file is unchanged.
"""
from __future__ import annotations

import os
from typing import Dict, List, Union

from ..agents.sql import SQLResult, check_sql, connect_readonly, execute_safely
from .database import checksum

__all__ = ["SQLResult", "check_sql", "connect_readonly", "execute_safely", "ATTACKS", "attack_report"]

#: Name -> statement.  Each must be refused (or stopped) and leave the file unchanged.
ATTACKS: Dict[str, str] = {
    "drop table": "DROP TABLE companies",
    "attach": "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "multi-statement injection": "SELECT name FROM companies WHERE ticker = 'X'; DELETE FROM prices",
    "update in a CTE": "WITH x AS (SELECT 1) UPDATE companies SET name = 'pwned'",
    "pragma": "PRAGMA writable_schema = ON",
    "runaway recursive CTE": ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                              "SELECT COUNT(*) FROM n"),
    "load extension": "SELECT load_extension('/tmp/evil.so')",
    "unknown table": "SELECT * FROM sqlite_master",
}


def attack_report(path: Union[str, os.PathLike], *, max_steps: int = 200_000) -> List[Dict[str, object]]:
    """Run every attack on the database at ``path``; one row each: ``attack``, ``sql``, ``ok``, ``error``,
    ``unchanged`` (the file's checksum equals the one before)."""
    before = checksum(path)
    rows = []
    for name, sql in ATTACKS.items():
        r = execute_safely(path, sql, max_steps=max_steps)
        rows.append({"attack": name, "sql": sql, "ok": r.ok, "error": r.error, "unchanged": checksum(path) == before})
    return rows
