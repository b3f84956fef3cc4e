"""Sweeps of test-time strategies and their summaries (accuracy with confidence intervals, compute).

A *plan* is a list of ``(strategy name, keyword arguments)``; :func:`sweep`
runs each on every puzzle and returns one row per (plan entry, puzzle);
:func:`summarize` groups rows and gives accuracy, its 95% Wilson interval
and the mean compute per puzzle.  Rows are plain dicts, so a notebook can
print them or hand them to a figure builder.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from ..validation import positive_int
from .proposer import Proposer, as_rng
from .strategies import STRATEGIES, evaluate
from .theory import wilson_interval

__all__ = ["sweep", "summarize", "DIFFICULTY_ORDER"]

DIFFICULTY_ORDER = ("hard", "medium", "easy", "very easy")


def sweep(proposer: Proposer, puzzles: Sequence[Sequence[int]], plan: Sequence[Tuple[str, Dict]], *, seed: int = 0,
          flops_per_token: Optional[float] = None, label: Optional[str] = None, progress: bool = False
          ) -> List[Dict[str, object]]:
    """Run every ``(strategy, kwargs)`` of ``plan`` on every puzzle.

    Each row is :meth:`~frontier.reasoning.strategies.Outcome.row` plus
    ``knob``, ``knob_value``, ``difficulty``, ``solve_rate``, ``proposer``
    (``label`` if given) and, with ``flops_per_token``, ``flops`` (proposer
    FLOPs = tokens x FLOPs per token).  One generator seeded by ``seed``
    drives the whole sweep.
    """
    if not puzzles:
        raise ValueError("puzzles must not be empty")
    rng = as_rng(seed)
    rows: List[Dict[str, object]] = []
    it = plan
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(plan, desc="strategies")
    for name, kwargs in it:
        if name not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {name!r}")
        sub = evaluate(name, proposer, puzzles, seed=int(rng.integers(2**31 - 1)), **kwargs)
        for r in sub:
            if label is not None:
                r["proposer"] = label
            if flops_per_token is not None:
                r["flops"] = r["tokens"] * float(flops_per_token)
        rows.extend(sub)
    return rows


def summarize(rows: Sequence[Dict[str, object]], by: Sequence[str] = ("strategy", "knob_value")
              ) -> List[Dict[str, object]]:
    """Group ``rows`` by the keys ``by``; per group: ``n``, ``accuracy``, ``lo``/``hi`` (95% Wilson),
    ``answered`` (share with an answer), ``wrong`` (share answered wrongly), ``tokens`` (mean per puzzle),
    ``verifier_calls`` (mean) and ``flops`` (mean, when the rows have it).  Groups keep first-seen order."""
    groups: Dict[Tuple, List[Dict[str, object]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in by)].append(r)
    out = []
    for key, rs in groups.items():
        n = positive_int("group size", len(rs))
        k = sum(bool(r["correct"]) for r in rs)
        lo, hi = wilson_interval(k, n)
        d = dict(zip(by, key))
        answered = sum(r["answer"] is not None for r in rs) / n
        d.update(n=n, accuracy=k / n, lo=lo, hi=hi, answered=answered, wrong=answered - k / n,
                 tokens=sum(r["tokens"] for r in rs) / n,
                 verifier_calls=sum(r["verifier_calls"] for r in rs) / n)
        if all("flops" in r for r in rs):
            d["flops"] = sum(r["flops"] for r in rs) / n
        out.append(d)
    return out


