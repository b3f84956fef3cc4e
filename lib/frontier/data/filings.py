"""Filings written from templates with paraphrase variety: quarterly reports and long annual reports.

Each fact sentence names the company (by name or ticker), the period, the metric (one of several synonyms) and the
value, framed by one of several sentence patterns and number formats, so that retrieval cannot rely on one exact
phrasing.  Every :class:`~frontier.data.corpus.Document` records the character span of each fact sentence
(``fact_spans``), which is how retrieval is scored: a chunk is relevant to a question when it contains the sentence
that states the asked fact.

:func:`long_filing` writes an annual report of a target length in tokens (finance's Exercise 2 uses an
80,000-token one), counting with any ``count_tokens`` function, such as the course BPE tokenizer's ``count``.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..validation import positive_int

__all__ = ["SYNONYMS", "FRAMES", "format_money", "parse_numbers", "fact_sentence", "quarterly_filing",
           "long_filing", "word_count"]

#: Ways a filing names each metric.
SYNONYMS: Dict[str, Tuple[str, ...]] = {
    "revenue": ("revenue", "total revenue", "net sales"),
    "cost of revenue": ("cost of revenue", "cost of sales"),
    "gross profit": ("gross profit", "gross margin in dollars"),
    "operating expenses": ("operating expenses", "total operating costs"),
    "operating income": ("operating income", "income from operations", "operating profit"),
    "net income": ("net income", "net earnings", "profit after tax"),
    "total assets": ("total assets",),
    "total liabilities": ("total liabilities",),
    "total equity": ("total equity", "shareholders' equity"),
    "cash": ("cash and cash equivalents", "cash on hand"),
}

#: Sentence frames: ``{who}`` company name or ticker, ``{m}`` metric synonym, ``{v}`` value, ``{p}`` period.
FRAMES: Tuple[str, ...] = (
    "{who} reported {m} of {v} for {p}.",
    "In {p}, {whos} {m} was {v}.",
    "{M} at {who} came to {v} in {p}.",
    "For {p}, {who} recorded {m} of {v}.",
    "{whos} {m} for {p} amounted to {v}.",
    "During {p} the {m} of {who} totalled {v}.",
)

_FILLER = {
    "Overview": (
        "{name} is a {sector} company headquartered in {hq}, founded in {founded}.",
        "The company serves customers in more than {n} countries through direct and partner channels.",
        "{name} trades under the ticker {ticker}.",
        "Management describes the quarter as one of {tone} demand across the {sector} market.",
    ),
    "Outlook": (
        "Management expects {tone} conditions in the coming quarters.",
        "The company continues to invest in {area} and in its {area2} capabilities.",
        "Guidance is subject to the risks described in the company's annual report.",
        "{name} plans to expand its presence in {region}.",
    ),
    "Risk factors": (
        "Changes in {area} regulation could increase the company's costs.",
        "Competition in the {sector} market may reduce prices and margins.",
        "A disruption at a key supplier in {region} could delay deliveries.",
        "Currency movements may affect reported results from operations in {region}.",
        "Cyber attacks on the company's {area2} systems could interrupt operations.",
        "The loss of key personnel in {area} could slow product development.",
        "Higher interest rates may raise the cost of refinancing the company's debt.",
        "Litigation related to {area} could result in material losses.",
    ),
}
_WORDS = {
    "tone": ("steady", "strong", "mixed", "softer", "resilient", "uneven"),
    "area": ("data privacy", "manufacturing", "cloud services", "logistics", "research", "payments", "energy use"),
    "area2": ("supply chain", "analytics", "customer support", "software", "distribution", "security"),
    "region": ("Europe", "Southeast Asia", "Latin America", "North America", "the Middle East", "Japan"),
}


def word_count(text: str) -> int:
    """A plain token count: words and punctuation marks (``\\w+|[^\\w\\s]``)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def format_money(value: int, style: int = 0) -> str:
    """A $-million figure as text in one of three styles: ``$4,821 million``, ``4,821 million dollars``,
    ``US$4,821 million``; negatives get a leading minus sign."""
    sign = "-" if value < 0 else ""
    body = f"{abs(int(value)):,}"
    return [f"{sign}${body} million", f"{sign}{body} million dollars", f"{sign}US${body} million"][style % 3]


_NUM = re.compile(r"-?\$?(?:US\$)?\d[\d,]*")


