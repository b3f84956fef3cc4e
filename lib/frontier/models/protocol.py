"""One interface for every language model in the course, its output, and its caches.

:class:`LanguageModel` is what :func:`frontier.models.generate`,
:func:`frontier.models.sequence_logprobs` and the training loop rely on; the
tiny transformer (:class:`~frontier.models.tiny_lm.TinyLM`), the tiny
Mamba-style model (:class:`~frontier.models.tiny_ssm.TinySSM`) and the
Hugging Face adapter implement it.

Caches let a model decode one token at a time without recomputing the prefix:

* :class:`KVCache` (attention): per layer, the keys (already rotated to their
  RoPE positions) and values of every token seen so far, each
  ``(batch, n_kv_heads, length, head_dim)``.  Appending costs amortised
  ``O(1)`` copies (the buffers grow by doubling); ``truncate(n)`` forgets
  everything after the first ``n`` tokens, which is how speculative decoding
  rolls back rejected draft tokens.
* :class:`RecurrentCache` (state-space models): per layer, the last
  ``d_conv - 1`` inputs of the causal convolution and the scan state
  ``(batch, d_inner, d_state)``: a fixed size, whatever the length.  A
  recurrence cannot be run backwards, so :meth:`RecurrentCache.truncate` can
  only return to a length it kept a snapshot of (the last ``max_history``
  lengths); any other length raises ``ValueError``.

Shape letters follow ``docs/glossary.md``: ``B`` batch, ``T`` positions,
``V`` vocab_size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol, Tuple, runtime_checkable

import torch

from ..validation import nonnegative_int, positive_int
from .layers import MoEOutput

__all__ = ["ModelOutput", "LMOutput", "LanguageModel", "TokenModelBase", "KVCache", "RecurrentCache"]


@dataclass
class ModelOutput:
    """What a :class:`LanguageModel`'s ``forward`` returns.

    Attributes:
        logits: ``(B, T, V)``, unnormalised next-token scores at every position.
        aux_loss: scalar, the auxiliary loss the model wants added to any
            training loss (the MoE balancing and z-losses; 0 for a dense model).
        moe: one :class:`~frontier.models.layers.MoEOutput` per MoE block
            (empty for a dense model).
        attention: one ``(B, H, T, S)`` tensor of attention weights per block
            (``S`` = cached + new keys), when asked for with ``return_attention=True``.
        hidden: with ``return_hidden=True``, ``n_layers + 1`` tensors
            ``(B, T, d_model)``: ``hidden[0]`` is what the first block reads
            (the embeddings), ``hidden[l]`` the residual stream after block
            ``l``.  The final norm is *not* applied: ``logits`` is
            ``head(norm(hidden[-1]))``, and the same head on an earlier entry
            is an early exit (the logit lens).  ``None`` otherwise.
        cache: the cache passed in, updated with the new tokens (``None``
            when no cache was passed).
    """

    logits: torch.Tensor
    aux_loss: torch.Tensor
    moe: List[MoEOutput] = field(default_factory=list)
    attention: List[torch.Tensor] = field(default_factory=list)
    hidden: Optional[List[torch.Tensor]] = None
    cache: Optional[Any] = None


#: The name section 1 used; the same class.
LMOutput = ModelOutput


@runtime_checkable
class LanguageModel(Protocol):
    """A causal language model the course's shared tools can drive.

    Members:
        config: the model's (frozen dataclass) configuration; it has ``vocab_size``.
        max_seq_len: the longest context (prompt plus generated tokens) that
            :func:`~frontier.models.generate` allows.
        forward: ``forward(tokens=None, *, embeds=None, cache=None,
            positions=None, mask=None, return_hidden=False) -> ModelOutput``.
            ``tokens`` ``(B, T)`` int64, or ``embeds`` ``(B, T, d_model)``
            (what :meth:`embed` returns, possibly with image or virtual tokens
            spliced in).  With a ``cache``, the ``T`` tokens continue the
            cached ones: by default they sit at positions ``cache.length ..
            cache.length + T - 1`` and attend causally to everything cached.
            ``positions`` ``(T,)`` and ``mask`` ``(T, cache.length + T)`` bool
            (True = may attend) override both, for tree speculation.
        embed: ``embed(tokens (B, T)) -> (B, T, d_model)``.
        new_cache: ``new_cache(batch_size)``, an empty cache for ``forward``.
        n_parameters: ``n_parameters() -> int``.
        weight_matrices: ``weight_matrices() -> Dict[str, nn.Parameter]``,
            every block's weight matrices by name (``"blocks.0.attn.q"``,
            ``"blocks.0.ffn.w1"``, ...), each name the path of the
            ``nn.Linear`` (or ``nn.Embedding``) that holds it, so
            ``model.get_submodule(name)`` finds the layer (knowledge editing,
            LoRA, merging).  Shapes ``(out_features, in_features)``.
    """

    config: Any

    @property
    def max_seq_len(self) -> int: ...

    def forward(self, tokens: Optional[torch.Tensor] = None, *, embeds: Optional[torch.Tensor] = None,
                cache: Any = None, positions: Any = None, mask: Optional[torch.Tensor] = None,
                return_hidden: bool = False) -> ModelOutput: ...

    def embed(self, tokens: torch.Tensor) -> torch.Tensor: ...

    def new_cache(self, batch_size: int) -> Any: ...

    def n_parameters(self) -> int: ...

    def weight_matrices(self) -> Dict[str, torch.nn.Parameter]: ...


# --------------------------------------------------------------------------- attention cache

class TokenModelBase:
    """What the course's own models share: ``config`` and ``max_seq_len`` read from ``self.cfg``, and ``embed`` through
    ``self.embedding`` (an ``nn.Embedding``). Mixed into :class:`~frontier.models.tiny_lm.TinyLM` and
    :class:`~frontier.models.tiny_ssm.TinySSM` before ``nn.Module``."""

    @property
    def config(self):
        return self.cfg

    @property
    def max_seq_len(self) -> int:
        return self.cfg.max_seq_len

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` int64 token ids -> ``(B, T, d_model)`` input embeddings."""
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.is_floating_point():
            raise ValueError("tokens must be a (batch, T) integer tensor")
        return self.embedding(tokens)


