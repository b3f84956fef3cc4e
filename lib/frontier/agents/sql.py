"""Safe, read-only SQL execution for agents (SQLite).

:func:`execute_safely` runs a query a model wrote and returns a
:class:`SQLResult` (``ok``, ``rows``, ``columns``, ``error``); it never raises
for anything in the query and never changes the database.  Layers:

1. **Parse** with ``sqlglot`` (SQLite dialect): exactly one statement, which
   must be a ``SELECT`` (or a ``UNION``/``INTERSECT``/``EXCEPT`` of selects,
   optionally with ``WITH``), containing no data-changing or schema-changing
   node anywhere, reading only known tables (the database's own tables, or a
   given allow-list), and calling no denied function (``load_extension``,
   ``readfile``, ``writefile``, ...).
2. **Read-only connection**: a database file is opened through a
   ``file:...?mode=ro`` URI, so SQLite itself refuses writes; an existing
   connection (an in-memory database) gets ``PRAGMA query_only = ON`` for the
   call.  Either way an **authorizer** allows only reads, selects and
   functions (no ``ATTACH``, no ``PRAGMA``, no writes), whatever slipped past
   the parser.
3. **Budget**: a progress handler aborts the query after ``max_steps``
   SQLite virtual-machine instructions (runaway recursive queries, huge joins).
4. **Result cap**: at most ``max_rows`` rows are returned; ``truncated``
   says whether more existed.

The finance section re-exports this as ``frontier.finance.sql.execute_safely``.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

import sqlglot
from sqlglot import exp

from ..validation import positive_int

__all__ = ["SQLResult", "check_sql", "execute_safely", "connect_readonly", "DENIED_FUNCTIONS"]

DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
                              "sqlar_compress", "sqlar_uncompress"})

_WRITE_NODES = tuple(getattr(exp, n) for n in ("Insert", "Update", "Delete", "Drop", "Create", "Alter", "Command",
                                               "Pragma", "Attach", "Detach", "Merge", "TruncateTable", "Transaction",
                                               "Commit", "Rollback", "Into", "Set", "Use", "Copy", "LoadData")
                     if hasattr(exp, n))


@dataclass(frozen=True)
class SQLResult:
    """The outcome of :func:`execute_safely`.

    Attributes:
        ok: the query was accepted and ran to completion.
        rows: result rows (tuples), at most ``max_rows``.
        columns: column names.
        error: ``None`` when ok, else a message starting with the stage that
            refused it: ``"parse:"``, ``"rejected:"``, ``"budget:"`` or ``"sqlite:"``.
        truncated: more rows existed than were returned.
    """

    ok: bool
    rows: List[Tuple[Any, ...]] = field(default_factory=list)
    columns: List[str] = field(default_factory=list)
    error: Optional[str] = None
    truncated: bool = False

    def as_dict(self) -> dict:
        return {"ok": self.ok, "columns": self.columns, "rows": [list(r) for r in self.rows], "error": self.error,
                "truncated": self.truncated}


def _is_select_tree(node: exp.Expression) -> bool:
    if isinstance(node, exp.Select):
        return True
    if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
        return _is_select_tree(node.left) and _is_select_tree(node.right)
    if isinstance(node, exp.Subquery):
        return _is_select_tree(node.this)
    return False


def check_sql(sql: str, tables: Iterable[str]) -> Optional[str]:
    """``None`` if ``sql`` is one read-only SELECT over ``tables``, else why not.

    Table names are compared case-insensitively; names defined by ``WITH``
    (common table expressions) count as known inside the query.
    """
    if not isinstance(sql, str) or not sql.strip():
        return "parse: the query must be a non-empty string"
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except sqlglot.errors.ParseError as e:
        return f"parse: {str(e).splitlines()[0][:200]}"
    except Exception as e:                      # sqlglot can raise other errors on odd input
        return f"parse: {type(e).__name__}: {str(e)[:200]}"
    if len(statements) != 1:
        return f"rejected: exactly one statement is allowed, got {len(statements)}"
    tree = statements[0]
    if not _is_select_tree(tree):
        return f"rejected: only SELECT queries are allowed, got {tree.key.upper()}"
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            return f"rejected: {node.key.upper()} is not allowed inside a query"
    known = {t.lower() for t in tables}
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for t in tree.find_all(exp.Table):
        name = t.name.lower()
        if t.args.get("db") or t.args.get("catalog"):
            return f"rejected: schema-qualified table {t.sql()!r} is not allowed"
        if name not in known and name not in ctes:
            return f"rejected: unknown table {t.name!r}; known tables: {', '.join(sorted(known))}"
    for f in tree.find_all(exp.Func):
        fname = (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
        if fname in DENIED_FUNCTIONS:
            return f"rejected: function {fname}() is not allowed"
    return None


def connect_readonly(path: Union[str, Path]) -> sqlite3.Connection:
    """Open a database file read-only through a ``file:...?mode=ro`` URI (FileNotFoundError if missing)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no database file at {p}")
    return sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)


