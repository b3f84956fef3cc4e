"""The finance section's SQLite database: a thin entry point over :mod:`frontier.data`.

:func:`build` writes the corpus of seed ``seed`` with :data:`frontier.data.SCHEMA`.  :func:`build_instance` writes a
*regenerated instance* for test-suite evaluation (Zhong, Yu and Klein 2020): the same companies, tickers and
periods as the base database (``names_seed``), so every question still makes sense, but sectors, statements and
prices drawn from another seed, so a query that is right only by accident on one instance is caught on another.
:func:`checksum` fingerprints the file (the safety lessons show it unchanged after every attack).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Dict, Union

from ..validation import nonnegative_int, positive_int

__all__ = ["build", "build_instance", "checksum", "corpus_for", "SCHEMA_PROMPT", "COLUMNS"]

#: A compact description of the schema, as the text-to-SQL prompt shows it (no types, the columns queries use).
SCHEMA_PROMPT = ("companies ( company_id name ticker sector ) periods ( period_id label fiscal_year fiscal_quarter ) "
                 "income_statements ( company_id period_id revenue gross_profit operating_expenses operating_income "
                 "net_income ) balance_sheets ( company_id period_id cash total_assets total_liabilities "
                 "total_equity ) prices ( company_id date close )")
#: Metric name -> (table, column).
COLUMNS: Dict[str, tuple] = {
    "revenue": ("income_statements", "revenue"), "gross profit": ("income_statements", "gross_profit"),
    "operating expenses": ("income_statements", "operating_expenses"),
    "operating income": ("income_statements", "operating_income"), "net income": ("income_statements", "net_income"),
    "cash": ("balance_sheets", "cash"), "total assets": ("balance_sheets", "total_assets"),
    "total liabilities": ("balance_sheets", "total_liabilities"), "total equity": ("balance_sheets", "total_equity"),
}


@lru_cache(maxsize=16)
def _corpus(seed: int, n_companies: int, n_quarters: int):
    from ..data import generate_corpus
    return generate_corpus(n_companies, n_quarters, seed=seed)


def corpus_for(seed: int = 0, names_seed: int = 0, n_companies: int = 12, n_quarters: int = 8):
    """The corpus an instance is written from: names, tickers, headquarters and founding years from
    ``names_seed``; sectors, shares, statements and prices from ``seed`` (``seed == names_seed``: the base corpus,
    filings included; otherwise no filings)."""
    from ..data import Corpus
    seed, names_seed = nonnegative_int("seed", seed), nonnegative_int("names_seed", names_seed)
    n_companies, n_quarters = positive_int("n_companies", n_companies), positive_int("n_quarters", n_quarters)
    base = _corpus(names_seed, n_companies, n_quarters)
    if seed == names_seed:
        return base
    vals = _corpus(seed, n_companies, n_quarters)
    companies = [dataclasses.replace(n, sector=v.sector, shares_outstanding=v.shares_outstanding)
                 for n, v in zip(base.companies, vals.companies)]
    return Corpus(seed, companies, vals.periods, vals.income, vals.balance, vals.prices, [])


def build(path: Union[str, os.PathLike], seed: int = 0, *, n_companies: int = 12, n_quarters: int = 8) -> Path:
    """Write the finance database of ``seed`` to ``path`` (overwritten) and return the path."""
    from ..data import write_sqlite
    return write_sqlite(corpus_for(seed, seed, n_companies, n_quarters), path)


def build_instance(path: Union[str, os.PathLike], seed: int, *, names_seed: int = 0, n_companies: int = 12,
                   n_quarters: int = 8) -> Path:
    """Write a regenerated instance (see the module docstring) to ``path`` and return the path."""
    from ..data import write_sqlite
    return write_sqlite(corpus_for(seed, names_seed, n_companies, n_quarters), path)


def checksum(path: Union[str, os.PathLike]) -> str:
    """SHA-256 of the database file's bytes."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no database file at {p}")
    return hashlib.sha256(p.read_bytes()).hexdigest()
