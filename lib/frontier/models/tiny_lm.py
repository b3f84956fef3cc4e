"""A tiny decoder-only transformer for in-notebook experiments.

Pre-norm blocks (RMSNorm), multi-head attention with RoPE
(:func:`frontier.architecture.long_context.apply_rope`), and a feed-forward
that is either one SwiGLU network or a :class:`frontier.architecture.moe.MoELayer`.
The attention is written out (scores, mask, softmax) so that a lesson can pass
any boolean mask, such as a sliding window with sink tokens, and read the
attention weights back.

Shapes: ``B`` batch, ``T`` positions, ``V`` vocabulary, ``d`` width, ``H`` heads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..architecture.long_context import apply_rope, rope_inv_freq, streaming_attention_mask
from ..architecture.moe import MoELayer, MoEOutput, SwiGLUExpert
from ..validation import nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = ["TinyLMConfig", "TinyLM", "LMOutput", "causal_mask", "next_token_loss"]


@dataclass(frozen=True)
class TinyLMConfig:
    """Sizes of a :class:`TinyLM`.

    ``n_experts = 1`` gives a dense SwiGLU feed-forward; more gives an
    :class:`~frontier.architecture.moe.MoELayer` with ``k`` experts per token
    in every block (``capacity_factor``, ``balance_coef``, ``z_coef``,
    ``noise_std`` as there).
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    rope_base: float = 10_000.0
    n_experts: int = 1
    k: int = 1
    capacity_factor: Optional[float] = None
    balance_coef: float = 0.0
    z_coef: float = 0.0
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "n_experts", "k"):
            positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) / n_heads ({self.n_heads}) must be an even integer")
        if self.k > self.n_experts:
            raise ValueError(f"k ({self.k}) cannot exceed n_experts ({self.n_experts})")
        positive_float("rope_base", self.rope_base)
        nonnegative_float("balance_coef", self.balance_coef)
        nonnegative_float("z_coef", self.z_coef)
        nonnegative_float("noise_std", self.noise_std)


@dataclass
class LMOutput:
    """What :meth:`TinyLM.forward` returns.

    Attributes:
        logits: ``(B, T, V)``.
        aux_loss: scalar, the sum of the MoE layers' auxiliary losses (0 for a dense model).
        moe: one :class:`~frontier.architecture.moe.MoEOutput` per block (empty when dense).
        attention: one ``(B, H, T, T)`` tensor of attention weights per block,
            when asked for with ``return_attention=True``.
    """

    logits: torch.Tensor
    aux_loss: torch.Tensor
    moe: List[MoEOutput] = field(default_factory=list)
    attention: List[torch.Tensor] = field(default_factory=list)


def causal_mask(T: int, device=None) -> torch.Tensor:
    """``(T, T)`` bool, True on and below the diagonal."""
    T = positive_int("T", T)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


class _RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class _Attention(nn.Module):
    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.h = cfg.n_heads
        self.dh = cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.inv_freq = rope_inv_freq(self.dh, cfg.rope_base)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, positions: np.ndarray,
                streaming: Optional[Tuple[int, int]] = None):
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)   # each (B, H, T, dh)
        q_rot = apply_rope(q, positions, self.inv_freq)
        k_rot = apply_rope(k, positions, self.inv_freq)
        scores = (q_rot @ k_rot.transpose(-1, -2)) / math.sqrt(self.dh)
        if streaming is not None:
            # StreamingLLM numbers positions inside the cache.  Once the cache is full
            # (query i >= n_sink + window) the query sits at cache slot n_sink + window - 1
            # and sink s at slot s; window keys keep their distance i - j.
            window, n_sink = streaming
            full = n_sink + window
            if n_sink > 0 and T > full:
                q_slot = apply_rope(q[..., full:, :], np.full(T - full, full - 1), self.inv_freq)
                sink_scores = (q_slot @ k_rot[..., :n_sink, :].transpose(-1, -2)) / math.sqrt(self.dh)
                scores = scores.clone()
                scores[..., full:, :n_sink] = sink_scores
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(B, T, d)
        return self.out(y), weights