def parse_numbers(text: str) -> List[int]:
    """Every integer written in ``text`` (commas and dollar signs removed; ``-`` kept as a sign)."""
    out = []
    for m in _NUM.finditer(text):
        s = m.group(0).replace("US$", "").replace("$", "").replace(",", "")
        try:
            out.append(int(s))
        except ValueError:
            pass
    return out


def fact_sentence(name: str, ticker: str, metric: str, period: str, value: int,
                  rng: np.random.Generator) -> str:
    """One sentence stating a fact, with a random frame, synonym, company reference and number format."""
    frame = FRAMES[int(rng.integers(len(FRAMES)))]
    m = SYNONYMS[metric][int(rng.integers(len(SYNONYMS[metric])))]
    who = name if rng.random() < 0.75 else ticker
    whos = who + ("'" if who.endswith("s") else "'s")
    s = frame.format(who=who, whos=whos, m=m, M=m[0].upper() + m[1:], v=format_money(value, int(rng.integers(3))), p=period)
    return s[0].upper() + s[1:]


def _fill(template: str, company, rng: np.random.Generator) -> str:
    vals = {k: v[int(rng.integers(len(v)))] for k, v in _WORDS.items()}
    return template.format(name=company.name, ticker=company.ticker, sector=company.sector,
                           hq=company.headquarters, founded=company.founded, n=int(rng.integers(5, 60)), **vals)


