"""A tiny decoder-only transformer for in-notebook experiments.

Pre-norm blocks (:class:`~frontier.models.layers.RMSNorm`), attention with
RoPE (:func:`~frontier.models.layers.apply_rope`) and optional grouped-query
attention (``n_kv_heads < n_heads`` query heads share key/value heads), and a
feed-forward that is either one SwiGLU network or a
:class:`~frontier.models.layers.MoELayer`.  The attention is written out
(scores, mask, softmax) so that a lesson can pass any boolean mask, such as a
sliding window with sink tokens, and read the attention weights back.

It implements :class:`~frontier.models.protocol.LanguageModel`: a
:class:`~frontier.models.protocol.KVCache` makes decoding incremental, and
``positions`` and ``mask`` may be given with a cache (tree speculation).

Shapes (``docs/glossary.md``): ``B`` batch, ``T`` new positions, ``S`` keys
(cached + new), ``V`` vocab_size, ``H`` n_heads, ``head_dim = d_model / H``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validation import nonnegative_float, nonnegative_int, positive_float, positive_int
from .layers import (
    MoELayer, MoEOutput, RMSNorm, SwiGLUExpert, apply_rope, causal_mask, repeat_kv, rope_cos_sin, rope_inv_freq,
    streaming_attention_mask,
)
from .protocol import KVCache, LMOutput, ModelOutput, TokenModelBase

__all__ = ["TinyLMConfig", "TinyLM", "LMOutput", "ModelOutput", "causal_mask", "next_token_loss"]


@dataclass(frozen=True)
class TinyLMConfig:
    """Sizes of a :class:`TinyLM`.

    ``n_kv_heads`` (default ``n_heads``) key/value heads, shared by
    ``n_heads / n_kv_heads`` query heads each (grouped-query attention;
    ``n_kv_heads = 1`` is multi-query attention).  ``rope_theta`` is the RoPE
    base.  ``max_seq_len`` is the context :func:`frontier.models.generate`
    allows (``forward`` itself takes any length: RoPE has no position table).

    ``n_experts = 1`` gives a dense SwiGLU feed-forward; more gives a
    :class:`~frontier.models.layers.MoELayer` with ``experts_per_token``
    experts per token in every block (``capacity_factor``, ``balance_coef``,
    ``z_coef``, ``noise_std`` as there).
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    n_kv_heads: Optional[int] = None
    max_seq_len: int = 512
    rope_theta: float = 10_000.0
    n_experts: int = 1
    experts_per_token: int = 1
    capacity_factor: Optional[float] = None
    balance_coef: float = 0.0
    z_coef: float = 0.0
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_seq_len", "n_experts",
                     "experts_per_token"):
            positive_int(name, getattr(self, name))
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        positive_int("n_kv_heads", self.n_kv_heads)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_kv_heads ({self.n_kv_heads}) must divide n_heads ({self.n_heads})")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) / n_heads ({self.n_heads}) must be an even integer")
        if self.experts_per_token > self.n_experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) cannot exceed "
                             f"n_experts ({self.n_experts})")
        positive_float("rope_theta", self.rope_theta)
        nonnegative_float("balance_coef", self.balance_coef)
        nonnegative_float("z_coef", self.z_coef)
        nonnegative_float("noise_std", self.noise_std)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def _rotate(x: torch.Tensor, cos: np.ndarray, sin: np.ndarray) -> torch.Tensor:
    """RoPE with precomputed ``cos``/``sin`` ``(T, head_dim)``; the same arithmetic as :func:`apply_rope`."""
    half = x.shape[-1] // 2
    cos_t = torch.as_tensor(cos, dtype=x.dtype, device=x.device)
    sin_t = torch.as_tensor(sin, dtype=x.dtype, device=x.device)
    return x * cos_t + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin_t


