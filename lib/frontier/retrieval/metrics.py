"""Retrieval metrics over ranked lists: recall@k, hit rate@k and mean reciprocal rank (MRR).

``ranked``: one list of retrieved ids per query, best first.  ``relevant``: one collection of relevant ids per
query.  A query may have no relevant id (chunking cut the answer's sentence, so no chunk holds it): it counts as
a miss (recall 0, reciprocal rank 0), so these metrics also charge the chunking for what it lost.
"""
from __future__ import annotations

from typing import Collection, Sequence

import numpy as np

from ..validation import positive_int

__all__ = ["recall_at_k", "hit_rate_at_k", "mrr", "recall_curve"]


def _check(ranked, relevant) -> None:
    if len(ranked) != len(relevant):
        raise ValueError(f"ranked and relevant must have one entry per query, got {len(ranked)} and {len(relevant)}")
    if len(ranked) == 0:
        raise ValueError("need at least one query")


def recall_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int]], k: int) -> float:
    """Mean over queries of |top-k ∩ relevant| / |relevant|, in [0, 1]; non-decreasing in ``k``."""
    k = positive_int("k", k)
    _check(ranked, relevant)
    return float(np.mean([len(set(list(r)[:k]) & set(rel)) / len(set(rel)) if len(rel) else 0.0
                          for r, rel in zip(ranked, relevant)]))


def hit_rate_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int]], k: int) -> float:
    """Share of queries with at least one relevant id in the top ``k``."""
    k = positive_int("k", k)
    _check(ranked, relevant)
    return float(np.mean([bool(set(list(r)[:k]) & set(rel)) for r, rel in zip(ranked, relevant)]))


def mrr(ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int]]) -> float:
    """Mean over queries of 1 / (rank of the first relevant id, from 1); 0 for a query whose list has none."""
    _check(ranked, relevant)
    out = []
    for r, rel in zip(ranked, relevant):
        rel = set(rel)
        out.append(next((1.0 / (i + 1) for i, x in enumerate(r) if x in rel), 0.0))
    return float(np.mean(out))


def recall_curve(ranked, relevant, ks: Sequence[int]) -> np.ndarray:
    """recall@k for each k in ``ks``, shape ``(len(ks),)``."""
    return np.array([recall_at_k(ranked, relevant, k) for k in ks])