class _Block(nn.Module):
    def __init__(self, cfg: TinyLMConfig, seed: int):
        super().__init__()
        self.norm1 = _RMSNorm(cfg.d_model)
        self.attn = _Attention(cfg)
        self.norm2 = _RMSNorm(cfg.d_model)
        if cfg.n_experts == 1:
            self.ffn = SwiGLUExpert(cfg.d_model, cfg.d_ff)
        else:
            self.ffn = MoELayer(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.k,
                                capacity_factor=cfg.capacity_factor, noise_std=cfg.noise_std,
                                balance_coef=cfg.balance_coef, z_coef=cfg.z_coef, seed=seed)

    def forward(self, x, mask, positions, streaming=None):
        a, weights = self.attn(self.norm1(x), mask, positions, streaming)
        x = x + a
        f = self.ffn(self.norm2(x))
        if isinstance(f, MoEOutput):
            return x + f.output, weights, f
        return x + f, weights, None


class TinyLM(nn.Module):
    """A tiny transformer language model (see the module docstring).

    ``forward(tokens (B, T), mask=None, return_attention=False, streaming=None) -> LMOutput``.
    ``mask`` is a boolean ``(T, T)`` (True = may attend), causal by default;
    every row must allow at least one key.  ``streaming=(window, n_sink)``
    evaluates as a StreamingLLM cache would: the mask of
    :func:`~frontier.architecture.long_context.streaming_attention_mask` and
    RoPE positions counted inside the cache (so the sinks sit at distance
    ``n_sink + window - 1 - s`` from every later query, never further than
    the cache is long).  Parameters are initialised from
    ``seed``, so two models built with the same config and seed are identical.
    """

    def __init__(self, cfg: TinyLMConfig, seed: int = 0):
        super().__init__()
        if not isinstance(cfg, TinyLMConfig):
            raise TypeError(f"cfg must be a TinyLMConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.blocks = nn.ModuleList(_Block(cfg, seed=int(seed) * 1000 + i) for i in range(cfg.n_layers))
            self.norm = _RMSNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
            nn.init.normal_(self.embed.weight, std=0.5)

    def forward(self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None,
                return_attention: bool = False, streaming: Optional[Tuple[int, int]] = None) -> LMOutput:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
            raise ValueError("tokens must be a (batch, T) integer tensor")
        T = int(tokens.shape[1])
        if streaming is not None:
            if mask is not None:
                raise ValueError("pass either mask or streaming, not both")
            window, n_sink = positive_int("window", streaming[0]), nonnegative_int("n_sink", streaming[1])
            streaming = (window, n_sink)
            mask = torch.from_numpy(streaming_attention_mask(T, window, n_sink)).to(tokens.device)
        if mask is None:
            mask = causal_mask(T, tokens.device)
        elif mask.shape != (T, T) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape ({T}, {T})")
        elif not bool(mask.any(dim=-1).all()):
            raise ValueError("every query position needs at least one key it may attend")
        positions = np.arange(T)
        x = self.embed(tokens)
        aux = x.new_zeros(())
        moe_outputs, attention = [], []
        for block in self.blocks:
            x, weights, m = block(x, mask, positions, streaming)
            if m is not None:
                moe_outputs.append(m)
                aux = aux + m.aux_loss
            if return_attention:
                attention.append(weights.detach())
        return LMOutput(self.head(self.norm(x)), aux, moe_outputs, attention)


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of predicting ``tokens[:, t+1]`` from position ``t`` (nats).

    ``reduction="mean"`` gives a scalar; ``"none"`` gives ``(B, T-1)``, the
    loss at each position (for loss-against-position plots).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    V = logits.shape[-1]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1), reduction="none")
    loss = loss.view(tokens.shape[0], -1)
    return loss.mean() if reduction == "mean" else loss