class _Writer:
    """Builds a document's text section by section, keeping the spans of fact sentences."""

    def __init__(self):
        self.parts: List[str] = []
        self.length = 0
        self.sections: List[Tuple[str, int, int]] = []
        self.spans: Dict[Tuple[str, str, str], List[Tuple[int, int]]] = {}
        self._open: Optional[Tuple[str, int]] = None

    def _add(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def section(self, heading: str) -> None:
        self.close()
        if self.length:
            self._add("\n\n")
        self._open = (heading, self.length)
        self._add(heading + "\n")

    def sentence(self, s: str, key=None) -> None:
        if not self.parts[-1].endswith("\n"):
            self._add(" ")
        start = self.length
        self._add(s)
        if key is not None:
            self.spans.setdefault(key, []).append((start, self.length))

    def close(self) -> None:
        if self._open is not None:
            self.sections.append((self._open[0], self._open[1], self.length))
            self._open = None

    def text(self) -> str:
        self.close()
        return "".join(self.parts)


def _statement_sentences(corpus, company, period: str, rng: np.random.Generator, w: _Writer,
                         statements: Sequence[str]) -> None:
    facts = corpus.facts_of(company.company_id, period)
    from .corpus import METRICS
    for kind in statements:
        chosen = [f for f in facts if METRICS[f.metric][0] == kind]
        for i in rng.permutation(len(chosen)):
            f = chosen[int(i)]
            w.sentence(fact_sentence(company.name, company.ticker, f.metric, f.period, f.value, rng), f.key)


def quarterly_filing(corpus, company_id: int, period: str, *, rng: np.random.Generator):
    """The quarterly report (kind ``"10-Q"``) of one company for one period label, with its fact spans.

    Sections: Overview, Results of operations (the income statement's facts), Financial position (the balance
    sheet's), Outlook.  Sentence order, frames, synonyms and number formats are drawn from ``rng``.
    """
    from .corpus import Document
    c = corpus.company(company_id)
    w = _Writer()
    w.section("Overview")
    for t in rng.permutation(len(_FILLER["Overview"]))[:3]:
        w.sentence(_fill(_FILLER["Overview"][int(t)], c, rng))
    w.section("Results of operations")
    _statement_sentences(corpus, c, period, rng, w, ["income"])
    w.section("Financial position")
    _statement_sentences(corpus, c, period, rng, w, ["balance"])
    w.section("Outlook")
    for t in rng.permutation(len(_FILLER["Outlook"]))[:2]:
        w.sentence(_fill(_FILLER["Outlook"][int(t)], c, rng))
    text = w.text()
    doc_id = f"{c.ticker}-{period.replace(' ', '-')}"
    return Document(doc_id, c.company_id, period, "10-Q", f"{c.name} ({c.ticker}) quarterly report, {period}",
                    text, w.sections, w.spans)


def long_filing(corpus, company, year: int, target_tokens: int, *,
                count_tokens: Optional[Callable[[str], int]] = None, seed: int = 0):
    """An annual report (kind ``"10-K"``) of about ``target_tokens`` tokens with every quarter's facts spread through it.

    Layout: Business, then for each quarter of ``year`` a "Management's discussion" section with that quarter's
    facts, with "Risk factors" and "Notes" filler paragraphs between them so the facts sit at the start, in the
    middle and near the end.  Filler sentences are added until ``count_tokens(text) >= target_tokens``; the result
    overshoots by at most one sentence (about 20 tokens).

    Args:
        corpus: a :class:`~frontier.data.corpus.Corpus`.
        company: a company id, ticker or name.
        year: a fiscal year with at least one quarter in the corpus.
        target_tokens: the length to reach, in ``count_tokens`` units.
        count_tokens: ``text -> int``; default :func:`word_count`.  Pass a tokenizer's ``count`` for real
            token counts (e.g. the course BPE tokenizer, whose counts then mean BPE tokens).
        seed: seeds the wording.

    Returns:
        A :class:`~frontier.data.corpus.Document` with ``fact_spans`` for every fact of the year.
    """
    target_tokens = positive_int("target_tokens", target_tokens)
    if count_tokens is None:
        count_tokens = word_count
    if not callable(count_tokens):
        raise TypeError(f"count_tokens must be callable text -> int, got {type(count_tokens).__name__}")
    c = corpus.company(company)
    periods = [p.label for p in corpus.periods if p.year == year]
    if not periods:
        raise ValueError(f"year must be a fiscal year in the corpus "
                         f"({sorted({p.year for p in corpus.periods})}), got {year!r}")
    rng = np.random.default_rng([seed, c.company_id, year])
    # Build the fixed part once to learn how much filler is needed, then the real document.
    skeleton = _annual(corpus, c, periods, [[] for _ in range(len(periods) + 1)], np.random.default_rng(0))
    base = count_tokens(skeleton.text)
    slots: List[List[str]] = [[] for _ in range(len(periods) + 1)]
    per = max(1, word_count(_fill(_FILLER["Risk factors"][0], c, rng)))
    need = max(0, target_tokens - base)
    n_sent = 0
    while need > 0:                                   # estimate with the plain count, then correct exactly
        s = _filler_sentence(c, rng)
        slots[n_sent % len(slots)].append(s)
        need -= count_tokens(s) + 1
        n_sent += 1
    doc = _annual(corpus, c, periods, slots, np.random.default_rng([seed, 7]))
    n = count_tokens(doc.text)
    while n < target_tokens:
        missing = target_tokens - n
        for _ in range(max(1, missing // (per + 2))):
            slots[int(rng.integers(len(slots)))].append(_filler_sentence(c, rng))
        doc = _annual(corpus, c, periods, slots, np.random.default_rng([seed, 7]))
        n = count_tokens(doc.text)
    while n > target_tokens + 40:                     # overshoot: drop filler from the back
        longest = max(range(len(slots)), key=lambda i: len(slots[i]))
        if not slots[longest]:
            break
        slots[longest].pop()
        doc = _annual(corpus, c, periods, slots, np.random.default_rng([seed, 7]))
        n = count_tokens(doc.text)
        if n < target_tokens:
            slots[longest].append(_filler_sentence(c, rng))
            doc = _annual(corpus, c, periods, slots, np.random.default_rng([seed, 7]))
            n = count_tokens(doc.text)
            break
    return doc


def _filler_sentence(company, rng: np.random.Generator) -> str:
    pool = _FILLER["Risk factors"] + _FILLER["Outlook"]
    return _fill(pool[int(rng.integers(len(pool)))], company, rng)


def _annual(corpus, c, periods: List[str], slots: List[List[str]], rng: np.random.Generator):
    from .corpus import Document
    w = _Writer()
    w.section("Business")
    for t in _FILLER["Overview"]:
        w.sentence(_fill(t, c, rng))
    for i, p in enumerate(periods):
        w.section("Risk factors" if i == 0 else f"Notes, part {i}")
        for s in slots[i]:
            w.sentence(s)
        w.section(f"Management's discussion of {p}")
        _statement_sentences(corpus, c, p, rng, w, ["income", "balance"])
    w.section("Outlook")
    for s in slots[-1]:
        w.sentence(s)
    w.sentence(_fill(_FILLER["Outlook"][0], c, rng))
    year = periods[0].split()[-1]
    return Document(f"{c.ticker}-10K-{year}", c.company_id, year, "10-K", f"{c.name} ({c.ticker}) annual report {year}",
                    w.text(), w.sections, w.spans)
