"""The synthetic corpus: accounting identities, reproducibility, filings that state the facts, SQLite round trip."""
from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from frontier.data import (METRICS, SCHEMA, check_identities, generate_corpus, long_filing, parse_numbers,
                           table_counts, word_count, write_sqlite)


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(n_companies=6, n_quarters=5, seed=3)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5), q=st.integers(1, 6))
def test_identities_hold_for_any_seed(seed, n, q):
    c = generate_corpus(n_companies=n, n_quarters=q, seed=seed, trading_days=False)
    assert check_identities(c) == []
    for s in c.income:                             # revenue - costs = operating income, recomputed here
        assert s.revenue - (s.cost_of_revenue + s.operating_expenses) == s.operating_income
    for b in c.balance:
        assert b.total_assets == b.total_liabilities + b.total_equity


def test_check_identities_catches_a_broken_row(corpus):
    import dataclasses
    broken = dataclasses.replace(corpus, balance=list(corpus.balance))
    b = broken.balance[0]
    broken.balance[0] = dataclasses.replace(b, total_assets=b.total_assets + 1)
    assert any("assets" in m for m in check_identities(broken))


def test_same_seed_same_corpus_other_seed_differs(corpus):
    again = generate_corpus(n_companies=6, n_quarters=5, seed=3)
    assert again.companies == corpus.companies and again.income == corpus.income
    assert again.balance == corpus.balance and again.prices == corpus.prices
    assert [d.text for d in again.documents] == [d.text for d in corpus.documents]
    other = generate_corpus(n_companies=6, n_quarters=5, seed=4)
    assert other.income != corpus.income


def test_names_and_tickers_unique():
    c = generate_corpus(n_companies=60, n_quarters=1, seed=0, trading_days=False)
    assert len({x.name for x in c.companies}) == 60 and len({x.ticker for x in c.companies}) == 60


def test_every_fact_is_stated_in_its_filing(corpus):
    docs = {(d.company_id, d.period): d for d in corpus.documents}
    facts = corpus.facts()
    assert len(facts) == 6 * 5 * len(METRICS)
    for f in facts:
        d = docs[f.company_id, f.period]
        (start, end), = d.fact_spans[f.key]
        sentence = d.text[start:end]
        assert f.value in parse_numbers(sentence)
        assert f.period in sentence and (f.company in sentence or f.ticker in sentence)


def test_paraphrase_variety(corpus):
    d = corpus.documents[0]
    firsts = {d.text[s:e].split()[0] for d in corpus.documents for spans in d.fact_spans.values() for s, e in spans}
    assert len(firsts) >= 4                       # several sentence frames are used


def test_parse_numbers():
    assert parse_numbers("revenue of $4,821 million and -$12 million, US$7 million, 3 million dollars") == [
        4821, -12, 7, 3]


def test_sqlite_round_trip(corpus, tmp_path):
    path = write_sqlite(corpus, tmp_path / "w.db")
    counts = table_counts(path)
    assert counts["companies"] == 6 and counts["income_statements"] == 30 and counts["prices"] == len(corpus.prices)
    con = sqlite3.connect(path)
    row = con.execute("""SELECT i.revenue FROM income_statements i JOIN companies c USING (company_id)
                         JOIN periods p USING (period_id) WHERE c.ticker = ? AND p.label = ?""",
                      (corpus.companies[2].ticker, corpus.periods[3].label)).fetchone()
    assert row[0] == corpus.fact(corpus.companies[2].ticker, "revenue", corpus.periods[3].label).value
    assert con.execute("SELECT COUNT(*) FROM balance_sheets "
                       "WHERE total_assets != total_liabilities + total_equity").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError):    # the schema's CHECK refuses a broken identity
        con.execute("INSERT INTO balance_sheets VALUES (1, 99, 1, 10, 5, 4, 0)")
    con.close()
    with pytest.raises(FileExistsError):
        write_sqlite(corpus, path, overwrite=False)


def test_schema_names_the_documented_tables():
    for t in ("companies", "periods", "income_statements", "balance_sheets", "prices"):
        assert f"CREATE TABLE {t}" in SCHEMA


def test_long_filing_reaches_target_with_a_bpe_tokenizer(corpus):
    from frontier.models import Tokenizer
    tok = Tokenizer.bpe([d.text for d in corpus.documents], vocab_size=400)
    doc = long_filing(corpus, corpus.companies[0].ticker, 2023, 3000, count_tokens=tok.count)
    n = tok.count(doc.text)
    assert 3000 <= n <= 3000 + 60
    assert len(doc.fact_spans) == 4 * len(METRICS)
    starts = sorted(s for spans in doc.fact_spans.values() for s, _ in spans)
    assert starts[0] < len(doc.text) * 0.4 and starts[-1] > len(doc.text) * 0.6   # facts spread through it
    assert word_count(long_filing(corpus, 1, 2023, 5000).text) >= 5000


@pytest.mark.parametrize("kwargs, exc", [
    (dict(n_companies=0), ValueError), (dict(n_quarters=-1), ValueError), (dict(seed=-1), ValueError),
    (dict(n_companies=2.5), TypeError), (dict(start_year=1066), ValueError)])
def test_bad_input(kwargs, exc):
    with pytest.raises(exc):
        generate_corpus(**kwargs)


def test_long_filing_bad_input(corpus):
    with pytest.raises(ValueError, match="year"):
        long_filing(corpus, 1, 1999, 100)
    with pytest.raises(ValueError, match="target_tokens"):
        long_filing(corpus, 1, 2023, 0)
    with pytest.raises(KeyError):
        corpus.company("NOPE")
