"""Synthetic sequence tasks that separate sequence mixers: selective copying and multi-query associative recall.

Both are written as plain next-token prediction, so any model that maps
``tokens (B, T)`` to ``logits (B, T, V)`` trains on them with
:func:`frontier.models.train` (or :func:`~frontier.models.training.train_lm`); the positions that carry the
task are returned separately (``answer_mask``), and :func:`answer_accuracy` scores only
those.  Everything else in the sequence is random, so its loss cannot go to zero.
Both tasks follow :class:`frontier.models.tasks.Task`: ``task.sample(batch, rng)``
returns a :class:`~frontier.models.tasks.Batch` whose ``target_mask`` is the answer mask.

Vocabulary layouts are given by each task's ``vocab`` / ``first_*`` properties.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch

from ..validation import positive_int
from .tasks import Batch, check_rng

__all__ = ["SelectiveCopying", "selective_copying_batch", "MQAR", "mqar_batch", "answer_accuracy",
           "accuracy_record"]


def _check_rng(rng) -> None:
    check_rng(rng)


@dataclass(frozen=True)
class SelectiveCopying:
    """Copy the ``n_memorize`` data tokens scattered among blanks, in order, after a separator.

    A sequence is ``context`` (``context_len`` positions: ``n_memorize`` data
    tokens at random positions, blanks elsewhere), then ``SEP``, then the data
    tokens again.  Predicting the copy means remembering *which* positions held
    data, which depends on the tokens themselves: a time-invariant (LTI) model
    cannot do it when the spacing is random (``random_spacing=True``); with
    fixed, evenly spaced positions it can.  Mamba paper, section 3.1.

    Token ids: ``0`` blank, ``1`` separator, ``2 .. 2 + n_data_tokens - 1`` data.
    """

    context_len: int = 32
    n_memorize: int = 4
    n_data_tokens: int = 8
    random_spacing: bool = True

    BLANK = 0
    SEP = 1

    def __post_init__(self) -> None:
        positive_int("context_len", self.context_len)
        positive_int("n_memorize", self.n_memorize)
        positive_int("n_data_tokens", self.n_data_tokens)
        if self.n_memorize > self.context_len:
            raise ValueError(f"n_memorize ({self.n_memorize}) cannot exceed context_len ({self.context_len})")

    @property
    def vocab(self) -> int:
        return 2 + self.n_data_tokens

    @property
    def vocab_size(self) -> int:
        """The same as ``vocab`` (the name the :class:`~frontier.models.tasks.Task` protocol uses)."""
        return self.vocab

    @property
    def seq_len(self) -> int:
        return self.context_len + 1 + self.n_memorize

    def sample(self, batch: int, rng: np.random.Generator) -> Batch:
        """A :class:`~frontier.models.tasks.Batch` of :func:`selective_copying_batch`; ``meta`` is empty."""
        tokens, mask = selective_copying_batch(self, batch, rng)
        return Batch(tokens, mask, {})


def selective_copying_batch(task: SelectiveCopying, batch: int,
                            rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, answer_mask)``, both ``(batch, task.seq_len)``.

    ``answer_mask[:, t]`` is True where ``tokens[:, t]`` is a copied data
    token, i.e. predicted at position ``t - 1``.
    """
    B = positive_int("batch", batch)
    _check_rng(rng)
    L, N = task.context_len, task.n_memorize
    data = rng.integers(2, 2 + task.n_data_tokens, size=(B, N))
    if task.random_spacing:
        pos = np.sort(np.argsort(rng.random((B, L)), axis=1)[:, :N], axis=1)
    else:
        pos = np.broadcast_to(np.linspace(0, L - 1, N).round().astype(int), (B, N))
    tok = np.full((B, task.seq_len), task.BLANK, dtype=np.int64)
    np.put_along_axis(tok[:, :L], pos, data, axis=1)
    tok[:, L] = task.SEP
    tok[:, L + 1:] = data
    mask = np.zeros_like(tok, dtype=bool)
    mask[:, L + 1:] = True
    return torch.from_numpy(tok), torch.from_numpy(mask)


