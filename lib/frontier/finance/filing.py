"""The long filing of Exercise 2 and the finance lessons, with its questions and its token count.

The filing comes from :func:`frontier.data.long_filing`; its length is counted with the course byte-pair tokenizer
(:meth:`frontier.models.Tokenizer.bpe`, 2,000 ids, trained on the corpus's quarterly filings), so "80,000 tokens"
means 80,000 tokens *of that tokenizer*, not of LLaMA's (a production tokenizer with a 32,000-token vocabulary
splits the same text into fewer pieces).

* :func:`course_bpe` the tokenizer; :func:`bpe_counter` an exact, memoised token counter for long texts
* :func:`ten_k_filing` the 10-K and the corpus it comes from
* :func:`fact_questions` one question per fact the filing states, with the span that answers it
* :func:`answer_positions` where in the filing each answer sits (for "lost in the middle")
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Dict, List, Tuple

from ..validation import nonnegative_int, positive_int

__all__ = ["course_bpe", "bpe_counter", "ten_k_filing", "fact_questions", "answer_positions"]


@lru_cache(maxsize=4)
def _corpus(seed: int):
    from ..data import generate_corpus
    return generate_corpus(12, 8, seed=seed)


@lru_cache(maxsize=4)
def course_bpe(seed: int = 0, vocab_size: int = 2000):
    """The course byte-pair tokenizer for the finance corpus: trained on the quarterly filings of seed ``seed``."""
    from ..models import Tokenizer
    return Tokenizer.bpe([d.text for d in _corpus(seed).documents], vocab_size=vocab_size)


def bpe_counter(tokenizer) -> Callable[[str], int]:
    """An exact, fast ``text -> token count`` for a byte-level BPE :class:`~frontier.models.Tokenizer`.

    Byte-level BPE (GPT-2's pre-tokenizer) never merges across pre-tokens, and a newline only ever sits in a
    whitespace pre-token.  So a text whose lines neither start nor end with whitespace counts as the sum of
    its lines' counts plus its newline runs' (a run of ``k`` newlines before more text is the two pre-tokens
    ``k - 1`` and ``1`` newlines; at the end of the text, one); likewise a line is the sum of its words, split
    where a single space sits between two non-spaces (that space always starts a pre-token).  Line and word
    counts are memoised, so recounting a long document that changed in a few places is cheap.  Any other text is counted directly with
    ``tokenizer.count``; tests check the two agree.
    """
    if getattr(tokenizer, "kind", None) != "bpe":
        raise TypeError("bpe_counter needs a byte-level BPE frontier.models.Tokenizer")
    memo: Dict[str, int] = {}

    def piece(t: str) -> int:
        c = memo.get(t)
        if c is None:
            c = tokenizer.count(t)
            memo[t] = c
        return c

    def line(t: str) -> int:
        c = memo.get(t)
        if c is None:                                   # a space between two non-spaces always starts a pre-token
            c = sum(piece(w) for w in _WORD_START.split(t))
            memo[t] = c
        return c

    def count(text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        parts = _NEWLINES.split(text)
        lines, runs = parts[0::2], parts[1::2]
        if any(ln != ln.strip() for ln in lines) or any(not ln for ln in lines[1:-1]):
            return tokenizer.count(text)
        n = sum(line(ln) for ln in lines if ln)
        for i, run in enumerate(runs):
            at_end = i == len(runs) - 1 and not lines[-1]
            if at_end or len(run) == 1:
                n += piece(run)
            else:
                n += piece(run[:-1]) + piece("\n")
        return n
    return count


_NEWLINES = re.compile(r"(\n+)")
_WORD_START = re.compile(r"(?<=\S)(?= \S)")


@lru_cache(maxsize=4)
def ten_k_filing(target_tokens: int = 80_000, seed: int = 0, company: int = 1, year: int = 2024):
    """``(document, corpus)``: a 10-K of ``target_tokens`` course-BPE tokens (see the module docstring).

    The document's ``fact_spans`` give, for every (ticker, metric, quarter) of ``year``, where it is stated.
    """
    from ..data import long_filing
    target_tokens = positive_int("target_tokens", target_tokens)
    corpus = _corpus(nonnegative_int("seed", seed))
    tok = course_bpe(seed)
    doc = long_filing(corpus, company, year, target_tokens, count_tokens=bpe_counter(tok), seed=seed)
    n = tok.count(doc.text)
    if n < target_tokens:                                  # the fast counter must agree with the tokenizer
        raise RuntimeError(f"the filing has {n} tokens, fewer than the {target_tokens} asked for")
    return doc, corpus



_QUESTION_FORMS = ("What was {company}'s {metric} in {period}?", "How much {metric} did {ticker} report for {period}?")


def fact_questions(doc, corpus) -> List[Tuple[str, Tuple[int, int]]]:
    """One question per fact stated in ``doc``: ``[(question, (start, end) of the sentence that answers it)]``."""
    out = []
    for i, ((ticker, metric, period), spans) in enumerate(sorted(doc.fact_spans.items())):
        c = corpus.company(ticker)
        q = _QUESTION_FORMS[i % len(_QUESTION_FORMS)].format(company=c.name, ticker=ticker, metric=metric,
                                                             period=period)
        out.append((q, tuple(spans[0])))
    return out


def answer_positions(doc) -> List[float]:
    """Where in the document each fact is stated, as a fraction of its length (0 = start)."""
    n = len(doc.text)
    return [spans[0][0] / n for _, spans in sorted(doc.fact_spans.items())]