class _Attention(nn.Module):
    def __init__(self, cfg: TinyLMConfig):
        super().__init__()
        self.h, self.h_kv, self.dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        # created in the order q, k, v, o: with n_kv_heads = n_heads the random
        # initialisation equals that of one fused (3 d_model, d_model) projection
        self.q = nn.Linear(cfg.d_model, self.h * self.dh, bias=False)
        self.k = nn.Linear(cfg.d_model, self.h_kv * self.dh, bias=False)
        self.v = nn.Linear(cfg.d_model, self.h_kv * self.dh, bias=False)
        self.o = nn.Linear(self.h * self.dh, cfg.d_model, bias=False)
        self.inv_freq = rope_inv_freq(self.dh, cfg.rope_theta)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], rope: Tuple[np.ndarray, np.ndarray],
                streaming: Optional[Tuple[int, int]] = None, cache: Optional[KVCache] = None, layer: int = 0):
        B, T, _ = x.shape
        q = self.q(x).view(B, T, self.h, self.dh).transpose(1, 2)               # (B, H, T, dh)
        k = self.k(x).view(B, T, self.h_kv, self.dh).transpose(1, 2)            # (B, H_kv, T, dh)
        v = self.v(x).view(B, T, self.h_kv, self.dh).transpose(1, 2)
        q_rot, k_rot = _rotate(q, *rope), _rotate(k, *rope)
        if cache is not None:
            k_rot, v = cache.append(layer, k_rot, v)                              # (B, H_kv, S, dh)
        rep = self.h // self.h_kv
        k_all, v_all = repeat_kv(k_rot, rep), repeat_kv(v, rep)
        scores = (q_rot @ k_all.transpose(-1, -2)) / math.sqrt(self.dh)           # (B, H, T, S)
        if streaming is not None:
            # StreamingLLM numbers positions inside the cache.  Once the cache is full
            # (query i >= n_sink + window) the query sits at cache slot n_sink + window - 1
            # and sink s at slot s; window keys keep their distance i - j.
            window, n_sink = streaming
            full = n_sink + window
            if n_sink > 0 and T > full:
                q_slot = apply_rope(q[..., full:, :], np.full(T - full, full - 1), self.inv_freq)
                sink_scores = (q_slot @ k_all[..., :n_sink, :].transpose(-1, -2)) / math.sqrt(self.dh)
                scores = scores.clone()
                scores[..., full:, :n_sink] = sink_scores
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        y = (weights @ v_all).transpose(1, 2).reshape(B, T, self.h * self.dh)
        return self.o(y), weights


class _Block(nn.Module):
    def __init__(self, cfg: TinyLMConfig, seed: int):
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = _Attention(cfg)
        self.norm2 = RMSNorm(cfg.d_model)
        if cfg.n_experts == 1:
            self.ffn = SwiGLUExpert(cfg.d_model, cfg.d_ff)
        else:
            self.ffn = MoELayer(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.experts_per_token,
                                capacity_factor=cfg.capacity_factor, noise_std=cfg.noise_std,
                                balance_coef=cfg.balance_coef, z_coef=cfg.z_coef, seed=seed)

    def forward(self, x, mask, rope, streaming=None, cache=None, layer=0):
        a, weights = self.attn(self.norm1(x), mask, rope, streaming, cache, layer)
        x = x + a
        f = self.ffn(self.norm2(x))
        if isinstance(f, MoEOutput):
            return x + f.output, weights, f
        return x + f, weights, None


def _positions(positions, T: int, start: int) -> np.ndarray:
    if positions is None:
        return np.arange(start, start + T)
    if isinstance(positions, torch.Tensor):
        positions = positions.detach().cpu().numpy()
    pos = np.asarray(positions)
    if pos.shape != (T,) or not np.issubdtype(pos.dtype, np.number):
        raise ValueError(f"positions must be a ({T},) array of numbers (one per new token), "
                         f"got shape {pos.shape}")
    return pos


