"""Building blocks of the course's language models, below every section.

:mod:`frontier.models` (the tiny transformer and the tiny Mamba-style model)
is built from these pieces, and section 1 (:mod:`frontier.architecture`)
teaches them: it imports them from here and re-exports them under their old
names (``frontier.architecture.moe.MoELayer`` is this module's
:class:`MoELayer`), so shared code never has to import a section.

* Normalisation and feed-forward: :class:`RMSNorm`, :class:`SwiGLUExpert`.
* Rotary position embeddings: :func:`rope_inv_freq`, :func:`rope_cos_sin`,
  :func:`apply_rope` (the RoPE scaling methods stay in
  :mod:`frontier.architecture.long_context`).
* Attention masks, boolean, ``True`` where query ``i`` may attend key ``j``:
  :func:`causal_mask`, :func:`window_mask`, :func:`sink_mask` (torch) and
  :func:`streaming_attention_mask` (NumPy).
* Mixture of experts: :func:`route`, :func:`expert_capacity`,
  :func:`assign_to_capacity`, :func:`load_balancing_loss`,
  :func:`router_z_loss`, :func:`routing_statistics`, :class:`MoELayer` and
  its :class:`MoEOutput` (explained in :mod:`frontier.architecture.moe`).
* The selective scan with gradients: :func:`selective_scan_torch_loop`,
  :func:`selective_scan_parallel` (through :func:`associative_scan`) and
  :func:`selective_scan_autograd` (the compiled CPU loop with a hand-written
  backward pass); the reference and the GPU kernel stay in
  :mod:`frontier.architecture.ssm`, which explains the recurrence.

Shape letters follow the course glossary (``docs/glossary.md``): ``T``
positions, ``d_model`` width, ``head_dim``; in the scan ``b, d, l, n, g`` are
batch, d_inner, seq_len, d_state and groups, as in the published Mamba code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validation import choice, nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = [
    # normalisation, feed-forward
    "RMSNorm", "SwiGLUExpert",
    # RoPE
    "rope_inv_freq", "rope_cos_sin", "apply_rope",
    # masks
    "causal_mask", "window_mask", "sink_mask", "streaming_attention_mask",
    # attention helper
    "repeat_kv",
    # mixture of experts
    "DROP_POLICIES", "Routing", "Assignment", "RoutingStats", "MoEOutput", "route", "expert_capacity",
    "assign_to_capacity", "load_balancing_loss", "router_z_loss", "routing_statistics", "MoELayer",
    # the differentiable selective scan
    "associative_scan", "selective_scan_parallel", "selective_scan_torch_loop", "selective_scan_autograd",
]


# =========================================================================== normalisation

class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang & Sennrich 2019): ``x / rms(x) * weight``.

    Maps ``(..., d_model)`` to the same shape; ``weight`` ``(d_model,)``
    starts at one; ``eps`` is added to the mean square.
    """

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(positive_int("d", d)))
        self.eps = positive_float("eps", eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


# =========================================================================== RoPE

def _head_dim(head_dim: object) -> int:
    d = positive_int("head_dim", head_dim)
    if d % 2 or d < 4:
        raise ValueError(f"head_dim must be an even number >= 4 (RoPE rotates pairs), got {d}")
    return d


def _base(base: object) -> float:
    b = positive_float("base", base)
    if b <= 1:
        raise ValueError(f"base must be > 1, got {base}")
    return b


def rope_inv_freq(head_dim: int, base: float = 10_000.0) -> np.ndarray:
    """``(d/2,)`` RoPE inverse frequencies ``theta_j = base**(-2j/d)`` (radians per token).

    ``base`` is 1e4 for LLaMA-2 and 1e6 for Mixtral.
    """
    d = _head_dim(head_dim)
    b = _base(base)
    return b ** (-np.arange(0, d, 2, dtype=np.float64) / d)


def rope_cos_sin(positions: np.ndarray, inv_freq: np.ndarray,
                 attention_factor: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin``, each ``(S, d)``, of the angles ``position * theta`` (float64).

    Laid out as ``[angles, angles]`` for the rotate-half layout, and multiplied
    by ``attention_factor``.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    inv_freq = np.asarray(inv_freq, dtype=np.float64).reshape(-1)
    angles = np.outer(pos, inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    f = positive_float("attention_factor", attention_factor)
    return np.cos(angles) * f, np.sin(angles) * f


def apply_rope(x: Union[torch.Tensor, np.ndarray], positions, inv_freq: np.ndarray,
               attention_factor: float = 1.0) -> Union[torch.Tensor, np.ndarray]:
    """Rotate queries or keys ``x`` of shape ``(..., S, d)`` to their positions.

    ``out = x * cos + rotate_half(x) * sin`` with ``rotate_half([a, b]) = [-b, a]``
    (Hugging Face's ``apply_rotary_pos_emb``).  ``positions`` is ``(S,)``
    (integers or, for interpolation experiments, fractions).  Returns the same
    type (torch or NumPy) and dtype as ``x``; differentiable for torch.
    """
    inv_freq = np.asarray(inv_freq, dtype=np.float64).reshape(-1)
    d = 2 * inv_freq.size
    if x.shape[-1] != d:
        raise ValueError(f"x's last dimension must be head_dim={d} (two per frequency), got {x.shape[-1]}")
    positions = np.asarray(positions).reshape(-1)
    if x.ndim < 2 or x.shape[-2] != positions.size:
        raise ValueError(f"x must have shape (..., S, {d}) with S = len(positions) = {positions.size}, "
                         f"got {tuple(x.shape)}")
    cos, sin = rope_cos_sin(positions, inv_freq, attention_factor)
    half = d // 2
    if isinstance(x, torch.Tensor):
        cos_t = torch.as_tensor(cos, dtype=x.dtype, device=x.device)
        sin_t = torch.as_tensor(sin, dtype=x.dtype, device=x.device)
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos_t + rotated * sin_t
    x = np.asarray(x)
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return (x * cos + rotated * sin).astype(x.dtype, copy=False)


# =========================================================================== masks

def causal_mask(T: int, device=None) -> torch.Tensor:
    """``(T, T)`` bool, True on and below the diagonal (query ``i`` may attend keys ``j <= i``)."""
    T = positive_int("T", T)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def _window_args(window: object, n_sink: object) -> Tuple[int, int]:
    return positive_int("window", window), nonnegative_int("n_sink", n_sink)


def streaming_attention_mask(seq_len: int, window: int, n_sink: int = 4) -> np.ndarray:
    """``(S, S)`` bool: may the query at row ``i`` attend to the key at column ``j``?

    Row ``i`` is exactly the cache after ``i + 1`` tokens
    (:func:`streaming_kept_positions`), so training or evaluating with this
    mask reproduces what a streaming cache lets the model see.  (The positions
    used by RoPE are a separate choice: StreamingLLM renumbers positions within
    the cache; this mask alone keeps the original ones.)
    """
    S = positive_int("seq_len", seq_len)
    window, n_sink = _window_args(window, n_sink)
    i = np.arange(S)[:, None]
    j = np.arange(S)[None, :]
    causal = j <= i
    return causal & ((j < n_sink) | (i - j < window))


def window_mask(T: int, window: int, causal: bool = True, device=None) -> torch.Tensor:
    """Boolean ``(T, T)`` mask, True where query ``i`` may attend key ``j``.

    Causal: ``0 <= i - j < window``.  Non-causal: ``|i - j| < window``.
    ``window == T`` gives plain (causal or full) attention.
    """
    T = positive_int("T", T)
    window = positive_int("window", window)
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(T, device=device)[None, :]
    diff = i - j
    return ((diff >= 0) & (diff < window)) if causal else (diff.abs() < window)


def sink_mask(T: int, window: int, n_sink: int = 4, device=None) -> torch.Tensor:
    """Boolean ``(T, T)`` causal mask of StreamingLLM: attention sinks plus a recent window.

    Query ``i`` may attend key ``j`` when ``j <= i`` and either ``j`` is one
    of the first ``n_sink`` tokens (the sinks) or ``i - j < window`` (the
    recent window).  ``sink_mask(T, window, 0)`` equals
    ``window_mask(T, window, causal=True)``.  StreamingLLM keeps 4 sinks and
    a recent window of 512 by default (Xiao et al. 2024).

    This is :func:`streaming_attention_mask`
    (row ``i`` = the KV cache after ``i + 1`` tokens) as a torch tensor, so it
    can be passed to :func:`naive_attention` as ``mask``.
    """
    T = positive_int("T", T)
    window = positive_int("window", window)
    n_sink = nonnegative_int("n_sink", n_sink)
    if n_sink > T:
        raise ValueError(f"n_sink ({n_sink}) must not exceed the sequence length T ({T})")
    return torch.from_numpy(streaming_attention_mask(T, window, n_sink)).to(device)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Grouped-query attention: ``(B, n_kv_heads, T, head_dim)`` -> ``(B, n_kv_heads * n_rep, T, head_dim)``.

    Query head ``h`` reads key/value head ``h // n_rep`` (Ainslie et al. 2023;
    the layout of Hugging Face's ``repeat_kv``).  ``n_rep = 1`` returns ``x``.
    """
    n_rep = positive_int("n_rep", n_rep)
    if n_rep == 1:
        return x
    B, H, T, dh = x.shape
    return x[:, :, None].expand(B, H, n_rep, T, dh).reshape(B, H * n_rep, T, dh)


# =========================================================================== mixture of experts

#: Orders in which assignments claim a place in a full expert (see :func:`assign_to_capacity`).
DROP_POLICIES = ("position", "probability")


# --------------------------------------------------------------------------- checks

def _check_logits(logits: object) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor of shape (tokens, n_experts), "
                        f"got {type(logits).__name__}")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (tokens, n_experts), got {tuple(logits.shape)}")
    if not torch.is_floating_point(logits):
        raise TypeError(f"logits must be a floating-point tensor, got {logits.dtype}")
    return logits


def _check_k(k: object, n_experts: int) -> int:
    k = positive_int("k", k)
    if k > n_experts:
        raise ValueError(f"k (experts per token) must be at most n_experts={n_experts}, got {k}")
    return k


def _check_capacity_factor(capacity_factor: object) -> Optional[float]:
    """``None`` (or ``math.inf``) means no capacity limit; otherwise a positive number."""
    if capacity_factor is None:
        return None
    if isinstance(capacity_factor, bool) or not isinstance(capacity_factor, (int, float)):
        raise TypeError(f"capacity_factor must be a number or None, got {type(capacity_factor).__name__}")
    if capacity_factor == math.inf:
        return None
    return positive_float("capacity_factor", capacity_factor)


# --------------------------------------------------------------------------- routing

@dataclass(frozen=True)
class Routing:
    """The router's decision for ``T`` tokens.

    Attributes:
        logits: ``(T, E)`` the logits the decision was made from, after noise
            and temperature.
        probs: ``(T, E)`` softmax of ``logits``; each row sums to one.
        expert_index: ``(T, k)`` int64, the chosen experts, most probable first.
        weights: ``(T, k)`` the chosen probabilities renormalised to sum to one
            per token (the gates that multiply each expert's output).
    """

    logits: torch.Tensor
    probs: torch.Tensor
    expert_index: torch.Tensor
    weights: torch.Tensor

    @property
    def n_experts(self) -> int:
        return int(self.probs.shape[-1])

    @property
    def k(self) -> int:
        return int(self.expert_index.shape[-1])


def route(logits: torch.Tensor, k: int, *, temperature: float = 1.0, noise_std: float = 0.0,
          generator: Optional[torch.Generator] = None, seed: Optional[int] = None) -> Routing:
    """Top-k routing as in Mixtral: softmax -> top-k -> renormalise.

    Args:
        logits: ``(T, E)`` router logits ``x @ W_g``.
        k: experts per token, ``1 <= k <= E``.
        temperature: the logits are divided by it before the softmax.  Below 1
            the router is more decisive, above 1 more uniform.  It cannot
            change *which* experts win, only the probabilities and weights.
        noise_std: standard deviation of Gaussian noise added to the logits
            before anything else, a fixed-width version of the noisy top-k
            gating of Shazeer et al. 2017 (who learn the width per expert with
            a softplus).  Noise can change which experts win, which spreads
            load; it makes routing random, so it needs ``generator`` or ``seed``.
        generator: a ``torch.Generator`` for the noise.
        seed: used to make a generator when ``generator`` is not given.

    Returns:
        A :class:`Routing`.  Gradients flow to ``logits`` through ``probs`` and
        ``weights`` (not through the discrete choice).
    """
    logits = _check_logits(logits)
    n_experts = int(logits.shape[-1])
    k = _check_k(k, n_experts)
    temperature = positive_float("temperature", temperature)
    noise_std = nonnegative_float("noise_std", noise_std)
    if noise_std > 0:
        if generator is None:
            if seed is None:
                raise ValueError("noise_std > 0 samples noise: pass a torch.Generator or a seed")
            generator = torch.Generator(device=logits.device).manual_seed(int(seed))
        noise = torch.randn(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        logits = logits + noise_std * noise
    logits = logits / temperature
    probs = torch.softmax(logits, dim=-1)
    top_p, top_i = torch.topk(probs, k, dim=-1)          # sorted, most probable first
    weights = top_p / top_p.sum(dim=-1, keepdim=True)
    return Routing(logits=logits, probs=probs, expert_index=top_i, weights=weights)


# --------------------------------------------------------------------------- capacity

def expert_capacity(tokens: int, n_experts: int, k: int = 1,
                    capacity_factor: Optional[float] = 1.0) -> int:
    """Most token assignments one expert may process (count).

    ``capacity = ceil(tokens * k / n_experts * capacity_factor)``.

    For ``k = 1`` this is the Switch Transformer's expert capacity,
    ``(tokens per batch / number of experts) * capacity factor`` (Fedus et al.
    2021, eq. 3).  With ``k`` choices per token there are ``tokens * k``
    assignments to place, so we multiply by ``k``: a capacity factor of 1 then
    still means "exactly the even share", and ``capacity_factor - 1`` is the
    spare room.  We round up, so perfectly even routing never drops anything
    at a capacity factor of 1.  ``capacity_factor=None`` (or ``math.inf``)
    means no limit, which we express as ``tokens`` (no expert can receive a
    token twice).
    """
    tokens = positive_int("tokens", tokens)
    n_experts = positive_int("n_experts", n_experts)
    k = _check_k(k, n_experts)
    cf = _check_capacity_factor(capacity_factor)
    if cf is None:
        return tokens
    return min(tokens, int(math.ceil(tokens * k / n_experts * cf - 1e-9)))


@dataclass(frozen=True)
class Assignment:
    """Which of the ``(T, k)`` token-to-expert assignments an expert accepted.

    Attributes:
        kept: ``(T, k)`` bool, True where the expert had room.
        slot: ``(T, k)`` int64, the assignment's place in its expert's queue
            (0 = first); kept exactly when ``slot < capacity``.
        capacity: the per-expert limit that was applied (count).
    """

    kept: torch.Tensor
    slot: torch.Tensor
    capacity: int


def assign_to_capacity(expert_index: torch.Tensor, capacity: int, *,
                       weights: Optional[torch.Tensor] = None,
                       policy: str = "position") -> Assignment:
    """Fill every expert's queue up to ``capacity`` and drop the overflow.

    Priority order (who gets a place when an expert is oversubscribed):

    1. By choice rank first: every token's first choice is placed before any
       token's second choice, and so on (as GShard and the Switch/T5X layers
       do), so a token loses its most important expert last.
    2. Within one rank, by ``policy``:

       * ``"position"``: earlier tokens first (their index in the flattened
         batch), first come first served.  Late tokens in a sequence are the
         ones dropped.
       * ``"probability"``: larger router weight first (Megatron-Core's
         ``probs`` drop policy), so the tokens the router is least sure about
         are dropped.  Needs ``weights``.  Ties go to the earlier token.

    Args:
        expert_index: ``(T, k)`` int64 expert ids from :func:`route`.
        capacity: places per expert (count, at least 1).
        weights: ``(T, k)`` the router weights, for ``policy="probability"``.
        policy: one of :data:`DROP_POLICIES`.

    Returns:
        An :class:`Assignment`.  No expert keeps more than ``capacity``
        assignments.
    """
    if not isinstance(expert_index, torch.Tensor) or expert_index.ndim != 2:
        raise ValueError("expert_index must be a torch.Tensor of shape (tokens, k)")
    capacity = positive_int("capacity", capacity)
    choice("policy", policy, DROP_POLICIES)
    n_tokens, k = expert_index.shape
    flat_e = expert_index.T.reshape(-1)                          # rank-major: all rank-0 first
    rank = torch.arange(k, device=expert_index.device).repeat_interleave(n_tokens)
    token = torch.arange(n_tokens, device=expert_index.device).repeat(k)
    if policy == "position":
        order = torch.argsort(rank * n_tokens + token, stable=True)
    else:
        if weights is None:
            raise ValueError("policy='probability' needs the router weights (tokens, k)")
        if weights.shape != expert_index.shape:
            raise ValueError(f"weights must have shape {tuple(expert_index.shape)}, "
                             f"got {tuple(weights.shape)}")
        w = weights.detach().T.reshape(-1).to(torch.float64)
        # sort by rank, then by descending weight; the stable sort keeps earlier tokens first on ties
        order = torch.argsort(rank.to(torch.float64) * 4.0 - w, stable=True)
    sorted_e = flat_e[order]
    n_experts = int(flat_e.max().item()) + 1 if flat_e.numel() else 1
    one_hot = F.one_hot(sorted_e, n_experts)
    slot_sorted = (one_hot.cumsum(dim=0) * one_hot).sum(dim=-1) - 1
    slot_flat = torch.empty_like(slot_sorted)
    slot_flat[order] = slot_sorted
    slot = slot_flat.reshape(k, n_tokens).T
    return Assignment(kept=slot < capacity, slot=slot, capacity=capacity)


# --------------------------------------------------------------------------- losses

def _assignment_fraction(expert_index: torch.Tensor, n_experts: int,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(E,)`` fraction of all ``T*k`` assignments that go to each expert (sums to one)."""
    counts = torch.bincount(expert_index.reshape(-1), minlength=n_experts)
    return counts.to(dtype) / expert_index.numel()


def load_balancing_loss(probs: torch.Tensor, expert_index: torch.Tensor,
                        coefficient: float = 1e-2) -> torch.Tensor:
    """Switch Transformer auxiliary loss ``alpha * E * sum_i f_i * P_i`` (scalar).

    * ``f_i``: the fraction of assignments routed to expert ``i``; with
      ``k = 1`` that is the fraction of tokens whose top choice is ``i``
      (Fedus et al. 2021, eq. 4-6).  For ``k > 1`` we count all ``T*k``
      assignments and divide by ``T*k``, so ``sum_i f_i = 1`` for every ``k``.
      Hugging Face's ``load_balancing_loss_func`` divides by ``T`` only, so
      its value is ``k`` times ours.
    * ``P_i``: the mean router probability of expert ``i`` over the tokens.
      Gradients flow only through ``P`` (``f`` is a count).

    Uniform routing (``f_i = P_i = 1/E``) gives exactly ``coefficient``.  When
    the counts follow the probabilities (``f = P``) the loss is
    ``alpha * E * sum P_i^2 >= alpha`` (Cauchy-Schwarz), with equality only at
    uniform routing, and it grows as routing concentrates on fewer experts.

    Args:
        probs: ``(T, E)`` router probabilities.
        expert_index: ``(T, k)`` chosen experts.
        coefficient: ``alpha``, 1e-2 in the Switch Transformer.
    """
    if probs.ndim != 2 or expert_index.ndim != 2 or probs.shape[0] != expert_index.shape[0]:
        raise ValueError(f"probs (tokens, n_experts) and expert_index (tokens, k) must share tokens, "
                         f"got {tuple(probs.shape)} and {tuple(expert_index.shape)}")
    coefficient = nonnegative_float("coefficient", coefficient)
    n_experts = int(probs.shape[-1])
    f = _assignment_fraction(expert_index, n_experts, probs.dtype)
    p_mean = probs.mean(dim=0)
    return coefficient * n_experts * torch.sum(f * p_mean)


def router_z_loss(logits: torch.Tensor, coefficient: float = 1e-3) -> torch.Tensor:
    """ST-MoE router z-loss ``c_z * mean_t (logsumexp_j x_tj)^2`` (scalar).

    It keeps router logits small, which keeps the softmax out of the range
    where round-off in low precision changes the routing (Zoph et al. 2022,
    eq. 5; ``c_z = 1e-3`` there).

    Args:
        logits: ``(T, E)`` router logits.
        coefficient: ``c_z``.
    """
    logits = _check_logits(logits)
    coefficient = nonnegative_float("coefficient", coefficient)
    return coefficient * torch.logsumexp(logits, dim=-1).pow(2).mean()


# --------------------------------------------------------------------------- statistics

@dataclass(frozen=True)
class RoutingStats:
    """Summary numbers of one routing decision (NumPy / floats).

    Attributes:
        requested_load: ``(E,)`` assignments each expert was asked to take.
        kept_load: ``(E,)`` assignments each expert accepted (<= capacity).
        capacity: the per-expert limit (count).
        drop_rate: dropped assignments / all ``T*k`` assignments.
        tokens_fully_dropped: fraction of tokens that lost *all* their experts
            (their layer output is zero; only the residual carries them).
        token_entropy: mean over tokens of the entropy of the router
            probabilities (nats); ``ln E`` is an undecided router, 0 a certain one.
        load_entropy: entropy of the requested-load distribution (nats);
            ``ln E`` when balanced, 0 when one expert takes everything.
        load_cv: coefficient of variation (population std / mean) of the
            requested load; 0 when balanced.
    """

    requested_load: np.ndarray
    kept_load: np.ndarray
    capacity: int
    drop_rate: float
    tokens_fully_dropped: float
    token_entropy: float
    load_entropy: float
    load_cv: float


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1)


def routing_statistics(routing: Routing, assignment: Optional[Assignment] = None) -> RoutingStats:
    """Load, drops and entropies of a routing decision.

    Args:
        routing: from :func:`route`.
        assignment: from :func:`assign_to_capacity`; ``None`` means nothing
            was dropped (no capacity limit).
    """
    idx = routing.expert_index.detach().cpu().numpy()
    n_tokens, k = idx.shape
    n_experts = routing.n_experts
    requested = np.bincount(idx.reshape(-1), minlength=n_experts).astype(np.int64)
    if assignment is None:
        kept_mask = np.ones_like(idx, dtype=bool)
        capacity = n_tokens
    else:
        kept_mask = assignment.kept.detach().cpu().numpy()
        capacity = assignment.capacity
    kept = np.bincount(idx[kept_mask], minlength=n_experts).astype(np.int64)
    probs = routing.probs.detach().cpu().double().numpy()
    share = requested / requested.sum()
    mean = requested.mean()
    return RoutingStats(
        requested_load=requested,
        kept_load=kept,
        capacity=int(capacity),
        drop_rate=float(1.0 - kept_mask.mean()),
        tokens_fully_dropped=float((~kept_mask).all(axis=1).mean()),
        token_entropy=float(_entropy(probs).mean()),
        load_entropy=float(_entropy(share)),
        load_cv=float(requested.std() / mean) if mean > 0 else 0.0,
    )


# --------------------------------------------------------------------------- modules

class SwiGLUExpert(nn.Module):
    """One feed-forward expert, ``w2(silu(w1 x) * w3 x)`` with no biases (Mixtral).

    Maps ``(..., d_model)`` to ``(..., d_model)``; ``3 * d_model * d_ff``
    parameters, as counted in :mod:`frontier.architecture.params`.
    """

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        d_model = positive_int("d_model", d_model)
        d_ff = positive_int("d_ff", d_ff)
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


@dataclass
class MoEOutput:
    """What :class:`MoELayer` returns.

    Attributes:
        output: ``(..., d)`` the layer output, the same shape as the input.
        routing: the :class:`Routing` over the flattened ``T`` tokens.
        assignment: the :class:`Assignment` (which assignments were kept).
        balance_loss: scalar, :func:`load_balancing_loss` with the layer's coefficient.
        z_loss: scalar, :func:`router_z_loss` of the raw router logits (before
            noise and temperature) with the layer's coefficient.
    """

    output: torch.Tensor
    routing: Routing
    assignment: Assignment
    balance_loss: torch.Tensor
    z_loss: torch.Tensor

    @property
    def aux_loss(self) -> torch.Tensor:
        """``balance_loss + z_loss``: add it to the training loss."""
        return self.balance_loss + self.z_loss

    def statistics(self) -> RoutingStats:
        """:func:`routing_statistics` of this forward pass."""
        return routing_statistics(self.routing, self.assignment)


class MoELayer(nn.Module):
    """A sparse mixture-of-experts feed-forward layer (torch).

    For each token ``x`` with kept assignments ``(e_j, w_j)``:
    ``y = sum_j w_j * expert_{e_j}(x)``.

    Dropped assignments contribute zero and the remaining weights are *not*
    renormalised (as in the Switch Transformer and Hugging Face's
    implementations); a token whose assignments are all dropped gets ``y = 0``,
    so in a residual block ``x + y`` it passes through unchanged.

    Args:
        d_model: width ``d``.
        d_ff: hidden width ``f`` of each :class:`SwiGLUExpert`.
        n_experts: ``E``.
        k: experts per token.
        capacity_factor: see :func:`expert_capacity`; ``None`` = no limit.
            The capacity is computed per forward pass from the number of tokens
            in the batch.
        drop_policy: see :func:`assign_to_capacity`.
        noise_std, temperature: see :func:`route`.
        balance_coef: ``alpha`` of :func:`load_balancing_loss`.
        z_coef: ``c_z`` of :func:`router_z_loss`.
        seed: seeds the router noise (a generator the layer owns), used when
            ``forward`` gets no generator.

    ``forward(x)`` takes ``(..., d)`` and returns an :class:`MoEOutput`.
    """

    def __init__(self, d_model: int, d_ff: int, n_experts: int, k: int = 2, *,
                 capacity_factor: Optional[float] = None, drop_policy: str = "position",
                 noise_std: float = 0.0, temperature: float = 1.0,
                 balance_coef: float = 1e-2, z_coef: float = 1e-3, seed: int = 0):
        super().__init__()
        self.d_model = positive_int("d_model", d_model)
        self.d_ff = positive_int("d_ff", d_ff)
        self.n_experts = positive_int("n_experts", n_experts)
        self.k = _check_k(k, self.n_experts)
        self.capacity_factor = _check_capacity_factor(capacity_factor)
        self.drop_policy = choice("drop_policy", drop_policy, DROP_POLICIES)
        self.noise_std = nonnegative_float("noise_std", noise_std)
        self.temperature = positive_float("temperature", temperature)
        self.balance_coef = nonnegative_float("balance_coef", balance_coef)
        self.z_coef = nonnegative_float("z_coef", z_coef)
        self.seed = int(seed)
        self._generator: Optional[torch.Generator] = None
        self.router = nn.Linear(self.d_model, self.n_experts, bias=False)
        self.experts = nn.ModuleList(SwiGLUExpert(self.d_model, self.d_ff) for _ in range(self.n_experts))

    def reset_noise(self, seed: Optional[int] = None) -> None:
        """Restart the router-noise stream (from ``seed`` or the layer's seed)."""
        if seed is not None:
            self.seed = int(seed)
        self._generator = None

    def _noise_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator

    def __getstate__(self):  # generators do not pickle or deep-copy; they are rebuilt on demand
        state = self.__dict__.copy()
        state["_generator"] = None
        return state

    def forward(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> MoEOutput:
        if not isinstance(x, torch.Tensor) or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be a tensor of shape (..., {self.d_model})")
        lead_shape = x.shape[:-1]
        tokens = x.reshape(-1, self.d_model)
        n_tokens = int(tokens.shape[0])
        if n_tokens == 0:
            raise ValueError("x holds no tokens")
        if self.noise_std > 0 and generator is None:
            generator = self._noise_generator(x.device)
        logits = self.router(tokens)
        routing = route(logits, self.k, temperature=self.temperature,
                        noise_std=self.noise_std, generator=generator)
        capacity = expert_capacity(n_tokens, self.n_experts, self.k, self.capacity_factor)
        assignment = assign_to_capacity(routing.expert_index, capacity,
                                        weights=routing.weights, policy=self.drop_policy)
        out = torch.zeros_like(tokens)
        gate = routing.weights * assignment.kept.to(routing.weights.dtype)      # (T, k)
        for e, expert in enumerate(self.experts):
            tok, slot = torch.nonzero((routing.expert_index == e) & assignment.kept, as_tuple=True)
            if tok.numel() == 0:
                continue
            y = expert(tokens[tok]) * gate[tok, slot].unsqueeze(-1)
            out.index_add_(0, tok, y)
        return MoEOutput(
            output=out.reshape(*lead_shape, self.d_model),
            routing=routing,
            assignment=assignment,
            balance_loss=load_balancing_loss(routing.probs, routing.expert_index, self.balance_coef),
            z_loss=router_z_loss(logits, self.z_coef),       # on the raw logits, before noise
        )


# =========================================================================== the selective scan, with gradients

_FLOAT_NUMPY = (np.float16, np.float32, np.float64)


_FLOAT_TORCH = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _kind(x) -> str:
    if isinstance(x, np.ndarray):
        return "numpy"
    if isinstance(x, torch.Tensor):
        return "torch"
    if type(x).__module__.split(".")[0] == "cupy":
        return "cupy"
    return "other"


def _check_float(name: str, x) -> None:
    k = _kind(x)
    if k == "numpy":
        if x.dtype.type not in _FLOAT_NUMPY:
            raise TypeError(f"{name} must hold real floating-point numbers (float16/32/64), got dtype {x.dtype}")
    elif k == "torch":
        if x.dtype not in _FLOAT_TORCH:
            raise TypeError(f"{name} must hold real floating-point numbers, got dtype {x.dtype}")
    elif k == "cupy":
        if x.dtype.kind != "f":
            raise TypeError(f"{name} must hold real floating-point numbers, got dtype {x.dtype}")
    else:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")


def _to_numpy32(x) -> np.ndarray:
    k = _kind(x)
    if k == "torch":
        return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
    if k == "cupy":
        return np.ascontiguousarray(x.get().astype(np.float32, copy=False))
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass
class _Scan:
    """Validated inputs, as contiguous float32 NumPy arrays, plus how to give the answer back."""

    u: np.ndarray            # (b, d, l)
    delta: np.ndarray        # (b, d, l)
    A: np.ndarray            # (d, n)
    B: np.ndarray            # (b, g, n, l)
    C: np.ndarray            # (b, g, n, l)
    D: Optional[np.ndarray]  # (d,)
    z: Optional[np.ndarray]  # (b, d, l)
    delta_bias: Optional[np.ndarray]  # (d,)
    kind: str
    dtype: Any
    device: Any

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        b, d, l = self.u.shape
        return b, d, l, self.A.shape[1]

    def delta_eff(self) -> np.ndarray:
        """delta plus ``delta_bias`` (when given), ``(b, d, l)``; softplus is NOT applied here (callers apply it when ``delta_softplus``)."""
        dt = self.delta if self.delta_bias is None else self.delta + self.delta_bias[:, None]
        return dt

    def give_back(self, out: np.ndarray, last: Optional[np.ndarray], return_last_state: bool):
        out_k = _from_numpy(out, self.kind, self.dtype, self.device)
        if not return_last_state:
            return out_k
        return out_k, _from_numpy(last, self.kind, None, self.device)


def _from_numpy(x: np.ndarray, kind: str, dtype, device):
    if kind == "torch":
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t.to(device=device, dtype=dtype if dtype is not None else torch.float32)
    if kind == "cupy":
        import cupy
        return cupy.asarray(x, dtype=dtype if dtype is not None else np.float32)
    return x.astype(dtype if dtype is not None else np.float32, copy=False)


def _shape(x) -> Tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def _validate(u, delta, A, B, C, D, z, delta_bias) -> Tuple[Tuple[int, int, int, int, int], Dict[str, Any]]:
    """Check kinds, dtypes and shapes; return ``(b, d, l, n, g)`` and the arrays by name."""
    arrays = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z, "delta_bias": delta_bias}
    for name, x in arrays.items():
        if x is not None:
            _check_float(name, x)
    if len(_shape(u)) != 3:
        raise ValueError(f"u must have shape (batch, d_inner, seq_len), got {_shape(u)}")
    b, d, l = _shape(u)
    if min(b, d, l) < 1:
        raise ValueError(f"u must have positive batch, d_inner and seq_len, got {_shape(u)}")
    if _shape(delta) != (b, d, l):
        raise ValueError(f"delta must have the shape of u {(b, d, l)}, got {_shape(delta)}")
    if len(_shape(A)) != 2 or _shape(A)[0] != d:
        raise ValueError(f"A must have shape (d_inner={d}, d_state), got {_shape(A)}")
    n = _shape(A)[1]
    if n < 1:
        raise ValueError("A must have at least one state (d_state >= 1)")
    g = None
    for name, M in (("B", B), ("C", C)):
        s = _shape(M)
        if len(s) == 3 and s == (b, n, l):
            gm = 1
        elif len(s) == 4 and s[0] == b and s[2:] == (n, l) and s[1] >= 1 and d % s[1] == 0:
            gm = s[1]
        else:
            raise ValueError(
                f"{name} must have shape (batch, d_state, seq_len) = {(b, n, l)} or "
                f"(batch, groups, d_state, seq_len) with d_inner={d} divisible by groups, got {s}")
        if g is not None and gm != g:
            raise ValueError(f"B and C must use the same number of groups, got {g} and {gm}")
        g = gm
    for name, x, want in (("D", D, (d,)), ("delta_bias", delta_bias, (d,)), ("z", z, (b, d, l))):
        if x is not None and _shape(x) != want:
            raise ValueError(f"{name} must have shape {want}, got {_shape(x)}")
    return (b, d, l, n, g), arrays


def _prepare(u, delta, A, B, C, D, z, delta_bias) -> _Scan:
    (b, d, l, n, g), _ = _validate(u, delta, A, B, C, D, z, delta_bias)
    kind = _kind(u)
    dtype = u.dtype
    device = u.device if kind in ("torch", "cupy") else None
    B32 = _to_numpy32(B).reshape(b, g, n, l)
    C32 = _to_numpy32(C).reshape(b, g, n, l)
    return _Scan(
        u=_to_numpy32(u), delta=_to_numpy32(delta), A=_to_numpy32(A), B=B32, C=C32,
        D=None if D is None else _to_numpy32(D), z=None if z is None else _to_numpy32(z),
        delta_bias=None if delta_bias is None else _to_numpy32(delta_bias),
        kind=kind, dtype=dtype, device=device)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), computed without overflow, in the dtype of ``x``."""
    return np.logaddexp(np.zeros((), x.dtype), x)


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _finish(s: _Scan, y: np.ndarray) -> np.ndarray:
    """``y + D*u``, then the ``silu(z)`` gate: ``(b, d, l)``."""
    out = y if s.D is None else y + s.u * s.D[:, None]
    if s.z is not None:
        out = out * _silu(s.z)
    return out.astype(np.float32, copy=False)


def _group_expand(M: np.ndarray, d: int) -> np.ndarray:
    """``(b, g, n, l)`` -> ``(b, d, n, l)`` view: channel ``c`` uses group ``c // (d // g)``."""
    b, g, n, l = M.shape
    return np.broadcast_to(M[:, :, None], (b, g, d // g, n, l)).reshape(b, d, n, l)


def _take(x, axis: int, sl: slice):
    idx = [slice(None)] * x.ndim
    idx[axis] = sl
    return x[tuple(idx)]


def _cat(xs, axis: int):
    return torch.cat(xs, dim=axis) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs, axis=axis)


def _check_ab(a, b, axis: int) -> int:
    for name, x in (("a", a), ("b", b)):
        if _kind(x) not in ("numpy", "torch"):
            raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")
        _check_float(name, x)
    if _kind(a) != _kind(b):
        raise TypeError("a and b must be of the same kind (both NumPy or both torch)")
    if _shape(a) != _shape(b):
        raise ValueError(f"a and b must have the same shape, got {_shape(a)} and {_shape(b)}")
    if len(_shape(a)) == 0:
        raise ValueError("a and b need at least one dimension (time)")
    nd = len(_shape(a))
    if not -nd <= axis < nd:
        raise ValueError(f"axis {axis} is out of range for arrays with {nd} dimensions")
    return axis % nd


def _combine(a1, b1, a2, b2):
    """Compose two steps: first ``(a1, b1)``, then ``(a2, b2)``.  Associative, not commutative."""
    return a2 * a1, a2 * b1 + b2


def associative_scan(a, b, axis: int = -1, method: str = "blelloch"):
    """``h_t = a_t * h_{t-1} + b_t`` (``h_{-1} = 0``) in ``O(log L)`` parallel steps.

    Each step ``x -> a*x + b`` is an affine map; composing two of them,
    ``(a1, b1)`` then ``(a2, b2)``, gives ``(a2*a1, a2*b1 + b2)``, and that
    composition is associative, so prefixes can be combined in a tree.

    * ``"blelloch"``: the work-efficient scan (up-sweep, down-sweep), written
      recursively: combine neighbouring pairs, scan the half-length sequence,
      fill in the other half.  ``O(L)`` work, ``2 log2 L`` levels.
    * ``"hillis_steele"``: at level ``k`` every element absorbs the one ``2**k``
      places before it.  ``O(L log L)`` work, ``log2 L`` levels.

    Every operation is elementwise over the non-time axes and out of place, so
    it works on NumPy arrays and on torch tensors (gradients flow through it).
    Returns ``h``, the shape and kind of ``b``.
    """
    axis = _check_ab(a, b, axis)
    choice("method", method, ("blelloch", "hillis_steele"))
    if method == "hillis_steele":
        return _hillis_steele(a, b, axis)
    return _blelloch(a, b, axis)


def _hillis_steele(a, b, axis):
    L = _shape(a)[axis]
    off = 1
    while off < L:
        a_prev, b_prev = _take(a, axis, slice(0, L - off)), _take(b, axis, slice(0, L - off))
        a_cur, b_cur = _take(a, axis, slice(off, L)), _take(b, axis, slice(off, L))
        a_new, b_new = _combine(a_prev, b_prev, a_cur, b_cur)
        a = _cat([_take(a, axis, slice(0, off)), a_new], axis)
        b = _cat([_take(b, axis, slice(0, off)), b_new], axis)
        off *= 2
    return b


def _interleave(even, odd, axis):
    """Inverse of taking ``[0::2]`` and ``[1::2]``; ``even`` may be one longer than ``odd``."""
    ne, no = _shape(even)[axis], _shape(odd)[axis]
    if isinstance(even, torch.Tensor):
        pair = torch.stack([_take(even, axis, slice(0, no)), odd], dim=axis + 1)
    else:
        pair = np.stack([_take(even, axis, slice(0, no)), odd], axis=axis + 1)
    shape = list(pair.shape)
    merged = pair.reshape(shape[:axis] + [2 * no] + shape[axis + 2:])
    return merged if ne == no else _cat([merged, _take(even, axis, slice(no, ne))], axis)


def _blelloch(a, b, axis):
    L = _shape(a)[axis]
    if L == 1:
        return b
    a_e, b_e = _take(a, axis, slice(0, None, 2)), _take(b, axis, slice(0, None, 2))
    a_o, b_o = _take(a, axis, slice(1, None, 2)), _take(b, axis, slice(1, None, 2))
    n_o = _shape(a_o)[axis]
    # Up-sweep: pair (2i, 2i+1) collapses into one step; scan the half-length sequence.
    a_p, b_p = _combine(_take(a_e, axis, slice(0, n_o)), _take(b_e, axis, slice(0, n_o)), a_o, b_o)
    h_o = _blelloch(a_p, b_p, axis)                       # h at odd times 1, 3, 5, ...
    # Down-sweep: h_{2i} = a_{2i} * h_{2i-1} + b_{2i}, and h_0 = b_0.
    n_e = _shape(a_e)[axis]
    rest = _take(a_e, axis, slice(1, n_e)) * _take(h_o, axis, slice(0, n_e - 1)) + _take(b_e, axis, slice(1, n_e))
    h_e = _cat([_take(b_e, axis, slice(0, 1)), rest], axis)
    return _interleave(h_e, h_o, axis)


def selective_scan_parallel(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                            delta_softplus: bool = False, return_last_state: bool = False,
                            *, method: str = "blelloch"):
    """The selective scan through :func:`associative_scan`; same contract as :func:`selective_scan_ref`.

    Builds ``a = exp(delta*A)`` and ``b = delta*B*u`` as ``(b, d, n, l)`` arrays
    and scans along time in ``O(log l)`` levels.  With torch inputs it runs in
    torch (float32) and stays differentiable, so the tiny models in
    :mod:`frontier.models` train through it.
    """
    (bsz, d, l, n, g), _ = _validate(u, delta, A, B, C, D, z, delta_bias)
    choice("method", method, ("blelloch", "hillis_steele"))
    if _kind(u) == "torch":
        return _parallel_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                               return_last_state, method, (bsz, d, l, n, g))
    s = _prepare(u, delta, A, B, C, D, z, delta_bias)
    dt = s.delta_eff()
    if delta_softplus:
        dt = _softplus(dt)
    a = np.exp(dt[:, :, None, :] * s.A[None, :, :, None])               # (b, d, n, l)
    bb = (dt * s.u)[:, :, None, :] * _group_expand(s.B, d)             # (b, d, n, l)
    h = associative_scan(a, bb, axis=-1, method=method)
    y = np.einsum("bdnl,bdnl->bdl", h, _group_expand(s.C, d))
    return s.give_back(_finish(s, y), np.ascontiguousarray(h[..., -1]), return_last_state)


def _to_torch32(x, device):
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def _torch_scan_terms(u, delta, A, B, C, D, z, delta_bias, delta_softplus, dims):
    bsz, d, l, n, g = dims
    dev = u.device
    u32, dt = _to_torch32(u, dev), _to_torch32(delta, dev)
    A32 = _to_torch32(A, dev)
    B32 = _to_torch32(B, dev).reshape(bsz, g, 1, n, l).expand(bsz, g, d // g, n, l).reshape(bsz, d, n, l)
    C32 = _to_torch32(C, dev).reshape(bsz, g, 1, n, l).expand(bsz, g, d // g, n, l).reshape(bsz, d, n, l)
    if delta_bias is not None:
        dt = dt + _to_torch32(delta_bias, dev)[:, None]
    if delta_softplus:
        dt = torch.nn.functional.softplus(dt)
    return u32, dt, A32, B32, C32


def _torch_finish(u, y, u32, D, z):
    out = y if D is None else y + u32 * _to_torch32(D, u.device)[:, None]
    if z is not None:
        out = out * torch.nn.functional.silu(_to_torch32(z, u.device))
    return out.to(u.dtype)


def _parallel_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, method, dims):
    u32, dt, A32, B32, C32 = _torch_scan_terms(u, delta, A, B, C, D, z, delta_bias, delta_softplus, dims)
    a = torch.exp(dt[:, :, None, :] * A32[None, :, :, None])            # (b, d, n, l)
    bb = (dt * u32)[:, :, None, :] * B32
    h = associative_scan(a, bb, axis=-1, method=method)
    y = (h * C32).sum(dim=2)
    out = _torch_finish(u, y, u32, D, z)
    return (out, h[..., -1]) if return_last_state else out


def selective_scan_torch_loop(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                              delta_softplus: bool = False, return_last_state: bool = False):
    """A plain PyTorch loop over time; same contract as :func:`selective_scan_ref`.

    Each of the ``l`` steps is a handful of small tensor operations on
    ``(b, d, n)``, so Python and dispatch overhead dominate at small widths.
    Differentiable.  NumPy inputs are converted and the result converted back.
    """
    dims = _validate(u, delta, A, B, C, D, z, delta_bias)[0]
    kind = _kind(u)
    ut = torch.from_numpy(np.ascontiguousarray(u)) if kind == "numpy" else u
    bsz, d, l, n, g = dims
    dev = ut.device
    u32, dt = _to_torch32(ut, dev), _to_torch32(delta, dev)
    if delta_bias is not None:
        dt = dt + _to_torch32(delta_bias, dev)[:, None]
    if delta_softplus:
        dt = torch.nn.functional.softplus(dt)
    # time-major copies, so that step t reads contiguous memory; channels as (g, d/g)
    dt_l = dt.reshape(bsz, g, d // g, l).movedim(-1, 0).contiguous()           # (l, b, g, d/g)
    du_l = (dt * u32).reshape(bsz, g, d // g, l).movedim(-1, 0).contiguous()
    B_l = _to_torch32(B, dev).reshape(bsz, g, 1, n, l).movedim(-1, 0).contiguous()  # (l, b, g, 1, n)
    C_l = _to_torch32(C, dev).reshape(bsz, g, 1, n, l).movedim(-1, 0).contiguous()
    A32 = _to_torch32(A, dev).reshape(g, d // g, n)
    h = torch.zeros(bsz, g, d // g, n, dtype=torch.float32, device=dev)
    ys = []
    # unbind once: indexing [t] inside the loop would make autograd build (and fill)
    # a full-size gradient for every single step
    for dt_t, du_t, B_t, C_t in zip(dt_l.unbind(0), du_l.unbind(0), B_l.unbind(0), C_l.unbind(0)):
        h = torch.exp(dt_t[..., None] * A32) * h + du_t[..., None] * B_t
        ys.append((h * C_t).sum(-1).reshape(bsz, d))
    out = _torch_finish(ut, torch.stack(ys, dim=-1), u32, D, z)
    h = h.reshape(bsz, d, n)
    if kind == "numpy":
        out, h = out.detach().numpy(), h.detach().numpy()
    return (out, h) if return_last_state else out


class _ScanFunction(torch.autograd.Function):
    """Autograd wrapper of the compiled CPU scan and its hand-written backward pass."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, groups):
        from ..kernels.scan_cpu import scan_train_forward

        b, d, l = u.shape
        n = A.shape[1]

        def np32(x):
            return None if x is None else np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())

        out, saved = scan_train_forward(np32(u), np32(delta), np32(A), np32(B).reshape(b, groups, n, l),
                                        np32(C).reshape(b, groups, n, l), np32(D), np32(z), np32(delta_bias),
                                        delta_softplus)
        ctx.saved = saved
        ctx.meta = (u.dtype, B.shape, C.shape, D is not None, z is not None, delta_bias is not None)
        return torch.from_numpy(out).to(u.dtype)

    @staticmethod
    def backward(ctx, dout):
        from ..kernels.scan_cpu import scan_train_backward

        dtype, B_shape, C_shape, has_D, has_z, has_bias = ctx.meta
        du, ddelta, dA, dB, dC, dD, dz, dbias = scan_train_backward(dout.detach().float().numpy(), ctx.saved)
        t = torch.from_numpy
        return (t(du), t(ddelta), t(dA), t(dB).reshape(B_shape), t(dC).reshape(C_shape),
                t(dD) if has_D else None, t(dz) if has_z else None, t(dbias) if has_bias else None, None, None)


def selective_scan_autograd(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                            delta_softplus: bool = False):
    """The compiled CPU scan with gradients: torch tensors in, ``out`` ``(b, d, l)`` out.

    Same arguments as :func:`selective_scan_ref` (torch tensors on the CPU).
    The forward pass is the numba loop of :func:`selective_scan` (keeping every
    state, ``4*b*d*l*n`` bytes); the backward pass is a second compiled loop
    that runs backwards in time, carrying ``dL/dh``.  Gradients agree with
    autograd through :func:`selective_scan_torch_loop` to float32 precision,
    an order of magnitude faster for the tiny models of the lessons.
    """
    (b, d, l, n, g), _ = _validate(u, delta, A, B, C, D, z, delta_bias)
    for name, x in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z),
                    ("delta_bias", delta_bias)):
        if x is not None and (not isinstance(x, torch.Tensor) or x.device.type != "cpu"):
            raise TypeError(f"{name} must be a torch tensor on the CPU")
    return _ScanFunction.apply(u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus), g)
