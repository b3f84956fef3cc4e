"""Mixture of experts: routing, capacity, auxiliary losses and a torch MoE layer.

Shape letters used below:

* ``T``  tokens routed together (a batch flattened over sequence positions)
* ``E``  experts in the layer
* ``k``  experts chosen per token
* ``d``  model width (``d_model``), ``f`` the hidden width of one expert

The pieces, in the order a token meets them:

1. :func:`route`: router logits ``(T, E)`` -> softmax over experts -> keep the
   ``k`` largest probabilities -> divide them by their sum.  This is what the
   Hugging Face ``MixtralSparseMoeBlock`` does.  Mixtral's reference code
   instead keeps the ``k`` largest *logits* and takes a softmax over those
   ``k``; the two give the same experts and the same weights, because softmax
   is monotone and renormalising a subset of softmax outputs is a softmax over
   that subset (the common denominator cancels).  ``tests`` check this.
2. :func:`expert_capacity` and :func:`assign_to_capacity`: every expert
   processes at most ``capacity`` token assignments; the rest are dropped.
3. :class:`SwiGLUExpert`: ``w2(silu(w1 x) * w3 x)``, Mixtral's expert.
4. :class:`MoELayer`: the routed sum ``sum_j w_j * expert_{e_j}(x)`` over the
   assignments that were kept.
5. :func:`load_balancing_loss` (Switch Transformer) and :func:`router_z_loss`
   (ST-MoE), added to the language-model loss during training.
6. :func:`routing_statistics`: load per expert, drop rate, entropies and the
   coefficient of variation of the load, for plots and tests.

Sources: Fedus et al. 2021 (Switch Transformer), Zoph et al. 2022 (ST-MoE),
Jiang et al. 2024 (Mixtral), Shazeer et al. 2017 (noisy top-k gating); see
``shared/reference/facts.md`` section 3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validation import choice, nonnegative_float, positive_float, positive_int

__all__ = [
    "DROP_POLICIES",
    "Routing",
    "Assignment",
    "RoutingStats",
    "MoEOutput",
    "route",
    "expert_capacity",
    "assign_to_capacity",
    "load_balancing_loss",
    "router_z_loss",
    "routing_statistics",
    "SwiGLUExpert",
    "MoELayer",
    "token_clusters",
    "fit_router_to_preferences",
]

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


# --------------------------------------------------------------------------- a toy routing problem

def token_clusters(n_tokens: int = 96, d_model: int = 16, n_clusters: int = 6, *, spread: float = 1.0,
                   seed: int = 0) -> tuple:
    """Synthetic token representations in clusters of unequal size (for the routing visualiser).

    Cluster ``c`` is drawn with probability proportional to ``1/(c+1)`` (a
    Zipf-like mix: a few common kinds of token, several rare ones); a token is
    its cluster's centre plus Gaussian noise of width ``spread``.

    Returns:
        ``(x, labels)``: ``x`` ``(T, d)`` float32, ``labels`` ``(T,)`` int64 cluster ids.
    """
    n_tokens = positive_int("n_tokens", n_tokens)
    d_model = positive_int("d_model", d_model)
    n_clusters = positive_int("n_clusters", n_clusters)
    spread = nonnegative_float("spread", spread)
    g = torch.Generator().manual_seed(int(seed))
    weights = 1.0 / torch.arange(1, n_clusters + 1, dtype=torch.float32)
    labels = torch.multinomial(weights, n_tokens, replacement=True, generator=g)
    centres = 2.0 * torch.randn(n_clusters, d_model, generator=g)
    x = centres[labels] + spread * torch.randn(n_tokens, d_model, generator=g)
    return x, labels


def _toy_objective(weight: np.ndarray, x: np.ndarray, preference: np.ndarray, k: int, balance_coef: float,
                   z_coef: float) -> tuple:
    """Value and gradient (w.r.t. ``weight`` ``(E, d)``) of the toy router objective, in NumPy.

    ``-mean_t sum_e p_te pref_te + balance_coef * E * sum_i f_i P_i + z_coef * mean_t lse_t**2``.
    The counts ``f`` are constants (as in :func:`load_balancing_loss`).  A test
    checks value and gradient against torch autograd of the library's losses.
    """
    T, E = preference.shape
    z = x @ weight.T                                                  # (T, E)
    zmax = z.max(axis=1, keepdims=True)
    ez = np.exp(z - zmax)
    lse = np.log(ez.sum(axis=1, keepdims=True)) + zmax                # (T, 1)
    p = np.exp(z - lse)
    top = np.argpartition(-p, k - 1, axis=1)[:, :k]
    f = np.bincount(top.ravel(), minlength=E) / (T * k)
    value = (-(p * preference).sum(axis=1).mean() + balance_coef * E * float(f @ p.mean(axis=0))
             + z_coef * float((lse ** 2).mean()))
    # d(value)/dp, then through the softmax: dz = p * (g - sum_e p_e g_e)
    g = -preference / T + balance_coef * E * f[None, :] / T
    dz = p * (g - (p * g).sum(axis=1, keepdims=True)) + (2 * z_coef / T) * lse * p
    return value, dz.T @ x


def fit_router_to_preferences(x: torch.Tensor, labels: torch.Tensor, n_experts: int, k: int, *,
                              balance_coef: float = 0.0, z_coef: float = 1e-2, steps: int = 30,
                              lr: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Train a linear router on a toy objective; returns its weight ``(E, d)``.

    A stand-in for experts that have specialised: every cluster gets a random
    (seeded) preference score for each expert, and the router is trained to
    maximise the expected preference of its choices,
    ``-mean_t sum_e p_e(x_t) * pref[label_t, e]``, plus
    ``balance_coef * load_balancing_loss`` and a small z-loss.  With
    ``balance_coef = 0`` the router follows the preferences and the load is
    as uneven as the clusters; a large coefficient spreads it.  The task term
    is of order 1, so the useful coefficients here are larger than the 0.01
    of an LM's cross-entropy.  Full-batch Adam for ``steps`` steps, written in
    NumPy (a few ms, so the routing visualiser can retrain on every change).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError("x must be a (tokens, d_model) tensor")
    n_experts = positive_int("n_experts", n_experts)
    k = _check_k(k, n_experts)
    balance_coef = nonnegative_float("balance_coef", balance_coef)
    z_coef = nonnegative_float("z_coef", z_coef)
    steps = positive_int("steps", steps)
    lr = positive_float("lr", lr)
    g = torch.Generator().manual_seed(int(seed))
    n_clusters = int(labels.max().item()) + 1
    preference = torch.randn(n_clusters, n_experts, generator=g)[labels].double().numpy()     # (T, E)
    xs = x.detach().double().numpy()
    w = np.zeros((n_experts, xs.shape[1]))
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        _, grad = _toy_objective(w, xs, preference, k, balance_coef, z_coef)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        w -= lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
    return torch.from_numpy(w).float()
