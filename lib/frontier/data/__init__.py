"""Shared data: a synthetic world of fictional companies, their filings, and the same facts in SQLite.

* :mod:`frontier.data.corpus`    :func:`generate_corpus` (companies from Faker, seeded; quarterly income
  statements and balance sheets that satisfy accounting identities; daily prices; quarterly filings),
  :func:`check_identities`, the records (:class:`Company`, :class:`Period`, :class:`Fact`, :class:`Document`, ...)
* :mod:`frontier.data.filings`   the filing templates (paraphrase variety), :func:`long_filing` at a target
  token length (finance's 80,000-token 10-K), :func:`parse_numbers`
* :mod:`frontier.data.database`  :func:`write_sqlite` with the documented :data:`SCHEMA` (companies, periods,
  income_statements, balance_sheets, prices, documents) that the finance section queries

Used by section 6 (knowledge), section 8 (finance) and Exercises 2 and 4.  Shared module: it imports no course
section (``tests/test_layering.py``).
"""
from .corpus import (METRICS, SECTORS, BalanceSheet, Company, Corpus, Document, Fact, IncomeStatement, Period,
                     Price, check_identities, generate_corpus)
from .database import SCHEMA, TABLES, table_counts, write_sqlite
from .filings import fact_sentence, format_money, long_filing, parse_numbers, quarterly_filing, word_count

__all__ = ["METRICS", "SECTORS", "BalanceSheet", "Company", "Corpus", "Document", "Fact", "IncomeStatement",
           "Period", "Price", "check_identities", "generate_corpus", "SCHEMA", "TABLES", "table_counts",
           "write_sqlite", "fact_sentence", "format_money", "long_filing", "parse_numbers", "quarterly_filing",
           "word_count"]