_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)


def _authorizer(action, arg1, arg2, dbname, source):
    if action in _ALLOWED_ACTIONS or action == _RECURSIVE:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _user_tables(conn: sqlite3.Connection) -> List[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                        "AND name NOT LIKE 'sqlite_%'").fetchall()
    return [r[0] for r in rows]


def execute_safely(db: Union[str, Path, sqlite3.Connection], sql: str, *, tables: Optional[Sequence[str]] = None,
                   max_rows: int = 100, max_steps: int = 1_000_000) -> SQLResult:
    """Run one read-only SELECT and return a :class:`SQLResult`; never raises for the query's sake.

    Args:
        db: a database file path (opened read-only with a ``mode=ro`` URI and
            closed afterwards) or an open ``sqlite3.Connection`` (used with
            ``PRAGMA query_only`` and an authorizer for the call; afterwards
            ``query_only`` is restored and the authorizer removed).
        sql: the query.
        tables: the tables the query may read; default: every table and view
            in the database.
        max_rows: the most rows returned (``truncated`` tells if there were more).
        max_steps: SQLite virtual-machine instructions allowed before the
            query is aborted (checked every 1,000 instructions).

    Raises:
        TypeError / ValueError: bad arguments (not a path or connection,
            non-positive limits); FileNotFoundError: no such database file.
    """
    max_rows = positive_int("max_rows", max_rows)
    max_steps = positive_int("max_steps", max_steps)
    if isinstance(db, sqlite3.Connection):
        conn, own = db, False
    elif isinstance(db, (str, Path)):
        conn, own = connect_readonly(db), True
    else:
        raise TypeError(f"db must be a path or a sqlite3.Connection, got {type(db).__name__}")
    try:
        known = list(tables) if tables is not None else _user_tables(conn)
        reason = check_sql(sql, known)
        if reason is not None:
            return SQLResult(False, error=reason)
        return _run(conn, sql, max_rows, max_steps, own)
    finally:
        if own:
            conn.close()


def _run(conn: sqlite3.Connection, sql: str, max_rows: int, max_steps: int, own: bool) -> SQLResult:
    every = 1000
    budget = {"left": max(1, max_steps // every)}

    def progress() -> int:
        budget["left"] -= 1
        return 1 if budget["left"] < 0 else 0

    before = None
    if not own:
        before = conn.execute("PRAGMA query_only").fetchone()[0]
        conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorizer)
    conn.set_progress_handler(progress, every)
    try:
        cur = conn.execute(sql)
        rows = cur.fetchmany(max_rows + 1)
        cols = [d[0] for d in cur.description or []]
        cur.close()
        return SQLResult(True, [tuple(r) for r in rows[:max_rows]], cols, None, len(rows) > max_rows)
    except sqlite3.OperationalError as e:
        if budget["left"] < 0 or "interrupted" in str(e):
            return SQLResult(False, error=f"budget: query stopped after {max_steps:,} steps")
        return SQLResult(False, error=f"sqlite: {e}")
    except sqlite3.DatabaseError as e:
        return SQLResult(False, error=f"sqlite: {e}")
    finally:
        conn.set_progress_handler(None, every)
        conn.set_authorizer(None)
        if not own:
            conn.execute(f"PRAGMA query_only = {int(before)}")
