"""Question-answer sets over the synthetic corpus, with exact answers and a training frequency per fact.

:func:`build_qa` splits the corpus's facts (company, metric, period) into

* ``"seen"``: the model is trained on the fact's answer, ``frequency`` times per training round, the frequency
  drawn from a long-tailed set of levels (default 1, 2, 4, 8), so that some facts are common and most are rare;
* ``"abstain"``: never trained on its answer; the model is taught to answer ``unknown`` for it;
* ``"unseen"``: never trained on at all (neither the answer nor ``unknown``): the held-out test of whether the
  model abstains on facts it does not know, or makes something up.

Because the companies are fictional, a correct closed-book answer on an ``"unseen"`` fact can only be a guess.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..validation import fraction, nonnegative_int

__all__ = ["QAItem", "QA_METRICS", "SPLITS", "build_qa", "question_text", "split_counts", "stratified_sample"]

#: The metrics questions ask about by default.
QA_METRICS = ("revenue", "operating income", "net income", "total assets")
#: The three kinds of fact (see the module docstring).
SPLITS = ("seen", "abstain", "unseen")


@dataclass(frozen=True)
class QAItem:
    """One question with its exact answer ($ millions) and how the model's training treated the fact."""
    key: Tuple[str, str, str]          # (ticker, metric, period)
    company: str
    ticker: str
    metric: str
    period: str
    answer: int
    split: str                         # "seen", "abstain" or "unseen"
    frequency: int                     # times per training round (0 unless seen)
    doc_id: str                        # the filing that states it
    spans: Tuple[Tuple[int, int], ...]  # where in that filing

    @property
    def question(self) -> str:
        return question_text(self.company, self.metric, self.period)


def question_text(company: str, metric: str, period: str) -> str:
    """The natural-language question for a fact, e.g. ``"What was Acme Labs' revenue in Q3 2024?"``."""
    whos = company + ("'" if company.endswith("s") else "'s")
    return f"What was {whos} {metric} in {period}?"


def build_qa(corpus, *, metrics: Sequence[str] = QA_METRICS, unseen_fraction: float = 0.3,
             abstain_fraction: float = 0.15, frequencies: Sequence[int] = (1, 2, 4, 8),
             frequency_weights: Optional[Sequence[float]] = None, seed: int = 0) -> List[QAItem]:
    """Every fact of ``corpus`` for ``metrics`` as a :class:`QAItem`, split into seen / abstain / unseen.

    Args:
        corpus: a :class:`frontier.data.Corpus`.
        metrics: metric names (keys of :data:`frontier.data.METRICS`).
        unseen_fraction: share of facts held out entirely (never trained on).
        abstain_fraction: share trained to answer ``unknown``.
        frequencies: the training frequencies a seen fact can have.
        frequency_weights: probabilities of those frequencies (default ∝ 1 / frequency, a long tail: most
            seen facts are rare).
        seed: seeds the split.
    """
    unseen_fraction = fraction("unseen_fraction", unseen_fraction)
    abstain_fraction = fraction("abstain_fraction", abstain_fraction)
    if unseen_fraction + abstain_fraction >= 1:
        raise ValueError(f"unseen_fraction + abstain_fraction must be < 1, got {unseen_fraction + abstain_fraction}")
    seed = nonnegative_int("seed", seed)
    freqs = np.array([int(f) for f in frequencies])
    if len(freqs) == 0 or (freqs <= 0).any():
        raise ValueError(f"frequencies must be positive integers, got {list(frequencies)}")
    w = 1.0 / freqs if frequency_weights is None else np.asarray(frequency_weights, dtype=float)
    if w.shape != freqs.shape or (w < 0).any() or w.sum() <= 0:
        raise ValueError("frequency_weights must be non-negative, one per frequency, not all zero")
    w = w / w.sum()
    facts = corpus.facts(list(metrics))
    if not facts:
        raise ValueError("the corpus has no facts")
    docs = {(d.company_id, d.period): d for d in corpus.documents if d.kind == "10-Q"}
    rng = np.random.default_rng([seed, 11])
    u = rng.random(len(facts))
    out = []
    for f, x in zip(facts, u):
        split = "unseen" if x < unseen_fraction else "abstain" if x < unseen_fraction + abstain_fraction else "seen"
        freq = int(rng.choice(freqs, p=w)) if split == "seen" else 0
        d = docs[f.company_id, f.period]
        out.append(QAItem(f.key, f.company, f.ticker, f.metric, f.period, f.value, split, freq, d.doc_id,
                          tuple(d.fact_spans[f.key])))
    return out


def split_counts(items: Sequence[QAItem]) -> Dict[str, int]:
    """How many items each split has, and each training frequency among the seen ones."""
    c = Counter(i.split for i in items)
    out = {s: c.get(s, 0) for s in SPLITS}
    for f, n in sorted(Counter(i.frequency for i in items if i.split == "seen").items()):
        out[f"seen x{f}"] = n
    return out


def stratified_sample(items: Sequence[QAItem], per_stratum: int, *, seed: int = 0) -> List[QAItem]:
    """Up to ``per_stratum`` items from each stratum (seen at each frequency, abstain, unseen), in a fixed order.

    Stratifying by how often a fact was seen keeps the rare facts, where hallucination lives, from being swamped
    by common ones (or the reverse) when the question set is small.
    """
    nonnegative_int("per_stratum", per_stratum)
    rng = np.random.default_rng([nonnegative_int("seed", seed), 12])
    strata: Dict[Tuple[str, int], List[QAItem]] = {}
    for it in items:
        strata.setdefault((it.split, it.frequency), []).append(it)
    out = []
    for key in sorted(strata):
        group = strata[key]
        take = rng.permutation(len(group))[:per_stratum]
        out += [group[int(i)] for i in sorted(take)]
    return out
