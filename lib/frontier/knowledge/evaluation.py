"""Grading answers, hallucination rate, attribution, and the statistics to compare two systems honestly.

* Each answer is ``"correct"``, ``"incorrect"`` or ``"abstained"`` (:func:`grade`).
* Hallucination rate = incorrect / (correct + incorrect): the share of *attempted* answers that are wrong.
  Abstention is reported separately, so a model cannot lower it just by answering less without it showing.
* Attribution: an answer is attributed when its number appears in one of the chunks it was given.
* Wilson score interval for a proportion; McNemar's exact test (a two-sided binomial test on the discordant
  pairs) for two systems answering the same questions.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..validation import nonnegative_int

__all__ = ["OUTCOMES", "grade", "Rates", "rates", "attributed", "wilson_interval", "mcnemar_exact",
           "paired_table"]

#: The three outcomes of an answer.
OUTCOMES = ("correct", "incorrect", "abstained")


def grade(value: Optional[int], abstained: bool, answer: int) -> str:
    """``"abstained"`` if the model abstained, else ``"correct"`` when ``value == answer``, else ``"incorrect"``
    (a malformed answer, ``value=None`` without abstaining, is incorrect)."""
    if abstained:
        return "abstained"
    return "correct" if value is not None and int(value) == int(answer) else "incorrect"


@dataclass(frozen=True)
class Rates:
    """Counts and rates over a set of graded answers; each rate with its 95% Wilson interval."""
    n: int
    correct: int
    incorrect: int
    abstained: int

    @property
    def attempted(self) -> int:
        return self.correct + self.incorrect

    @property
    def accuracy(self) -> float:
        """correct / n (abstentions count as not correct)."""
        return self.correct / self.n if self.n else float("nan")

    @property
    def hallucination_rate(self) -> float:
        """incorrect / attempted (NaN when nothing was attempted)."""
        return self.incorrect / self.attempted if self.attempted else float("nan")

    @property
    def abstention_rate(self) -> float:
        return self.abstained / self.n if self.n else float("nan")

    def interval(self, which: str) -> Tuple[float, float]:
        """95% Wilson interval of ``"accuracy"``, ``"hallucination_rate"`` or ``"abstention_rate"``."""
        k, n = {"accuracy": (self.correct, self.n), "hallucination_rate": (self.incorrect, self.attempted),
                "abstention_rate": (self.abstained, self.n)}[which]
        return wilson_interval(k, n) if n else (float("nan"), float("nan"))

    def as_dict(self) -> Dict[str, object]:
        return {"n": self.n, "accuracy": self.accuracy, "accuracy_ci": self.interval("accuracy"),
                "hallucination_rate": self.hallucination_rate,
                "hallucination_ci": self.interval("hallucination_rate"),
                "abstention_rate": self.abstention_rate, "abstention_ci": self.interval("abstention_rate")}


def rates(outcomes: Sequence[str]) -> Rates:
    """Count ``outcomes`` (each one of :data:`OUTCOMES`) into :class:`Rates`."""
    c = Counter(outcomes)
    bad = set(c) - set(OUTCOMES)
    if bad:
        raise ValueError(f"outcomes must be among {OUTCOMES}, got {sorted(bad)}")
    return Rates(len(outcomes), c["correct"], c["incorrect"], c["abstained"])


def attributed(value: Optional[int], chunks: Sequence[str]) -> bool:
    """Whether the number ``value`` is written in one of ``chunks`` (False for no number)."""
    from ..data import parse_numbers
    if value is None:
        return False
    return any(int(value) in parse_numbers(c) for c in chunks)


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> Tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927), two-sided level ``1 − alpha``.

    centre = (p̂ + z²/2n) / (1 + z²/n), half-width = z √(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n).
    """
    successes, n = nonnegative_int("successes", successes), nonnegative_int("n", n)
    if n == 0:
        raise ValueError("n must be positive")
    if successes > n:
        raise ValueError(f"successes must be <= n, got {successes} > {n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    from scipy.stats import norm
    z = float(norm.ppf(1 - alpha / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_table(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> np.ndarray:
    """2×2 table of two systems on the same items: ``[[both, a only], [b only, neither]]``."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a_correct and b_correct must be 1-D of one length, got {a.shape} and {b.shape}")
    return np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` (A right, B wrong) and ``c`` (A wrong,
    B right): 2 · P(Binomial(b + c, 1/2) <= min(b, c)), capped at 1; 1 when there are no discordant pairs."""
    b, c = nonnegative_int("b", b), nonnegative_int("c", c)
    n = b + c
    if n == 0:
        return 1.0
    from scipy.stats import binom
    return float(min(1.0, 2 * binom.cdf(min(b, c), n, 0.5)))
