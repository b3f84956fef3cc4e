"""Synthetic token streams for tiny language models.

A *Markov source* is a first-order chain over a vocabulary: a ``(V, V)``
row-stochastic transition matrix.  A mixture of sources, each sequence drawn
from one of them, gives data with distinct "kinds" of text that experts can
specialise on, and a known best-possible loss (the entropy rate) to compare
against.  Token 0 is reserved as a beginning-of-sequence marker (``BOS``).

:class:`MarkovTask` and :class:`RecallTask` follow :class:`frontier.models.tasks.Task`
(``task.sample(batch, rng) -> Batch``); the functions :func:`sample_batch` and
:func:`recall_batch` they call remain for direct use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from ..validation import positive_float, positive_int
from .tasks import Batch, check_rng

__all__ = ["BOS", "MarkovMixture", "markov_mixture", "sample_batch", "entropy_rate", "MarkovTask", "RecallTask",
           "recall_batch"]

#: The beginning-of-sequence token every sampled sequence starts with.
BOS = 0


@dataclass(frozen=True)
class MarkovMixture:
    """``S`` first-order Markov sources over one vocabulary.

    Attributes:
        transitions: ``(S, V, V)``; ``transitions[s, a, b]`` = P(next = b | current = a) under source s.
        start: ``(S, V)`` distribution of the first token after ``BOS``.
        weights: ``(S,)`` probability of drawing each source.
    """

    transitions: np.ndarray
    start: np.ndarray
    weights: np.ndarray

    @property
    def vocab_size(self) -> int:
        return int(self.transitions.shape[-1])

    @property
    def n_sources(self) -> int:
        return int(self.transitions.shape[0])


def markov_mixture(n_sources: int = 4, vocab_size: int = 32, *, branching: int = 3, shared_vocab: bool = False,
                   concentration: float = 1.0, seed: int = 0) -> MarkovMixture:
    """Random sparse Markov sources (seeded).

    Each token has ``branching`` possible successors with Dirichlet
    (``concentration``) probabilities, so the data are learnable but not
    trivial.  With ``shared_vocab=False`` the non-BOS tokens are split into
    ``n_sources`` disjoint blocks, one per source (each source "speaks its own
    language"); otherwise all sources use the whole vocabulary.
    """
    S = positive_int("n_sources", n_sources)
    V = positive_int("vocab_size", vocab_size)
    b = positive_int("branching", branching)
    concentration = positive_float("concentration", concentration)
    rng = np.random.default_rng(seed)
    words = np.arange(1, V)
    blocks = [words] * S if shared_vocab else np.array_split(words, S)
    if min(len(bl) for bl in blocks) < b:
        raise ValueError(f"vocab_size={V} is too small for {S} sources with branching={b}")
    trans = np.zeros((S, V, V))
    start = np.zeros((S, V))
    for s, block in enumerate(blocks):
        for a in range(V):
            nxt = rng.choice(block, size=b, replace=False)
            trans[s, a, nxt] = rng.dirichlet(np.full(b, concentration))
        start[s, block] = 1.0 / len(block)
    weights = np.full(S, 1.0 / S)
    return MarkovMixture(trans, start, weights)


def sample_batch(mix: MarkovMixture, batch: int, seq_len: int,
                 rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """``batch`` sequences of ``seq_len`` tokens, each from one source.

    Returns:
        ``(tokens (B, seq_len) int64, source (B,) int64)``; ``tokens[:, 0]`` is ``BOS``.
    """
    B = positive_int("batch", batch)
    T = positive_int("seq_len", seq_len)
    check_rng(rng)
    src = rng.choice(mix.n_sources, size=B, p=mix.weights)
    out = np.zeros((B, T), dtype=np.int64)
    if T > 1:
        cdf0 = np.cumsum(mix.start[src], axis=-1)
        out[:, 1] = (rng.random((B, 1)) < cdf0).argmax(-1)
        cdf = np.cumsum(mix.transitions, axis=-1)           # (S, V, V)
        for t in range(2, T):
            u = rng.random((B, 1))
            out[:, t] = (u < cdf[src, out[:, t - 1]]).argmax(-1)
    out[:, 0] = BOS
    return torch.from_numpy(out), torch.from_numpy(src.astype(np.int64))


def entropy_rate(mix: MarkovMixture, source: Optional[int] = None) -> float:
    """Best achievable next-token loss (nats per token) of a source, once it is identified.

    The entropy of the transition rows weighted by the chain's stationary
    distribution (the mean of 500 steps of the chain from its start); the mean over sources when
    ``source`` is None.  A model that also has to work out *which* source it is
    reading pays a little more at the start of each sequence.
    """
    sources = range(mix.n_sources) if source is None else [int(source)]
    rates = []
    for s in sources:
        P = mix.transitions[s]
        pi = mix.start[s].copy()
        avg = np.zeros_like(pi)
        for _ in range(500):               # the Cesaro mean converges even for periodic chains
            pi = pi @ P
            avg += pi / 500
        pi = avg
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0).sum(-1)
        rates.append(float(pi @ h))
    return float(np.mean(rates))


@dataclass(frozen=True)
class MarkovTask:
    """Next-token prediction on a :class:`MarkovMixture`, as a :class:`~frontier.models.tasks.Task`.

    Every position after ``BOS`` is a target; ``meta["source"]`` is the
    ``(batch,)`` int64 source of each sequence.
    """

    source: MarkovMixture
    seq_len: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.source, MarkovMixture):
            raise TypeError(f"source must be a MarkovMixture, got {type(self.source).__name__}")
        if positive_int("seq_len", self.seq_len) < 2:
            raise ValueError(f"seq_len must be at least 2 (BOS and one token), got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return self.source.vocab_size

    def sample(self, batch: int, rng: np.random.Generator) -> Batch:
        """:func:`sample_batch` as a :class:`~frontier.models.tasks.Batch`."""
        tokens, src = sample_batch(self.source, batch, self.seq_len, rng)
        mask = torch.ones_like(tokens, dtype=torch.bool)
        mask[:, 0] = False
        return Batch(tokens, mask, {"source": src})


@dataclass(frozen=True)
class RecallTask:
    """Markov background text with planted *keys* and *queries* (a recall task).

    Vocabulary layout: ``0`` is ``BOS``; ``1 .. n_background`` are background
    tokens from ``source``; the next ``n_keys`` ids are key tokens; the last id
    is the query token.  A key is planted at a position with probability
    ``p_key``; a query with probability ``p_query``, and the token after a
    query is always a copy of the most recent key.  Predicting it needs
    attention to one earlier position; everywhere else attention has nothing
    to do, which is the situation in which language models learn to park
    attention on the first token (an attention sink).

    ``seq_len`` is the length :meth:`sample` draws (:func:`recall_batch`
    takes its own).  In a sampled :class:`~frontier.models.tasks.Batch` the
    targets are the copied keys (the tokens right after a query).
    """

    source: MarkovMixture
    n_keys: int = 8
    p_key: float = 0.08
    p_query: float = 0.08
    seq_len: int = 64

    @property
    def n_background(self) -> int:
        return self.source.vocab_size - 1

    @property
    def first_key(self) -> int:
        return self.n_background + 1

    @property
    def query_token(self) -> int:
        return self.first_key + self.n_keys

    @property
    def vocab_size(self) -> int:
        return self.query_token + 1

    def sample(self, batch: int, rng: np.random.Generator) -> Batch:
        """:func:`recall_batch` of ``seq_len`` tokens as a :class:`~frontier.models.tasks.Batch`."""
        tokens = recall_batch(self, batch, self.seq_len, rng)
        mask = torch.zeros_like(tokens, dtype=torch.bool)
        mask[:, 1:] = tokens[:, :-1] == self.query_token
        return Batch(tokens, mask, {})


def recall_batch(task: RecallTask, batch: int, seq_len: int,
                 rng: np.random.Generator) -> torch.Tensor:
    """``(batch, seq_len)`` int64 token ids of :class:`RecallTask` (``BOS`` first)."""
    tokens, _ = sample_batch(task.source, batch, seq_len, rng)
    tok = tokens.numpy()
    B, T = tok.shape
    plant_key = rng.random((B, T)) < task.p_key
    plant_query = rng.random((B, T)) < task.p_query
    keys = rng.integers(task.first_key, task.first_key + task.n_keys, size=(B, T))
    last = np.full(B, -1)
    forced = np.zeros(B, dtype=bool)          # this position must hold the copied key
    for t in range(1, T):
        copy_now = forced.copy()
        tok[copy_now, t] = last[copy_now]
        forced[:] = False
        free = ~copy_now
        q = free & plant_query[:, t] & (last >= 0) & (t + 1 < T)
        tok[q, t] = task.query_token
        forced[q] = True
        k = free & ~q & plant_key[:, t]
        tok[k, t] = keys[k, t]
        is_key = (tok[:, t] >= task.first_key) & (tok[:, t] < task.query_token)
        last[is_key] = tok[is_key, t]
    return torch.from_numpy(tok)
