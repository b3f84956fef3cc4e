"""The corpus's facts in SQLite (stdlib ``sqlite3``): the schema the finance section queries.

Schema (:data:`SCHEMA`; money in millions of US dollars, whole numbers; dates ISO ``YYYY-MM-DD``):

``companies(company_id INTEGER PRIMARY KEY, name TEXT UNIQUE, ticker TEXT UNIQUE, sector TEXT, headquarters TEXT,
founded INTEGER, shares_outstanding REAL)``  -- shares in millions

``periods(period_id INTEGER PRIMARY KEY, label TEXT UNIQUE, fiscal_year INTEGER, fiscal_quarter INTEGER,
start_date TEXT, end_date TEXT)``

``income_statements(company_id, period_id, revenue, cost_of_revenue, gross_profit, operating_expenses,
operating_income, interest_expense, income_tax, net_income)``  -- primary key (company_id, period_id)

``balance_sheets(company_id, period_id, cash, total_assets, total_liabilities, total_equity, dividends)``
-- primary key (company_id, period_id)

``prices(company_id, date, close, volume)``  -- close in US dollars per share, volume in shares;
primary key (company_id, date)

``documents(doc_id TEXT PRIMARY KEY, company_id, period, kind, title, text)``  -- the filings

Foreign keys tie every statement and price to ``companies`` and ``periods``; CHECK constraints state the
accounting identities, so a row that breaks one cannot be inserted.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Dict, Union

__all__ = ["SCHEMA", "TABLES", "write_sqlite", "table_counts"]

#: The tables, in creation order.
TABLES = ("companies", "periods", "income_statements", "balance_sheets", "prices", "documents")

#: The DDL, one statement per table.
SCHEMA = """
CREATE TABLE companies (
    company_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ticker TEXT NOT NULL UNIQUE,
    sector TEXT NOT NULL,
    headquarters TEXT NOT NULL,
    founded INTEGER NOT NULL,
    shares_outstanding REAL NOT NULL
);
CREATE TABLE periods (
    period_id INTEGER PRIMARY KEY,
    label TEXT NOT NULL UNIQUE,
    fiscal_year INTEGER NOT NULL,
    fiscal_quarter INTEGER NOT NULL CHECK (fiscal_quarter BETWEEN 1 AND 4),
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL
);
CREATE TABLE income_statements (
    company_id INTEGER NOT NULL REFERENCES companies(company_id),
    period_id INTEGER NOT NULL REFERENCES periods(period_id),
    revenue INTEGER NOT NULL,
    cost_of_revenue INTEGER NOT NULL,
    gross_profit INTEGER NOT NULL,
    operating_expenses INTEGER NOT NULL,
    operating_income INTEGER NOT NULL,
    interest_expense INTEGER NOT NULL,
    income_tax INTEGER NOT NULL,
    net_income INTEGER NOT NULL,
    PRIMARY KEY (company_id, period_id),
    CHECK (gross_profit = revenue - cost_of_revenue),
    CHECK (operating_income = revenue - cost_of_revenue - operating_expenses),
    CHECK (net_income = operating_income - interest_expense - income_tax)
);
CREATE TABLE balance_sheets (
    company_id INTEGER NOT NULL REFERENCES companies(company_id),
    period_id INTEGER NOT NULL REFERENCES periods(period_id),
    cash INTEGER NOT NULL,
    total_assets INTEGER NOT NULL,
    total_liabilities INTEGER NOT NULL,
    total_equity INTEGER NOT NULL,
    dividends INTEGER NOT NULL,
    PRIMARY KEY (company_id, period_id),
    CHECK (total_assets = total_liabilities + total_equity)
);
CREATE TABLE prices (
    company_id INTEGER NOT NULL REFERENCES companies(company_id),
    date TEXT NOT NULL,
    close REAL NOT NULL CHECK (close > 0),
    volume INTEGER NOT NULL,
    PRIMARY KEY (company_id, date)
);
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(company_id),
    period TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


def write_sqlite(corpus, path: Union[str, os.PathLike], *, overwrite: bool = True) -> Path:
    """Write ``corpus`` (a :class:`~frontier.data.corpus.Corpus`) to a new SQLite file with :data:`SCHEMA`.

    Args:
        corpus: the generated world.
        path: the database file.
        overwrite: replace an existing file (``False``: raise ``FileExistsError``).

    Returns:
        The path.  The file is written to a temporary name and moved into place, so a reader never sees half of it.
    """
    from .corpus import Corpus
    if not isinstance(corpus, Corpus):
        raise TypeError(f"corpus must be a frontier.data.Corpus, got {type(corpus).__name__}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    con = sqlite3.connect(tmp)
    try:
        con.execute("PRAGMA foreign_keys = ON")
        con.executescript(SCHEMA)
        con.executemany("INSERT INTO companies VALUES (?,?,?,?,?,?,?)",
                        [(c.company_id, c.name, c.ticker, c.sector, c.headquarters, c.founded,
                          c.shares_outstanding) for c in corpus.companies])
        con.executemany("INSERT INTO periods VALUES (?,?,?,?,?,?)",
                        [(p.period_id, p.label, p.year, p.quarter, p.start_date, p.end_date) for p in corpus.periods])
        con.executemany("INSERT INTO income_statements VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [(s.company_id, s.period_id, s.revenue, s.cost_of_revenue, s.gross_profit,
                          s.operating_expenses, s.operating_income, s.interest_expense, s.income_tax, s.net_income)
                         for s in corpus.income])
        con.executemany("INSERT INTO balance_sheets VALUES (?,?,?,?,?,?,?)",
                        [(b.company_id, b.period_id, b.cash, b.total_assets, b.total_liabilities, b.total_equity,
                          b.dividends) for b in corpus.balance])
        con.executemany("INSERT INTO prices VALUES (?,?,?,?)",
                        [(p.company_id, p.date, p.close, p.volume) for p in corpus.prices])
        con.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?)",
                        [(d.doc_id, d.company_id, d.period, d.kind, d.title, d.text) for d in corpus.documents])
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)
    return path


def table_counts(path: Union[str, os.PathLike]) -> Dict[str, int]:
    """Rows per table of a database written by :func:`write_sqlite` (opened read-only)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no database at {path}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()
