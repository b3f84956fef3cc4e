"""A synthetic world of fictional companies: quarterly statements that satisfy accounting identities.

:func:`generate_corpus` draws ``n_companies`` companies (names from Faker, seeded) and ``n_quarters`` quarters of
income statements, balance sheets and daily share prices, then writes one quarterly filing per company and quarter
(:mod:`frontier.data.filings`).  Everything is a deterministic function of ``seed`` (and the installed Faker
version, whose name lists can change between releases).

Money is in **millions of US dollars, whole numbers**, so the identities hold exactly:

* gross profit = revenue − cost of revenue
* operating income = revenue − cost of revenue − operating expenses  (revenue − costs)
* net income = operating income − interest expense − income tax
* total assets = total liabilities + total equity
* equity(t) = equity(t−1) + net income(t) − dividends(t)

Because the companies do not exist, a model can know a figure only if it was trained on it or reads it in its
context: the property the knowledge lessons need to tell memory from retrieval from guessing.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..validation import nonnegative_int, positive_int

__all__ = ["Company", "Period", "IncomeStatement", "BalanceSheet", "Price", "Fact", "Document", "Corpus",
           "METRICS", "SECTORS", "generate_corpus", "check_identities"]

#: Sectors a company is drawn from, with (median quarterly revenue in $M, gross margin, operating-expense ratio).
SECTORS: Dict[str, Tuple[float, float, float]] = {
    "software": (900.0, 0.72, 0.48),
    "semiconductors": (2200.0, 0.55, 0.30),
    "retail": (4200.0, 0.32, 0.24),
    "industrials": (2600.0, 0.30, 0.19),
    "healthcare": (1700.0, 0.58, 0.40),
    "energy": (3800.0, 0.28, 0.14),
    "consumer goods": (2000.0, 0.45, 0.33),
    "financial services": (1300.0, 0.62, 0.41),
}

#: The metrics a question can ask about: name -> (statement, description).  Values are $ millions.
METRICS: Dict[str, Tuple[str, str]] = {
    "revenue": ("income", "total revenue for the quarter"),
    "cost of revenue": ("income", "direct costs of the goods and services sold"),
    "gross profit": ("income", "revenue minus cost of revenue"),
    "operating expenses": ("income", "research, selling, general and administrative costs"),
    "operating income": ("income", "revenue minus cost of revenue minus operating expenses"),
    "net income": ("income", "operating income minus interest and tax"),
    "total assets": ("balance", "total assets at the end of the quarter"),
    "total liabilities": ("balance", "total liabilities at the end of the quarter"),
    "total equity": ("balance", "shareholders' equity at the end of the quarter"),
    "cash": ("balance", "cash and cash equivalents at the end of the quarter"),
}

_SUFFIXES = ("Holdings", "Systems", "Labs", "Industries", "Group", "Technologies", "Partners", "Dynamics",
             "Networks", "Analytics", "Materials", "Logistics")


@dataclass(frozen=True)
class Company:
    """A fictional company.  ``company_id`` counts from 1; ``ticker`` is 3-4 capital letters, unique."""
    company_id: int
    name: str
    ticker: str
    sector: str
    headquarters: str
    founded: int
    shares_outstanding: float      # millions of shares


@dataclass(frozen=True)
class Period:
    """A fiscal quarter (calendar quarters).  ``label`` is like ``"Q3 2024"``; ``period_id`` counts from 1."""
    period_id: int
    year: int
    quarter: int
    start_date: str                # ISO dates
    end_date: str

    @property
    def label(self) -> str:
        return f"Q{self.quarter} {self.year}"


@dataclass(frozen=True)
class IncomeStatement:
    """One quarter's income statement, $ millions (see the module docstring for the identities)."""
    company_id: int
    period_id: int
    revenue: int
    cost_of_revenue: int
    gross_profit: int
    operating_expenses: int
    operating_income: int
    interest_expense: int
    income_tax: int
    net_income: int


