"""Closed forms for test-time strategies on a proposer with a known answer distribution.

These are what the simulations in :mod:`frontier.reasoning.strategies` must
reproduce (the tests check it), and what the lesson plots as "theory" beside
the measurements.

* :func:`pass_at_n`: ``1 - (1 - p)^N``, the accuracy of best-of-N with a
  perfect verifier; :func:`pass_at_k` is the unbiased estimator from ``n``
  samples with ``c`` correct (Chen et al. 2021).
* :func:`majority_vote_accuracy`: self-consistency over a categorical answer
  distribution, by exact enumeration of the multinomial counts.
* :func:`best_of_n_accuracy`: best-of-N with a verifier of known
  false-positive / false-negative rates, independent errors, and optionally
  over-confident false positives (exact, piecewise-polynomial integral).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..validation import fraction, nonnegative_float, nonnegative_int, positive_int

__all__ = ["pass_at_n", "pass_at_k", "majority_vote_accuracy", "best_of_n_accuracy", "wilson_interval"]


def pass_at_n(p: float, n: int) -> float:
    """Probability that at least one of ``n`` independent samples is correct, ``1 - (1 - p)^n``."""
    p = fraction("p", p)
    n = positive_int("n", n)
    return 1.0 - (1.0 - p) ** n


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: ``1 - C(n-c, k) / C(n, k)``."""
    n, c, k = positive_int("n", n), nonnegative_int("c", c), positive_int("k", k)
    if c > n or k > n:
        raise ValueError(f"need c <= n and k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _compositions(n: int, k: int):
    """All k-tuples of non-negative ints summing to n."""
    if k == 1:
        yield (n,)
        return
    for first in range(n + 1):
        for rest in _compositions(n - first, k - 1):
            yield (first,) + rest


def majority_vote_accuracy(probs: Sequence[float], correct: Sequence[bool], n: int) -> float:
    """Accuracy of a majority vote over ``n`` samples from a categorical answer distribution.

    Args:
        probs: ``(K,)`` probability of each answer; ``1 - sum(probs)`` is the
            chance that a sample gives no answer (it does not vote).
        correct: ``(K,)`` whether each answer is right.
        n: number of samples.

    Ties are broken uniformly at random among the most frequent answers;
    breaking them towards the answer that appeared first gives the same
    accuracy (given the counts, every order of the samples is equally
    likely).  No votes at all counts as wrong.  Exact enumeration of the
    ``C(n + K, K)`` count vectors, so keep ``K`` and ``n`` small.
    """
    p = np.asarray(probs, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    if p.ndim != 1 or p.size == 0 or ok.shape != p.shape:
        raise ValueError("probs and correct must be 1-D, non-empty and of equal length")
    if np.any(p < 0) or p.sum() > 1 + 1e-12:
        raise ValueError(f"probs must be >= 0 and sum to at most 1, got sum {p.sum():.6g}")
    n = positive_int("n", n)
    if math.comb(n + p.size, p.size) > 2_000_000:
        raise ValueError("too many count vectors to enumerate; use fewer answers or samples")
    full = np.append(p, max(0.0, 1.0 - p.sum()))
    logf = [math.lgamma(i + 1) for i in range(n + 1)]
    with np.errstate(divide="ignore"):
        logp = np.log(full)
    total = 0.0
    for counts in _compositions(n, full.size):
        c = np.array(counts[:-1])
        m = c.max()
        if m == 0:
            continue
        tied = c == m
        lp = logf[n] - sum(logf[x] for x in counts) + sum(x * logp[i] for i, x in enumerate(counts) if x)
        total += math.exp(lp) * ok[tied].sum() / tied.sum()
    return float(total)


def best_of_n_accuracy(p: float, n: int, false_positive: float = 0.0, false_negative: float = 0.0,
                       overconfidence: float = 0.0) -> float:
    """Accuracy of best-of-N (pick the highest verifier score) with a noisy verifier.

    Each of ``n`` independent samples is correct with probability ``p``.  The
    verifier (as :class:`frontier.reasoning.verifiers.NoisyOutcomeVerifier`
    with ``consistent=False``) accepts a correct sample with probability
    ``1 - false_negative`` (score uniform on [1, 2)), a wrong one with
    probability ``false_positive`` (score uniform on
    [1 + overconfidence, 2 + overconfidence)), and gives rejected samples a
    score uniform on [0, 1).  The answer is correct when the top-scoring
    sample is.  ``P = n * integral f_correct(s) F(s)^(n-1) ds`` with ``F``
    piecewise linear, integrated exactly.

    With a perfect verifier this is :func:`pass_at_n`; with
    ``overconfidence = 0`` it is
    ``(1 - q^n) * a + q^n * r`` where ``q`` is the rejection probability,
    ``a = P(correct | accepted)`` and ``r = P(correct | rejected)``.
    """
    p = fraction("p", p)
    n = positive_int("n", n)
    fp, fn = fraction("false_positive", false_positive), fraction("false_negative", false_negative)
    h = nonnegative_float("overconfidence", overconfidence)
    # (weight, start) of the four uniform-on-[start, start+1) score components
    comps = [(p * (1 - fn), 1.0, True), (p * fn, 0.0, True), ((1 - p) * fp, 1.0 + h, False),
             ((1 - p) * (1 - fp), 0.0, False)]
    cuts = sorted({0.0, 1.0, 2.0, 1.0 + h, 2.0 + h})

    def cdf(s: float) -> float:
        return sum(w * min(1.0, max(0.0, s - a)) for w, a, _ in comps)

    total = 0.0
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        if hi <= lo:
            continue
        dens = sum(w for w, a, good in comps if good and a <= lo and hi <= a + 1)
        if dens == 0:
            continue
        f_lo, f_hi = cdf(lo), cdf(hi)
        slope = (f_hi - f_lo) / (hi - lo)
        if slope <= 0:
            total += dens * n * f_lo ** (n - 1) * (hi - lo)
        else:
            total += dens * (f_hi ** n - f_lo ** n) / slope
    return float(min(1.0, max(0.0, total)))


def wilson_interval(k: int, n: int, z: float = 1.96):
    """Wilson score interval for ``k`` successes out of ``n`` (95% by default): ``(low, high)``."""
    n = positive_int("n", n)
    k = nonnegative_int("k", k)
    if k > n:
        raise ValueError(f"k must be <= n, got k={k}, n={n}")
    ph = k / n
    den = 1 + z * z / n
    centre = (ph + z * z / (2 * n)) / den
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)
