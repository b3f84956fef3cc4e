"""Scalable oversight by debate, as a simulation with explicit rules: a weak judge, two answerers who see evidence.

The task: the evidence is a hidden string of ``n_bits`` bits; the question is "are most bits 1?". Two debaters
see the evidence; one defends the true answer, the other the false one. The judge never sees the evidence.

* Without a transcript the judge has only its prior: it guesses right with probability ``0.5``.
* In a **debate**, each side quotes ``quotes`` positions of the evidence with values that support its answer. The
  honest side quotes true bits. The liar quotes true bits of the minority value while there are enough of them,
  then has to fabricate. The honest side points at every fabricated quote, and the judge checks each disputed quote
  against the evidence with probability ``strength`` (a stronger judge checks more). A caught lie loses the debate;
  otherwise the judge, seeing two equally long lists of undisputed-looking quotes, guesses.

Nothing here is calibrated to real debates; the point is the mechanism (lies must be specific, so a weak verifier
suffices to catch them) and how judge accuracy grows with judge strength. Khan et al. (ICML 2024) measured the real
thing: LLM judges 76% with debate against 48% without, human judges 88% against 60%.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from ..validation import fraction, positive_int, rng as make_rng

__all__ = ["KHAN_2024", "debate_accuracy", "accuracy_by_strength"]

#: Khan et al. 2024 (ICML), "Debating with More Persuasive LLMs Leads to More Truthful Answers": judge accuracy.
KHAN_2024 = {"llm_judge": {"debate": 0.76, "baseline": 0.48}, "human_judge": {"debate": 0.88, "baseline": 0.60}}


def debate_accuracy(strength: float, *, n_bits: int = 15, quotes: int = 4, n: int = 4000, seed=None) -> Dict[str, float]:
    """Judge accuracy without a transcript and with a debate, over ``n`` random evidence strings (Monte Carlo).

    Returns ``{"no_transcript", "debate", "liar_fabricates"}``: the last is how often the liar had to invent a quote
    (the only way it can be caught).
    """
    s = fraction("strength", strength)
    n_bits, quotes, n = positive_int("n_bits", n_bits), positive_int("quotes", quotes), positive_int("n", n)
    if n_bits % 2 == 0:
        raise ValueError(f"n_bits must be odd so that a majority always exists, got {n_bits}")
    if quotes > n_bits // 2 + 1:
        raise ValueError(f"quotes must be at most the majority size {n_bits // 2 + 1}, got {quotes}")
    g = make_rng(seed)
    ones = g.binomial(n_bits, g.random(n))                    # evidence strings of varied balance
    minority = np.minimum(ones, n_bits - ones)
    fabricated = np.maximum(quotes - minority, 0)             # quotes the liar must invent
    caught = g.random(n) < 1.0 - (1.0 - s) ** fabricated      # each disputed quote checked with probability s
    guess = g.random(n) < 0.5
    return {"no_transcript": float(np.mean(g.random(n) < 0.5)), "debate": float(np.mean(caught | guess)),
            "liar_fabricates": float(np.mean(fabricated > 0))}


def accuracy_by_strength(strengths: Sequence[float], **kwargs) -> Dict[str, np.ndarray]:
    """:func:`debate_accuracy` over judge strengths: ``{"strength", "no_transcript", "debate"}`` arrays."""
    seed = kwargs.pop("seed", None)
    g = make_rng(seed)
    rows = [debate_accuracy(float(s), seed=g, **kwargs) for s in strengths]
    return {"strength": np.asarray(strengths, float), "no_transcript": np.array([r["no_transcript"] for r in rows]),
            "debate": np.array([r["debate"] for r in rows])}