@dataclass(frozen=True)
class BalanceSheet:
    """The balance sheet at a quarter's end, $ millions; ``dividends`` were paid during the quarter."""
    company_id: int
    period_id: int
    cash: int
    total_assets: int
    total_liabilities: int
    total_equity: int
    dividends: int


@dataclass(frozen=True)
class Price:
    """A daily closing share price (US dollars) and volume (shares) on a business day."""
    company_id: int
    date: str
    close: float
    volume: int


@dataclass(frozen=True)
class Fact:
    """One figure a question can ask about: (company, metric, period) -> value in $ millions."""
    company_id: int
    company: str
    ticker: str
    metric: str
    period: str                    # label, e.g. "Q3 2024"
    value: int

    @property
    def key(self) -> Tuple[str, str, str]:
        """``(ticker, metric, period)``, unique within a corpus."""
        return (self.ticker, self.metric, self.period)


@dataclass
class Document:
    """A text document with the character spans where each fact is stated.

    Attributes:
        doc_id: unique within the corpus, e.g. ``"ACME-Q3-2024"``.
        company_id, period: what the filing covers (``period`` a label, or a year for an annual report).
        kind: ``"10-Q"`` (quarterly report), ``"10-K"`` (annual report) or ``"note"``.
        title: a one-line title.
        text: the full text; sections are separated by blank lines and start with their heading.
        sections: ``[(heading, start, end)]`` character ranges of the sections in ``text``.
        fact_spans: ``{fact key: [(start, end), ...]}`` character ranges of the sentences stating each fact.
    """
    doc_id: str
    company_id: int
    period: str
    kind: str
    title: str
    text: str
    sections: List[Tuple[str, int, int]] = field(default_factory=list)
    fact_spans: Dict[Tuple[str, str, str], List[Tuple[int, int]]] = field(default_factory=dict)


@dataclass
class Corpus:
    """The generated world (see :func:`generate_corpus`).  Lists are in id order."""
    seed: int
    companies: List[Company]
    periods: List[Period]
    income: List[IncomeStatement]
    balance: List[BalanceSheet]
    prices: List[Price]
    documents: List[Document]

    def company(self, key) -> Company:
        """The company with this id, ticker or name."""
        for c in self.companies:
            if key in (c.company_id, c.ticker, c.name):
                return c
        raise KeyError(f"no company {key!r} in the corpus")

    def period(self, key) -> Period:
        """The period with this id or label (``"Q3 2024"``)."""
        for p in self.periods:
            if key in (p.period_id, p.label):
                return p
        raise KeyError(f"no period {key!r} in the corpus")

    def facts(self, metrics: Optional[Sequence[str]] = None) -> List[Fact]:
        """Every (company, metric, period) figure, ordered by company, period, then metric order of :data:`METRICS`."""
        metrics = list(METRICS) if metrics is None else list(metrics)
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"metrics must be among {list(METRICS)}, got {unknown}")
        inc = {(s.company_id, s.period_id): s for s in self.income}
        bal = {(s.company_id, s.period_id): s for s in self.balance}
        out = []
        for c in self.companies:
            for p in self.periods:
                for m in metrics:
                    row = inc[c.company_id, p.period_id] if METRICS[m][0] == "income" else bal[c.company_id, p.period_id]
                    out.append(Fact(c.company_id, c.name, c.ticker, m, p.label, int(getattr(row, _attr(m)))))
        return out

    def fact(self, ticker: str, metric: str, period: str) -> Fact:
        """One fact by ticker, metric and period label."""
        try:
            return self._index()[(ticker, metric, period)]
        except KeyError:
            raise KeyError(f"no fact ({ticker!r}, {metric!r}, {period!r})") from None

    def facts_of(self, company_id: int, period: str) -> List[Fact]:
        """The facts of one company and period label, in :data:`METRICS` order."""
        c = self.company(company_id)
        return [self._index()[(c.ticker, m, period)] for m in METRICS]

    def _index(self) -> Dict[Tuple[str, str, str], Fact]:
        key = (len(self.income), len(self.balance))
        if getattr(self, "_fact_index", None) is None or self._fact_index[0] != key:
            self._fact_index = (key, {f.key: f for f in self.facts()})
        return self._fact_index[1]


