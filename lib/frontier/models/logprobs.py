"""Log-probabilities of given tokens under a :class:`~frontier.models.protocol.LanguageModel`.

What verifiers, preference training (DPO), calibration and speculative
decoding need: how likely the model finds a sequence, or the part of it that
is the answer.  Both functions run one forward pass and stay differentiable
(wrap them in ``torch.no_grad()`` when only scoring).
"""
from __future__ import annotations

from typing import Optional

import torch

from .generate import _check_model, check_tokens
from .protocol import LanguageModel

__all__ = ["token_logprobs", "sequence_logprobs"]


def token_logprobs(model: LanguageModel, tokens: torch.Tensor) -> torch.Tensor:
    """``(B, T)``: entry ``[b, i]`` is ``log p(tokens[b, i] | tokens[b, :i])`` (nats) for ``i >= 1``.

    In the model's dtype (float32 for half-precision models).

    Position 0 has no context to be predicted from, so entry ``[:, 0]`` is
    ``0.0`` (not NaN, so that sums over rows stay finite).  ``tokens`` is a
    ``(B, T)`` integer tensor with ``T >= 1``; ``T`` may exceed
    ``model.max_seq_len`` only if the model's ``forward`` allows it.
    """
    _check_model(model)
    tokens = check_tokens("tokens", tokens, getattr(model.config, "vocab_size", None))
    logits = model(tokens).logits                                         # (B, T, V)
    logits = logits[:, :-1]
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()                                           # half precision: sum in float32
    lp = torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
    return torch.cat([lp.new_zeros(tokens.shape[0], 1), lp], dim=1)


def sequence_logprobs(model: LanguageModel, tokens: torch.Tensor,
                      mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``(B,)``: the sum over positions ``i >= 1`` with ``mask[:, i]`` true of ``log p(tokens[:, i] | tokens[:, :i])``.

    ``mask``: bool ``(B, T)``, the shape of ``tokens`` (for example the
    answer part of a prompt + answer sequence); ``None`` scores every position
    from 1.  ``mask[:, 0]`` is ignored: position 0 is never scored.
    """
    lp = token_logprobs(model, tokens)
    if mask is None:
        return lp.sum(dim=1)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor of shape {tuple(tokens.shape)}, "
                        f"got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got dtype {mask.dtype}")
    if mask.shape != tokens.shape:
        raise ValueError(f"mask must have the shape of tokens {tuple(tokens.shape)}, got {tuple(mask.shape)}")
    return (lp * mask.to(lp.device, lp.dtype)).sum(dim=1)