class TinyLM(TokenModelBase, nn.Module):
    """A tiny transformer language model (see the module docstring); a :class:`~frontier.models.LanguageModel`.

    ``forward(tokens=None, *, embeds=None, cache=None, positions=None,
    mask=None, return_hidden=False, return_attention=False, streaming=None)
    -> ModelOutput``:

    * ``tokens`` ``(B, T)`` int64, or ``embeds`` ``(B, T, d_model)``.
    * ``cache``: a :class:`~frontier.models.protocol.KVCache` from
      :meth:`new_cache`; the ``T`` tokens continue the cached ones and are
      appended to it.
    * ``positions`` ``(T,)``: RoPE positions of the new tokens (default
      ``cache.length + arange(T)``, or ``arange(T)`` without a cache).
    * ``mask``: bool ``(T, S)`` or ``(B, T, S)`` with ``S`` = cached + new
      keys, True = may attend; causal by default.  Every row must allow at
      least one key.
    * ``streaming=(window, n_sink)`` (no cache, mask or positions) evaluates
      as a StreamingLLM cache would: the mask of
      :func:`~frontier.models.layers.streaming_attention_mask` and RoPE
      positions counted inside the cache (so the sinks sit at distance
      ``n_sink + window - 1 - s`` from every later query, never further than
      the cache is long).

    With MoE blocks and a ``capacity_factor``, each forward pass routes its
    own tokens, so decoding token by token can drop different assignments
    than one pass over the whole sequence (as in a real server).  Parameters
    are initialised from ``seed``, so two models built with the same config and
    seed are identical.
    """

    def __init__(self, cfg: TinyLMConfig, seed: int = 0):
        super().__init__()
        if not isinstance(cfg, TinyLMConfig):
            raise TypeError(f"cfg must be a TinyLMConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.blocks = nn.ModuleList(_Block(cfg, seed=int(seed) * 1000 + i) for i in range(cfg.n_layers))
            self.norm = RMSNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
            nn.init.normal_(self.embedding.weight, std=0.5)

    # ------------------------------------------------------------------ the protocol

    def new_cache(self, batch_size: int) -> KVCache:
        """An empty :class:`~frontier.models.protocol.KVCache` for ``batch_size`` sequences, room for ``max_seq_len``."""
        return KVCache(self.cfg.n_layers, batch_size, capacity=self.cfg.max_seq_len)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def weight_matrices(self) -> Dict[str, nn.Parameter]:
        """Every weight matrix by module path: ``embedding``, ``blocks.{i}.attn.{q,k,v,o}``,
        ``blocks.{i}.ffn.{w1,w2,w3}`` (dense) or ``blocks.{i}.ffn.router`` and
        ``blocks.{i}.ffn.experts.{e}.{w1,w2,w3}`` (MoE), and ``head``.

        Each is the ``weight`` of that ``nn.Linear``/``nn.Embedding``, shape
        ``(out_features, in_features)`` (``(vocab_size, d_model)`` for the embedding).
        """
        return {name: module.weight for name, module in self.named_modules()
                if isinstance(module, (nn.Linear, nn.Embedding))}

    # ------------------------------------------------------------------ forward
    def forward(self, tokens: Optional[torch.Tensor] = None, *, embeds: Optional[torch.Tensor] = None,
                cache: Optional[KVCache] = None, positions=None, mask: Optional[torch.Tensor] = None,
                return_hidden: bool = False, return_attention: bool = False,
                streaming: Optional[Tuple[int, int]] = None) -> ModelOutput:
        x = self._inputs(tokens, embeds)
        B, T = int(x.shape[0]), int(x.shape[1])
        start = 0
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(f"cache must be a KVCache (from new_cache), got {type(cache).__name__}")
            if cache.n_layers != self.cfg.n_layers or cache.batch_size != B:
                raise ValueError(f"cache was made for {cache.n_layers} layers and batch {cache.batch_size}, "
                                 f"the model has {self.cfg.n_layers} layers and the batch is {B}")
            start = cache.length
        S = start + T
        if streaming is not None:
            if mask is not None or cache is not None or positions is not None:
                raise ValueError("pass either mask or streaming, not both (streaming takes no cache or positions)")
            window, n_sink = positive_int("window", streaming[0]), nonnegative_int("n_sink", streaming[1])
            streaming = (window, n_sink)
            mask = torch.from_numpy(streaming_attention_mask(T, window, n_sink)).to(x.device)
        if mask is None:
            if T > 1:       # a single new token may attend every cached key: no mask needed
                mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=start)
        else:
            mask = self._check_mask(mask, B, T, S)
        pos = _positions(positions, T, start)
        rope = rope_cos_sin(pos, self.blocks[0].attn.inv_freq)
        aux = x.new_zeros(())
        moe_outputs, attention = [], []
        hidden: Optional[List[torch.Tensor]] = [x] if return_hidden else None
        for i, block in enumerate(self.blocks):
            x, weights, m = block(x, mask, rope, streaming, cache, i)
            if m is not None:
                moe_outputs.append(m)
                aux = aux + m.aux_loss
            if return_attention:
                attention.append(weights.detach())
            if hidden is not None:
                hidden.append(x)
        return ModelOutput(self.head(self.norm(x)), aux, moe_outputs, attention, hidden, cache)

    def _inputs(self, tokens, embeds) -> torch.Tensor:
        if (tokens is None) == (embeds is None):
            raise ValueError("pass exactly one of tokens (batch, T) and embeds (batch, T, d_model)")
        if tokens is not None:
            if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
                raise ValueError("tokens must be a (batch, T) integer tensor")
            if tokens.is_floating_point() or tokens.dtype == torch.bool:
                raise TypeError(f"tokens must be an integer tensor, got {tokens.dtype}")
            return self.embedding(tokens)
        if not isinstance(embeds, torch.Tensor) or embeds.ndim != 3 or embeds.shape[-1] != self.cfg.d_model:
            raise ValueError(f"embeds must be a (batch, T, {self.cfg.d_model}) float tensor")
        return embeds

    @staticmethod
    def _check_mask(mask, B: int, T: int, S: int) -> torch.Tensor:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape ({T}, {S})")
        if mask.shape == (T, S):
            pass
        elif mask.shape == (B, T, S):
            mask = mask[:, None]                                 # broadcast over heads
        else:
            raise ValueError(f"mask must be a bool tensor of shape ({T}, {S}) or ({B}, {T}, {S}) "
                             f"(new tokens x cached + new keys), got {tuple(mask.shape)}")
        if not bool(mask.any(dim=-1).all()):
            raise ValueError("every query position needs at least one key it may attend (mask)")
        return mask


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
