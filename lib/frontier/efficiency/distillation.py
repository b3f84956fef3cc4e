"""Knowledge distillation (Hinton et al. 2015) and the evaluation helpers the section's lessons share.

The student minimises, per position,

    (1 - hard_weight) * T^2 * KL( softmax(z_teacher / T) || softmax(z_student / T) )
    + hard_weight * CE(z_student, next token)

``T`` the temperature (the ``T^2`` keeps gradient sizes comparable across
temperatures).  ``hard_weight = 1`` is ordinary training on hard labels.

Also here: :func:`eval_loss` (held-out next-token loss and accuracy of any
model or callable), :func:`forward_flops_per_token` for a
:class:`~frontier.models.TinyLMConfig`, and :func:`non_embedding_parameters`
(Kaplan et al.'s ``N``).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validation import fraction, positive_float, positive_int

__all__ = ["distillation_loss", "distillation_loss_fn", "eval_loss", "forward_flops_per_token",
           "non_embedding_parameters", "held_out_tokens"]


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tokens: torch.Tensor, *,
                      temperature: float = 2.0, hard_weight: float = 0.0) -> Tuple[torch.Tensor, Dict[str, float]]:
    """The distillation objective on ``(B, T, V)`` logits predicting ``tokens[:, 1:]`` (nats).

    Returns ``(loss, {"kl": ..., "ce": ...})`` (KL at temperature ``T``, and the hard-label cross-entropy).
    """
    T = positive_float("temperature", temperature)
    h = fraction("hard_weight", hard_weight)
    s = student_logits[:, :-1]
    t = teacher_logits[:, :-1].detach()
    V = s.shape[-1]
    log_ps = F.log_softmax(s / T, dim=-1)
    log_pt = F.log_softmax(t / T, dim=-1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean()
    ce = F.cross_entropy(s.reshape(-1, V), tokens[:, 1:].reshape(-1))
    loss = (1 - h) * T * T * kl + h * ce
    return loss, {"kl": float(kl.detach()), "ce": float(ce.detach())}


def distillation_loss_fn(teacher: nn.Module, *, temperature: float = 2.0, hard_weight: float = 0.0):
    """A ``loss_fn(model, batch)`` for :func:`frontier.models.train` that distils ``teacher`` into the model.

    ``batch`` is a ``(B, T)`` token tensor or a :class:`~frontier.models.Batch`.
    The teacher runs without gradients.
    """
    positive_float("temperature", temperature)
    fraction("hard_weight", hard_weight)

    def loss_fn(model, batch):
        tokens = getattr(batch, "tokens", batch)
        with torch.no_grad():
            t_logits = teacher(tokens).logits
        return distillation_loss(model(tokens).logits, t_logits, tokens, temperature=temperature,
                                 hard_weight=hard_weight)
    return loss_fn


def held_out_tokens(task, n_sequences: int, seed: int) -> torch.Tensor:
    """``(n, seq_len)`` tokens from ``task.sample`` with their own seed (held out from training streams)."""
    b = task.sample(positive_int("n_sequences", n_sequences), np.random.default_rng(seed))
    return b.tokens


@torch.no_grad()
def eval_loss(model, tokens: torch.Tensor, *, target_mask: Optional[torch.Tensor] = None,
              batch_size: int = 64) -> Dict[str, float]:
    """Mean next-token loss (nats), perplexity and argmax accuracy on ``tokens`` ``(n, T)``.

    ``model`` is a language model (``model(tokens).logits``) or a callable
    ``tokens -> logits``.  ``target_mask`` ``(n, T)`` picks the scored
    positions (default every position from 1).
    """
    if target_mask is None:
        target_mask = torch.ones_like(tokens, dtype=torch.bool)
        target_mask[:, 0] = False
    total, correct, count = 0.0, 0.0, 0
    if isinstance(model, nn.Module):
        model.eval()
    for i in range(0, tokens.shape[0], positive_int("batch_size", batch_size)):
        tok, m = tokens[i:i + batch_size], target_mask[i:i + batch_size, 1:]
        out = model(tok)
        logits = getattr(out, "logits", out)[:, :-1].double()
        lp = torch.log_softmax(logits, -1).gather(-1, tok[:, 1:, None])[..., 0]
        total += float(-lp[m].sum())
        correct += float((logits.argmax(-1) == tok[:, 1:])[m].sum())
        count += int(m.sum())
    loss = total / max(1, count)
    return {"loss": loss, "perplexity": float(np.exp(loss)), "accuracy": correct / max(1, count)}


def non_embedding_parameters(model: nn.Module) -> int:
    """Parameters without the input embedding table (Kaplan et al.'s ``N``; the output head is counted)."""
    emb = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Embedding))
    return int(sum(p.numel() for p in model.parameters()) - emb)


def forward_flops_per_token(cfg, context: int = 0) -> float:
    """Forward FLOPs per token of a dense :class:`~frontier.models.TinyLMConfig` (multiply-add = 2 FLOPs).

    Matmuls: ``2 * (n_layers * (d_model * (H + 2 H_kv) * head_dim + H head_dim d_model
    + 3 d_model d_ff) + d_model V)`` (the head included, the embedding lookup
    not), plus attention ``2 * 2 * n_layers * context * H * head_dim``
    (scores and weighted values) at ``context`` cached tokens.
    """
    L, d, H, Hkv, dh = cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    per_layer = d * (H + 2 * Hkv) * dh + H * dh * d + 3 * d * cfg.d_ff * cfg.experts_per_token
    return 2.0 * (L * per_layer + d * cfg.vocab_size) + 4.0 * L * int(context) * H * dh