@dataclass(frozen=True)
class MQAR:
    """Multi-query associative recall (Zoology, Arora et al. 2023), as next-token prediction.

    A sequence lists ``n_pairs`` key-value pairs ``k1 v1 k2 v2 ...`` (distinct
    keys, random values), then asks ``n_queries`` of the keys again in random
    order, each followed by its value: ``q1 a1 q2 a2 ...``.  Answering needs the
    model to store every pair it has seen, so a recurrent model's fixed-size
    state is the bottleneck; attention looks the key up directly.

    Token ids: keys ``0 .. n_keys - 1``, values ``n_keys .. n_keys + n_values - 1``.
    """

    n_pairs: int = 8
    n_queries: int = 8
    n_keys: int = 32
    n_values: int = 32

    def __post_init__(self) -> None:
        for name in ("n_pairs", "n_queries", "n_keys", "n_values"):
            positive_int(name, getattr(self, name))
        if self.n_pairs > self.n_keys:
            raise ValueError(f"n_pairs ({self.n_pairs}) needs at least as many distinct keys (n_keys={self.n_keys})")
        if self.n_queries > self.n_pairs:
            raise ValueError(f"n_queries ({self.n_queries}) cannot exceed n_pairs ({self.n_pairs})")

    @property
    def vocab(self) -> int:
        return self.n_keys + self.n_values

    @property
    def vocab_size(self) -> int:
        """The same as ``vocab`` (the name the :class:`~frontier.models.tasks.Task` protocol uses)."""
        return self.vocab

    @property
    def seq_len(self) -> int:
        return 2 * (self.n_pairs + self.n_queries)

    def sample(self, batch: int, rng: np.random.Generator) -> Batch:
        """A :class:`~frontier.models.tasks.Batch` of :func:`mqar_batch`; ``meta`` is empty."""
        tokens, mask = mqar_batch(self, batch, rng)
        return Batch(tokens, mask, {})


def mqar_batch(task: MQAR, batch: int, rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, answer_mask)``, both ``(batch, task.seq_len)``; the mask marks the recalled values."""
    B = positive_int("batch", batch)
    _check_rng(rng)
    P, Q = task.n_pairs, task.n_queries
    keys = np.argsort(rng.random((B, task.n_keys)), axis=1)[:, :P]          # distinct keys per sequence
    values = task.n_keys + rng.integers(0, task.n_values, size=(B, P))
    asked = np.argsort(rng.random((B, P)), axis=1)[:, :Q]                    # which pairs are queried
    tok = np.empty((B, task.seq_len), dtype=np.int64)
    tok[:, 0:2 * P:2], tok[:, 1:2 * P:2] = keys, values
    tok[:, 2 * P::2] = np.take_along_axis(keys, asked, axis=1)
    tok[:, 2 * P + 1::2] = np.take_along_axis(values, asked, axis=1)
    mask = np.zeros_like(tok, dtype=bool)
    mask[:, 2 * P + 1::2] = True
    return torch.from_numpy(tok), torch.from_numpy(mask)


def answer_accuracy(logits: torch.Tensor, tokens: torch.Tensor, answer_mask: torch.Tensor) -> float:
    """Fraction of masked tokens predicted exactly (argmax of ``logits`` at the position before).

    ``logits`` ``(B, T, V)``; ``tokens`` and ``answer_mask`` ``(B, T)``.
    """
    if logits.ndim != 3 or tokens.shape != logits.shape[:2] or answer_mask.shape != tokens.shape:
        raise ValueError(f"expected logits (B, T, V) and tokens, answer_mask (B, T); got "
                         f"{tuple(logits.shape)}, {tuple(tokens.shape)}, {tuple(answer_mask.shape)}")
    pred = logits[:, :-1].argmax(-1)
    target, m = tokens[:, 1:], answer_mask[:, 1:]
    if not bool(m.any()):
        raise ValueError("answer_mask marks no position after the first")
    return float((pred[m] == target[m]).float().mean())


def accuracy_record(tokens: torch.Tensor, answer_mask: torch.Tensor):
    """A ``record`` callback for :func:`frontier.models.training.train_lm`: answer accuracy on a fixed batch.

    ``tokens`` and ``answer_mask`` ``(B, T)``, e.g. from :func:`mqar_batch` with
    a seed of its own.  Each record is ``{"accuracy": float}``; read the curve
    with ``[r["accuracy"] for r in log.records]`` against ``log.step``.
    """
    def record(model, out, step):
        with torch.no_grad():
            return {"accuracy": answer_accuracy(model(tokens).logits, tokens, answer_mask)}
    return record
