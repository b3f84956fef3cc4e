"""One shape for every synthetic task: ``task.sample(batch, rng) -> Batch``.

A :class:`Batch` holds ``tokens (batch, seq)`` and a ``target_mask`` of the
same shape that marks the positions a task scores: ``target_mask[:, i]`` is
True when ``tokens[:, i]`` is an answer, predicted from ``tokens[:, :i]``
(the convention of :func:`frontier.models.sequence_logprobs`; position 0 is
never a target).  ``meta`` carries anything else a task knows (the source of
each Markov sequence, the positions of queries).

Tasks in the library that follow :class:`Task`:

* :class:`frontier.models.sequence_tasks.SelectiveCopying` and
  :class:`~frontier.models.sequence_tasks.MQAR` (targets: the copied or recalled tokens),
* :class:`frontier.models.data.MarkovTask` (targets: every token after ``BOS``),
* :class:`frontier.models.data.RecallTask` (targets: the key copied after each query).

:func:`next_token_loss_fn` turns a task into a loss for :func:`frontier.models.train`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Batch", "Task", "next_token_loss", "next_token_loss_fn", "batches", "check_rng"]


def check_rng(rng) -> np.random.Generator:
    """``rng`` if it is a NumPy ``Generator``, else a ``TypeError`` that says how to make one."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


@dataclass
class Batch:
    """A batch of a sequence task.

    Attributes:
        tokens: ``(batch, seq)`` int64 token ids.
        target_mask: ``(batch, seq)`` bool; True where ``tokens[:, i]`` is a target
            predicted from ``tokens[:, :i]`` (column 0 is always False).
        meta: anything else the task reports (per-sequence labels, positions).
    """

    tokens: torch.Tensor
    target_mask: torch.Tensor
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tokens, torch.Tensor) or self.tokens.ndim != 2 or self.tokens.dtype != torch.int64:
            raise TypeError("tokens must be a (batch, seq) int64 tensor")
        if (not isinstance(self.target_mask, torch.Tensor) or self.target_mask.dtype != torch.bool
                or self.target_mask.shape != self.tokens.shape):
            raise TypeError(f"target_mask must be a bool tensor of the tokens' shape {tuple(self.tokens.shape)}")

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]], masks: Sequence[Sequence[bool]],
                  meta: Optional[Dict[str, Any]] = None) -> "Batch":
        """Right-pad token rows of different lengths into one batch.

        ``rows[i]`` (token ids, a list or 1-D tensor) and ``masks[i]`` (its target flags, same length) fill row
        ``i`` from the left; the rest is ``PAD`` (id 0) and not a target.  Shapes: ``(len(rows), max length)``.
        """
        from .tokenizer import PAD
        if len(rows) == 0:
            raise ValueError("rows must not be empty")
        if len(masks) != len(rows):
            raise ValueError(f"masks must have one entry per row, got {len(masks)} for {len(rows)} rows")
        ids = [torch.as_tensor(r, dtype=torch.int64).reshape(-1) for r in rows]
        flags = [torch.as_tensor(m, dtype=torch.bool).reshape(-1) for m in masks]
        for i, (r, m) in enumerate(zip(ids, flags)):
            if len(r) != len(m):
                raise ValueError(f"masks[{i}] has {len(m)} flags for a row of {len(r)} tokens")
        T = max(len(r) for r in ids)
        tokens = torch.full((len(ids), T), PAD, dtype=torch.int64)
        target = torch.zeros((len(ids), T), dtype=torch.bool)
        for i, (r, m) in enumerate(zip(ids, flags)):
            tokens[i, :len(r)] = r
            target[i, :len(m)] = m
        return cls(tokens, target, {} if meta is None else meta)

    @classmethod
    def from_pairs(cls, pairs: Sequence[Tuple[Sequence[int], Sequence[int]]],
                   meta: Optional[Dict[str, Any]] = None) -> "Batch":
        """One row per ``(prompt, target)`` pair of token ids: ``prompt + target``, right-padded with ``PAD``;
        the target's positions are the targets (see :meth:`from_rows`)."""
        rows, masks = [], []
        for p, t in pairs:
            p, t = torch.as_tensor(p, dtype=torch.int64).reshape(-1), torch.as_tensor(t, dtype=torch.int64).reshape(-1)
            rows.append(torch.cat([p, t]))
            masks.append([False] * len(p) + [True] * len(t))
        return cls.from_rows(rows, masks, meta)

    def to(self, device) -> "Batch":
        """The same batch on ``device`` (``meta`` is shared, not copied)."""
        return Batch(self.tokens.to(device), self.target_mask.to(device), self.meta)


@runtime_checkable
class Task(Protocol):
    """What a sequence task offers: ``sample(batch, rng) -> Batch``, ``vocab_size``, ``seq_len``."""

    @property
    def vocab_size(self) -> int: ...

    @property
    def seq_len(self) -> int: ...

    def sample(self, batch: int, rng: np.random.Generator) -> Batch: ...


def batches(task: Task, batch: int) -> Callable[[np.random.Generator], Batch]:
    """``rng -> task.sample(batch, rng)``: the ``batches`` argument of :func:`frontier.models.train`."""
    if not isinstance(task, Task):
        raise TypeError(f"task must follow the Task protocol (sample, vocab_size, seq_len), got {type(task).__name__}")
    return lambda rng: task.sample(batch, rng)


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of predicting ``tokens[:, t+1]`` from position ``t`` (nats).

    ``logits`` ``(B, T, V)``, ``tokens`` ``(B, T)``.  ``reduction="mean"``
    gives a scalar; ``"none"`` gives ``(B, T-1)``, the loss at each position.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    V = logits.shape[-1]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1), reduction="none")
    loss = loss.view(tokens.shape[0], -1)
    return loss.mean() if reduction == "mean" else loss


def _unpack(batch) -> Tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, Batch):
        return batch.tokens, batch.target_mask
    if isinstance(batch, torch.Tensor) and batch.ndim == 2:
        mask = torch.ones_like(batch, dtype=torch.bool)
        mask[:, 0] = False
        return batch, mask
    if isinstance(batch, tuple) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError("batch must be a Batch, a (batch, seq) token tensor or a (tokens, target_mask) pair, "
                    f"got {type(batch).__name__}")


def next_token_loss_fn(target_mask_only: bool = True):
    """A loss for :func:`frontier.models.train`: next-token cross-entropy (nats).

    Returns ``loss_fn(model, batch) -> (loss, {"accuracy": a})``, where
    ``batch`` is a :class:`Batch`, a ``(tokens, target_mask)`` pair or a plain
    ``(batch, seq)`` token tensor (every position from 1 is a target).  With
    ``target_mask_only=True`` the loss averages over the target positions only;
    otherwise over every position from 1.  ``accuracy`` is the fraction of
    target tokens that are the model's argmax, in both cases.  The model's
    auxiliary loss is left to :func:`~frontier.models.train` to add.
    """
    if not isinstance(target_mask_only, bool):
        raise TypeError(f"target_mask_only must be a bool, got {type(target_mask_only).__name__}")

    def loss_fn(model, batch):
        tokens, mask = _unpack(batch)
        logits = model(tokens).logits
        per_pos = next_token_loss(logits, tokens, reduction="none")            # (B, T-1)
        m = mask[:, 1:]
        if not bool(m.any()):
            raise ValueError("target_mask marks no position after the first")
        loss = per_pos[m].mean() if target_mask_only else per_pos.mean()
        with torch.no_grad():
            acc = (logits[:, :-1].argmax(-1)[m] == tokens[:, 1:][m]).float().mean()
        return loss, {"accuracy": float(acc)}

    return loss_fn
