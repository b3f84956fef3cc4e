"""Mixture of experts: routing, capacity, auxiliary losses and a torch MoE layer.

Shape letters used below (course-wide names in ``docs/glossary.md``):

* ``T``  tokens routed together (a batch flattened over sequence positions)
* ``E``  experts in the layer (``n_experts``)
* ``k``  experts chosen per token (``experts_per_token``)
* ``d_model`` model width, ``d_ff`` the hidden width of one expert

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

Items 1-6 are defined in :mod:`frontier.models.layers`, below the sections,
because the course's shared models are built from them; this module
re-exports them under the same names and adds the toy routing problem.

Sources: Fedus et al. 2021 (Switch Transformer), Zoph et al. 2022 (ST-MoE),
Jiang et al. 2024 (Mixtral), Shazeer et al. 2017 (noisy top-k gating); see
``shared/reference/facts.md`` section 3.
"""
from __future__ import annotations

from typing import Optional

import math

import numpy as np
import torch

from ..models.layers import (  # noqa: F401  (moved below the sections; re-exported here)
    DROP_POLICIES, Assignment, MoELayer, MoEOutput, Routing, RoutingStats, SwiGLUExpert, _check_k,
    assign_to_capacity, expert_capacity, load_balancing_loss, route, router_z_loss, routing_statistics,
)
from ..validation import nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = [
    "DROP_POLICIES", "route_with_router",
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
    "expert_parallel_bytes_per_token",
    "moe_layer_parameters",
    "expert_combinations",
]



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
    g = torch.Generator().manual_seed(nonnegative_int("seed", seed))
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
    g = torch.Generator().manual_seed(nonnegative_int("seed", seed))
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


def route_with_router(x: torch.Tensor, router_weight: torch.Tensor, d_ff: int, k: int = 2, *,
                      capacity_factor: Optional[float] = None, noise_std: float = 0.0, temperature: float = 1.0,
                      balance_coef: float = 1e-2, seed: int = 0) -> MoEOutput:
    """One forward pass of an :class:`MoELayer` whose router weights are given (no gradients).

    ``x`` ``(T, d_model)`` tokens; ``router_weight`` ``(n_experts, d_model)``
    (for example from :func:`fit_router_to_preferences`); experts of hidden
    width ``d_ff`` initialised from ``seed`` without touching torch's global
    random state.  Returns the layer's :class:`MoEOutput` (routing,
    assignment to capacity, balancing losses).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError("x must be a (tokens, d_model) tensor")
    if not isinstance(router_weight, torch.Tensor) or router_weight.dim() != 2 \
            or router_weight.shape[1] != x.shape[1]:
        raise ValueError(f"router_weight must be (n_experts, d_model={x.shape[1]}), "
                         f"got {tuple(getattr(router_weight, 'shape', ()))}")
    n_experts = int(router_weight.shape[0])
    seed = nonnegative_int("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = MoELayer(int(x.shape[1]), positive_int("d_ff", d_ff), n_experts, k,
                         capacity_factor=capacity_factor, noise_std=noise_std, temperature=temperature,
                         balance_coef=balance_coef, seed=seed)
    with torch.no_grad():
        layer.router.weight.copy_(router_weight)
        return layer(x)


# --------------------------------------------------------------------------- systems arithmetic
def expert_parallel_bytes_per_token(d_model: int, k: int, n_devices: int, bytes_per_element: float = 2.0) -> float:
    """Bytes one token sends over the network per MoE layer under expert parallelism (bytes).

    With the experts spread evenly over ``n_devices`` devices, each token's
    hidden vector (``d_model`` elements) is sent to the device of each of its
    ``k`` experts (the *dispatch* all-to-all) and each expert's output comes
    back (the *combine* all-to-all): ``2 k d_model`` elements, of which a
    fraction ``(n_devices - 1) / n_devices`` leaves the device under uniform
    routing.  Mixtral in bf16 over 8 devices: 2 * 2 * 4096 * 2 * 7/8 = 28,672
    bytes per token per layer.  (Tensor parallelism inside each expert and
    capacity padding add to this; top-k routing to the local device saves.)
    """
    d_model, k, n_devices = positive_int("d_model", d_model), positive_int("k", k), positive_int("n_devices", n_devices)
    e = positive_float("bytes_per_element", bytes_per_element)
    return 2.0 * k * d_model * e * (n_devices - 1) / n_devices


def moe_layer_parameters(d_model: int, d_ff: int, n_routed: int, k: int, n_shared: int = 0) -> dict:
    """Stored and active feed-forward parameters of one MoE layer with SwiGLU experts (counts).

    ``n_routed`` experts chosen ``k`` at a time by a router (``d_model *
    n_routed``), plus ``n_shared`` experts every token always uses
    (DeepSeekMoE's *shared experts*), each expert ``3 d_model d_ff``.
    Returns ``{"stored", "active", "router"}``.  Splitting every expert into
    ``m`` experts of width ``d_ff / m`` and routing ``m k`` of them
    (*fine-grained experts*) keeps ``stored`` and ``active`` (up to the router)
    while :func:`expert_combinations` grows enormously.
    """
    d_model, d_ff = positive_int("d_model", d_model), positive_int("d_ff", d_ff)
    n_routed, k = positive_int("n_routed", n_routed), positive_int("k", k)
    n_shared = nonnegative_int("n_shared", n_shared)
    if k > n_routed:
        raise ValueError(f"k ({k}) cannot exceed n_routed ({n_routed})")
    expert = 3 * d_model * d_ff
    router = d_model * n_routed
    return {"stored": (n_routed + n_shared) * expert + router,
            "active": (k + n_shared) * expert + router, "router": router}


def expert_combinations(n_routed: int, k: int) -> int:
    """How many different sets of ``k`` experts a token can be sent to: ``C(n_routed, k)``."""
    n_routed, k = positive_int("n_routed", n_routed), positive_int("k", k)
    if k > n_routed:
        raise ValueError(f"k ({k}) cannot exceed n_routed ({n_routed})")
    return math.comb(n_routed, k)
