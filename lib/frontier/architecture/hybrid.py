"""A tiny hybrid language model: Mamba blocks with attention blocks in between (Jamba, Zamba).

:class:`HybridLM` stacks ``n_layers`` residual blocks over one embedding and
one output head; the blocks listed in ``attention_layers`` are attention
blocks of :class:`frontier.models.TinyLM` (causal softmax attention with RoPE,
then a SwiGLU feed-forward network), the others Mamba blocks of
:class:`frontier.models.TinySSM` (pre-norm, causal convolution, selective
scan, gate).  Both kinds are taken from those models, built with the same
width and seed, so a hybrid differs from a pure SSM or a pure transformer only
in the mix of blocks.  Jamba (Lieber et al. 2024) uses one attention block in
eight; Zamba (Glorioso et al. 2024) shares one attention block across a Mamba
stack.  Lesson 1.3 adds it to the associative-recall experiment.

``forward(tokens (B, T) int64) -> ModelOutput`` with ``logits (B, T,
vocab_size)``; no cache (the course's generation helpers want one model kind
at a time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
from torch import nn

from ..models import ModelOutput, TinyLM, TinyLMConfig, TinySSM, TinySSMConfig
from ..models.layers import rope_cos_sin
from ..validation import positive_int

__all__ = ["HybridConfig", "HybridLM"]


@dataclass(frozen=True)
class HybridConfig:
    """Sizes of a :class:`HybridLM`: ``attention_layers`` are the indices of the attention blocks.

    The Mamba blocks use ``d_state`` and ``expand`` (as :class:`TinySSMConfig`),
    the attention blocks ``n_heads`` and ``d_ff`` (as :class:`TinyLMConfig`).
    """

    vocab_size: int
    d_model: int = 32
    n_layers: int = 2
    attention_layers: Tuple[int, ...] = (1,)
    d_state: int = 16
    expand: int = 2
    n_heads: int = 2
    d_ff: int = 64

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "d_state", "expand", "n_heads", "d_ff"):
            positive_int(name, getattr(self, name))
        layers = tuple(int(i) for i in self.attention_layers)
        if len(set(layers)) != len(layers) or any(not 0 <= i < self.n_layers for i in layers):
            raise ValueError(f"attention_layers must be distinct indices in [0, {self.n_layers}), got {layers}")
        object.__setattr__(self, "attention_layers", layers)


class HybridLM(nn.Module):
    """Mamba and attention blocks in one residual stream (see the module docstring)."""

    def __init__(self, cfg: HybridConfig, seed: int = 0):
        super().__init__()
        if not isinstance(cfg, HybridConfig):
            raise TypeError(f"cfg must be a HybridConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        ssm = TinySSM(TinySSMConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, n_layers=cfg.n_layers,
                                    d_state=cfg.d_state, expand=cfg.expand), seed=seed)
        attn = TinyLM(TinyLMConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, n_layers=cfg.n_layers,
                                   n_heads=cfg.n_heads, d_ff=cfg.d_ff), seed=seed)
        self.embedding, self.norm, self.head = ssm.embedding, ssm.norm, ssm.head
        self.blocks = nn.ModuleList()
        self.kinds = []
        for i in range(cfg.n_layers):
            if i in cfg.attention_layers:
                self.blocks.append(attn.blocks[i])
                self.kinds.append("attention")
            else:
                self.blocks.append(nn.ModuleList([ssm.norms[i], ssm.blocks[i]]))
                self.kinds.append("mamba")

    @property
    def config(self) -> HybridConfig:
        return self.cfg

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens: torch.Tensor) -> ModelOutput:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.is_floating_point():
            raise ValueError("tokens must be a (batch, T) integer tensor")
        x = self.embedding(tokens)
        T = tokens.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        rope = None
        for kind, block in zip(self.kinds, self.blocks):
            if kind == "attention":
                if rope is None:
                    rope = rope_cos_sin(np.arange(T), block.attn.inv_freq)
                x = block(x, mask, rope)[0]
            else:
                norm, mamba = block
                x = x + mamba(norm(x))
        return ModelOutput(self.head(self.norm(x)), x.new_zeros(()))