def _attr(metric: str) -> str:
    return metric.replace(" ", "_")


def _ticker(name: str, taken: set) -> str:
    letters = re.sub(r"[^A-Z]", "", name.upper())
    base = (letters[:3] + letters[-1:]) if len(letters) >= 4 else (letters + "XXX")[:3]
    cands = [base[:3], base[:4], letters[:4], letters[:2] + letters[-2:]]
    for c in cands:
        if len(c) >= 3 and c not in taken:
            return c
    i = 0
    while True:
        c = (letters[:3] + chr(ord("A") + i % 26))
        if c not in taken:
            return c
        i += 1


def _quarter_dates(year: int, q: int) -> Tuple[_dt.date, _dt.date]:
    start = _dt.date(year, 3 * (q - 1) + 1, 1)
    end_month = 3 * q
    end = (_dt.date(year + (end_month == 12), (end_month % 12) + 1, 1) - _dt.timedelta(days=1))
    return start, end


def _companies(n: int, seed: int) -> List[Company]:
    from faker import Faker
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng([seed, 1])
    names, tickers, out = set(), set(), []
    sectors = list(SECTORS)
    while len(out) < n:
        name = f"{fake.last_name()} {_SUFFIXES[int(rng.integers(len(_SUFFIXES)))]}"
        if name in names:
            continue
        names.add(name)
        t = _ticker(name, tickers)
        tickers.add(t)
        out.append(Company(len(out) + 1, name, t, sectors[int(rng.integers(len(sectors)))],
                           f"{fake.city()}, {fake.state_abbr()}", int(rng.integers(1950, 2016)),
                           round(float(rng.uniform(40, 900)), 1)))
    return out