class KVCache:
    """Keys and values of the tokens seen so far, per layer: each ``(B, n_kv_heads, length, head_dim)``.

    ``capacity``: tokens to allocate room for at the first append (a model
    passes its ``max_seq_len``), so that decoding within it never copies the
    cache; beyond it the buffers grow by doubling.

    ``length`` counts cached tokens.  A model appends to it in ``forward``
    (through :meth:`append`, once per layer); callers only read
    :attr:`length`, :meth:`keys` / :meth:`values`, and use :meth:`copy` and
    :meth:`truncate`.  Keys are stored after RoPE, so a cached key keeps the
    position it was computed at.
    """

    def __init__(self, n_layers: int, batch_size: int, capacity: int = 0):
        self.n_layers = positive_int("n_layers", n_layers)
        self.batch_size = positive_int("batch_size", batch_size)
        self.capacity = nonnegative_int("capacity", capacity)
        self._k: List[Optional[torch.Tensor]] = [None] * self.n_layers
        self._v: List[Optional[torch.Tensor]] = [None] * self.n_layers
        self._len = [0] * self.n_layers

    @property
    def length(self) -> int:
        """Tokens cached (the same in every layer between forward passes)."""
        return self._len[0]

    def keys(self, layer: int) -> Optional[torch.Tensor]:
        """``(B, n_kv_heads, length, head_dim)`` cached (rotated) keys of ``layer``, or None if empty."""
        k = self._k[layer]
        return None if k is None else k[:, :, :self._len[layer]]

    def values(self, layer: int) -> Optional[torch.Tensor]:
        """``(B, n_kv_heads, length, head_dim)`` cached values of ``layer``, or None if empty."""
        v = self._v[layer]
        return None if v is None else v[:, :, :self._len[layer]]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Add ``k``, ``v`` ``(B, n_kv_heads, T, head_dim)`` to ``layer``; return all keys and values so far.

        The buffers grow by doubling, so a long decode copies each entry
        ``O(1)`` times on average.  When gradients flow through ``k`` or ``v``
        it concatenates instead (no in-place writes), so a cache can also be
        used inside a training step.
        """
        if k.shape[0] != self.batch_size:
            raise ValueError(f"the cache was made for batch size {self.batch_size}, got a batch of {k.shape[0]}")
        n, T = self._len[layer], int(k.shape[2])
        buf_k, buf_v = self._k[layer], self._v[layer]
        grad = torch.is_grad_enabled() and (k.requires_grad or v.requires_grad)
        if buf_k is None and not grad:
            cap = max(self.capacity, T)
            buf_k = self._k[layer] = k.new_empty(k.shape[0], k.shape[1], cap, k.shape[3])
            buf_v = self._v[layer] = v.new_empty(v.shape[0], v.shape[1], cap, v.shape[3])
        if buf_k is None or grad or buf_k.requires_grad:
            if buf_k is None or n == 0:
                new_k, new_v = k, v
            else:
                new_k = torch.cat([buf_k[:, :, :n], k], dim=2)
                new_v = torch.cat([buf_v[:, :, :n], v], dim=2)
            self._k[layer], self._v[layer], self._len[layer] = new_k, new_v, n + T
            return new_k, new_v
        if n + T > buf_k.shape[2]:
            cap = max(2 * buf_k.shape[2], n + T, 16)
            grown_k = buf_k.new_empty(*buf_k.shape[:2], cap, buf_k.shape[3])
            grown_v = buf_v.new_empty(*buf_v.shape[:2], cap, buf_v.shape[3])
            grown_k[:, :, :n] = buf_k[:, :, :n]
            grown_v[:, :, :n] = buf_v[:, :, :n]
            buf_k, buf_v = self._k[layer], self._v[layer] = grown_k, grown_v
        buf_k[:, :, n:n + T] = k
        buf_v[:, :, n:n + T] = v
        self._len[layer] = n + T
        return buf_k[:, :, :n + T], buf_v[:, :, :n + T]

    def copy(self) -> "KVCache":
        """An independent copy (appending to one never changes the other)."""
        other = KVCache(self.n_layers, self.batch_size, self.capacity)
        for i in range(self.n_layers):
            n = self._len[i]
            if self._k[i] is not None:
                other._k[i] = self._k[i].clone()
                other._v[i] = self._v[i].clone()
            other._len[i] = n
        return other

    def truncate(self, n: int) -> "KVCache":
        """Keep the first ``n`` cached tokens and forget the rest, in place; returns ``self``.

        ``0 <= n <= length``.  Speculative decoding calls it to drop the
        draft tokens the target model rejected.
        """
        n = nonnegative_int("n", n)
        if n > self.length:
            raise ValueError(f"n must be at most the cached length {self.length}, got {n}")
        self._len = [n] * self.n_layers
        return self

    def __repr__(self) -> str:
        return f"KVCache(n_layers={self.n_layers}, batch_size={self.batch_size}, length={self.length})"


# --------------------------------------------------------------------------- recurrent cache

class RecurrentCache:
    """The state of a recurrent (state-space) model after the tokens seen so far.

    Per layer: ``conv`` ``(B, d_inner, d_conv - 1)``, the last inputs of the
    causal convolution (zeros before the first token), and ``ssm``
    ``(B, d_inner, d_state)``, the scan state ``h``.  Its size does not grow
    with ``length``.

    Every time the model advances it, the cache keeps a snapshot of the state
    at the new length, for the last ``max_history`` lengths (``0`` keeps
    none), so that :meth:`truncate` can roll back to them.
    """

    def __init__(self, n_layers: int, batch_size: int, d_inner: int, d_conv: int, d_state: int, *,
                 max_history: int = 64, dtype: torch.dtype = torch.float32, device=None):
        self.n_layers = positive_int("n_layers", n_layers)
        self.batch_size = positive_int("batch_size", batch_size)
        self.max_history = nonnegative_int("max_history", max_history)
        self.conv = [torch.zeros(batch_size, d_inner, d_conv - 1, dtype=dtype, device=device)
                     for _ in range(self.n_layers)]
        self.ssm = [torch.zeros(batch_size, d_inner, d_state, dtype=dtype, device=device)
                    for _ in range(self.n_layers)]
        self.length = 0
        self._history: Dict[int, Tuple[List[torch.Tensor], List[torch.Tensor]]] = {}
        self._snapshot()

    def _snapshot(self) -> None:
        """Remember the state at the current length (and forget the oldest beyond ``max_history``)."""
        self._history[self.length] = ([c.clone() for c in self.conv], [s.clone() for s in self.ssm])
        while len(self._history) > self.max_history + 1:     # the current length plus max_history earlier ones
            del self._history[min(self._history)]

    def advanced(self) -> None:
        """Called by the model after each step (``length`` already increased)."""
        self._snapshot()

    def copy(self) -> "RecurrentCache":
        """An independent copy, snapshots included."""
        other = RecurrentCache.__new__(RecurrentCache)
        other.n_layers, other.batch_size, other.max_history = self.n_layers, self.batch_size, self.max_history
        other.conv = [c.clone() for c in self.conv]
        other.ssm = [s.clone() for s in self.ssm]
        other.length = self.length
        other._history = {n: ([c.clone() for c in cs], [s.clone() for s in ss])
                          for n, (cs, ss) in self._history.items()}
        return other

    @property
    def lengths_kept(self) -> List[int]:
        """The lengths :meth:`truncate` can return to, ascending."""
        return sorted(self._history)

    def truncate(self, n: int) -> "RecurrentCache":
        """Return to the state after the first ``n`` tokens, in place; returns ``self``.

        Possible only for a length in :attr:`lengths_kept` (the last
        ``max_history`` lengths): a recurrent state cannot be rewound, only
        restored from a snapshot.  Anything else raises ``ValueError``.
        """
        n = nonnegative_int("n", n)
        if n > self.length:
            raise ValueError(f"n must be at most the cached length {self.length}, got {n}")
        if n not in self._history:
            raise ValueError(f"cannot truncate a recurrent cache to length {n}: a state-space model's state "
                             f"cannot be rewound, and snapshots are kept only for lengths {self.lengths_kept} "
                             f"(raise max_history, or copy() the cache before the tokens you may drop)")
        conv, ssm = self._history[n]
        self.conv = [c.clone() for c in conv]
        self.ssm = [s.clone() for s in ssm]
        self.length = n
        for m in [m for m in self._history if m > n]:
            del self._history[m]
        return self

    def __repr__(self) -> str:
        return f"RecurrentCache(n_layers={self.n_layers}, batch_size={self.batch_size}, length={self.length})"