def generate_corpus(n_companies: int = 20, n_quarters: int = 8, *, start_year: int = 2023, seed: int = 0,
                    trading_days: bool = True) -> Corpus:
    """Generate companies, statements, prices and quarterly filings, all from ``seed``.

    Args:
        n_companies: number of fictional companies (Faker surnames + a suffix; tickers unique).
        n_quarters: consecutive calendar quarters starting at Q1 of ``start_year``.
        start_year: first fiscal year.
        seed: the one seed everything is drawn from.
        trading_days: generate daily prices on business days (``False``: no prices, faster).

    Returns:
        A :class:`Corpus` whose statements satisfy :func:`check_identities` and whose ``documents`` are the
        ``n_companies * n_quarters`` quarterly filings (kind ``"10-Q"``).
    """
    n_companies = positive_int("n_companies", n_companies)
    n_quarters = positive_int("n_quarters", n_quarters)
    if isinstance(start_year, bool) or not isinstance(start_year, int) or not 1900 <= start_year <= 2200:
        raise ValueError(f"start_year must be an int year in [1900, 2200], got {start_year!r}")
    seed = nonnegative_int("seed", seed)
    companies = _companies(n_companies, seed)
    periods = []
    for i in range(n_quarters):
        y, q = start_year + i // 4, i % 4 + 1
        s, e = _quarter_dates(y, q)
        periods.append(Period(i + 1, y, q, s.isoformat(), e.isoformat()))
    rng = np.random.default_rng([seed, 2])
    income, balance, prices = [], [], []
    for c in companies:
        med, gm, opx = SECTORS[c.sector]
        rev = med * float(np.exp(rng.normal(0, 0.6)))
        growth = rng.normal(0.02, 0.03)
        gm_c = float(np.clip(gm + rng.normal(0, 0.05), 0.1, 0.9))
        opx_c = float(np.clip(opx + rng.normal(0, 0.05), 0.05, 0.85))
        assets = rev * float(rng.uniform(2.5, 6.0))
        equity = int(round(assets * float(rng.uniform(0.3, 0.6))))
        price = float(rng.uniform(15, 400))
        for p in periods:
            rev *= float(np.exp(growth + rng.normal(0, 0.04) + (0.03 if p.quarter == 4 else 0.0)))
            revenue = max(int(round(rev)), 10)
            cost = int(round(revenue * (1 - np.clip(gm_c + rng.normal(0, 0.015), 0.05, 0.95))))
            gross = revenue - cost
            opex = int(round(revenue * np.clip(opx_c + rng.normal(0, 0.015), 0.02, 0.95)))
            op_inc = gross - opex
            interest = int(round(assets * float(rng.uniform(0.002, 0.006))))
            pretax = op_inc - interest
            tax = int(round(0.21 * pretax)) if pretax > 0 else 0
            net = pretax - tax
            dividends = int(round(0.3 * net)) if net > 0 and rng.random() < 0.5 else 0
            equity = equity + net - dividends
            assets = max(assets * float(np.exp(rng.normal(0.015, 0.02))), equity * 1.2 + 1)
            total_assets = int(round(assets))
            liabilities = total_assets - equity
            cash = int(round(total_assets * float(rng.uniform(0.05, 0.2))))
            income.append(IncomeStatement(c.company_id, p.period_id, revenue, cost, gross, opex, op_inc,
                                          interest, tax, net))
            balance.append(BalanceSheet(c.company_id, p.period_id, cash, total_assets, liabilities, equity,
                                        dividends))
            if trading_days:
                days = np.busday_count(p.start_date, np.datetime64(p.end_date) + 1)
                dates = np.busday_offset(p.start_date, np.arange(days), roll="forward")
                drift = float(growth) / days
                r = rng.normal(drift, 0.02, size=days)
                path = price * np.exp(np.cumsum(r))
                vol = rng.lognormal(np.log(c.shares_outstanding * 1e6 * 0.004), 0.3, size=days)
                prices.extend(Price(c.company_id, str(d), round(float(x), 2), int(v))
                              for d, x, v in zip(dates, path, vol))
                price = float(path[-1])
    corpus = Corpus(seed, companies, periods, income, balance, prices, [])
    from .filings import quarterly_filing
    frng = np.random.default_rng([seed, 3])
    corpus.documents = [quarterly_filing(corpus, c.company_id, p.label, rng=frng)
                        for c in companies for p in periods]
    return corpus


def check_identities(corpus: Corpus) -> List[str]:
    """Every violated accounting identity in ``corpus``, as messages (an empty list when all hold)."""
    bad = []
    prev_equity: Dict[int, int] = {}
    for s in corpus.income:
        if s.gross_profit != s.revenue - s.cost_of_revenue:
            bad.append(f"gross profit != revenue - cost of revenue for {s.company_id}/{s.period_id}")
        if s.operating_income != s.revenue - s.cost_of_revenue - s.operating_expenses:
            bad.append(f"operating income != revenue - costs for {s.company_id}/{s.period_id}")
        if s.net_income != s.operating_income - s.interest_expense - s.income_tax:
            bad.append(f"net income != operating income - interest - tax for {s.company_id}/{s.period_id}")
    inc = {(s.company_id, s.period_id): s for s in corpus.income}
    for b in sorted(corpus.balance, key=lambda b: (b.company_id, b.period_id)):
        if b.total_assets != b.total_liabilities + b.total_equity:
            bad.append(f"assets != liabilities + equity for {b.company_id}/{b.period_id}")
        if b.company_id in prev_equity:
            want = prev_equity[b.company_id] + inc[b.company_id, b.period_id].net_income - b.dividends
            if b.total_equity != want:
                bad.append(f"equity roll-forward broken for {b.company_id}/{b.period_id}")
        prev_equity[b.company_id] = b.total_equity
    return bad


def as_dict(obj) -> dict:
    """A dataclass record as a plain dict (for tables and JSON)."""
    return dataclasses.asdict(obj)
