"""Compute-optimal training: the Chinchilla loss fit, its closed-form optimum, iso-FLOP curves, and our own fit.

The parametric loss of Hoffmann et al. (2022, "approach 3")::

    L(N, D) = E + A / N**alpha + B / D**beta

``N`` parameters (without embeddings), ``D`` training tokens, ``L`` in nats
per token.  With training compute ``C = 6 N D`` FLOPs, minimising ``L`` along
the iso-FLOP line gives (facts.md section 9)::

    G = (alpha A / (beta B)) ** (1 / (alpha + beta))
    N_opt = G (C / 6) ** (beta / (alpha + beta)),   D_opt = (C / 6) / N_opt

Two published parameter sets are in :data:`FITS`: Hoffmann et al.'s as
rounded in the paper's text, and the Epoch AI replication (Besiroglu et al.
2024), which refitted the paper's own data points and found different
exponents.  :func:`fit_loss_surface` fits the same formula to *our* runs
(scipy least squares on log-losses, ``E`` held fixed at a known entropy rate)
and :func:`bootstrap_fit` gives percentile intervals by resampling runs.
:func:`isoflop_minima` is Chinchilla's "approach 2": a parabola in ``log N``
through the runs of one compute budget, and its vertex.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..validation import lookup, positive_float, positive_int, rng as make_rng

__all__ = ["LossFit", "FITS", "HOFFMANN", "HOFFMANN_TEX", "EPOCH", "CHINCHILLA_COMPUTE", "loss",
           "chinchilla_optimum", "optimum", "isoflop_curve", "tokens_per_parameter", "training_flops",
           "training_cost_dollars", "fit_loss_surface", "bootstrap_fit", "BootstrapResult", "isoflop_minima",
           "fit_power_law_frontier"]

#: Chinchilla's training compute (FLOPs): 6 x 70e9 parameters x 1.4e12 tokens, the budget the paper's figures use.
CHINCHILLA_COMPUTE = 5.88e23


@dataclass(frozen=True)
class LossFit:
    """Parameters of ``L = E + A / N**alpha + B / D**beta`` (nats/token; N parameters, D tokens)."""

    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str = ""

    def loss(self, n_params, n_tokens) -> np.ndarray:
        """Predicted loss (nats/token), broadcasting ``n_params`` against ``n_tokens``."""
        return loss(self, n_params, n_tokens)

    @property
    def a(self) -> float:
        """Exponent of N in ``N_opt ~ C**a``: ``beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D in ``D_opt ~ C**b``: ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)


#: Hoffmann et al. 2022, section 3.3 (rounded as printed): E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28.
HOFFMANN = LossFit("hoffmann", 1.69, 406.4, 410.7, 0.34, 0.28,
                   "Hoffmann et al. 2022 (Chinchilla), eq. 10 as printed")
#: The same fit with the exponents and E at the precision of the paper's TeX source (1.6934, 0.3392, 0.2849).
HOFFMANN_TEX = LossFit("hoffmann-tex", 1.6934, 406.4, 410.7, 0.3392, 0.2849,
                       "Hoffmann et al. 2022, TeX source precision")
#: Besiroglu et al. 2024 (Epoch AI), "Chinchilla Scaling: A replication attempt".
EPOCH = LossFit("epoch", 1.8172, 482.01, 2085.43, 0.3478, 0.3658,
                "Besiroglu, Erdil, Barnett, You 2024 (Epoch AI replication)")

FITS: Dict[str, LossFit] = {f.name: f for f in (HOFFMANN, HOFFMANN_TEX, EPOCH)}


def _fit(fit) -> LossFit:
    return lookup("fit", fit, FITS, LossFit)


def _positive_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return arr


def loss(fit, n_params, n_tokens) -> np.ndarray:
    """``E + A / N**alpha + B / D**beta`` (nats/token) for a fit (name or :class:`LossFit`); broadcasts."""
    f = _fit(fit)
    N = _positive_array("n_params", n_params)
    D = _positive_array("n_tokens", n_tokens)
    return f.E + f.A / N ** f.alpha + f.B / D ** f.beta


def training_flops(n_params, n_tokens) -> np.ndarray:
    """``C = 6 N D``: training FLOPs (forward + backward) for N parameters and D tokens (Kaplan et al. 2020)."""
    return 6.0 * _positive_array("n_params", n_params) * _positive_array("n_tokens", n_tokens)


def optimum(fit, compute) -> Tuple[np.ndarray, np.ndarray]:
    """The loss-minimising ``(N_opt, D_opt)`` at ``compute`` FLOPs (arrays broadcast like ``compute``)."""
    f = _fit(fit)
    C = _positive_array("compute", compute)
    G = (f.alpha * f.A / (f.beta * f.B)) ** (1.0 / (f.alpha + f.beta))
    n = G * (C / 6.0) ** f.a
    return n, (C / 6.0) / n


def chinchilla_optimum(compute: float, fit: str = "hoffmann") -> Tuple[float, float]:
    """Compute-optimal ``(n_params, n_tokens)`` for ``compute`` training FLOPs under a published fit.

    ``fit``: ``"hoffmann"`` (as printed), ``"hoffmann-tex"`` or ``"epoch"``.
    At Chinchilla's budget 5.88e23 FLOPs, Hoffmann gives N = 3.25e10 with
    about 93 tokens per parameter and Epoch N = 7.3e10 with about 18
    (facts.md section 9).
    """
    if isinstance(compute, bool) or not isinstance(compute, numbers.Real):
        raise TypeError(f"compute must be a number of FLOPs, got {type(compute).__name__}")
    positive_float("compute", compute)
    n, d = optimum(fit, compute)
    return float(n), float(d)


def tokens_per_parameter(fit, compute) -> np.ndarray:
    """``D_opt / N_opt`` at ``compute`` FLOPs under a fit."""
    n, d = optimum(fit, compute)
    return d / n


def isoflop_curve(fit, compute: float, n_params) -> np.ndarray:
    """Predicted loss of models of ``n_params`` trained with ``compute`` FLOPs (``D = C / 6N``)."""
    C = positive_float("compute", compute)
    N = _positive_array("n_params", n_params)
    return loss(fit, N, C / (6.0 * N))


def training_cost_dollars(compute: float, *, peak_flops: float, mfu: float, price_per_gpu_hour: float) -> Dict[str, float]:
    """GPU-hours and dollars to spend ``compute`` FLOPs on GPUs of ``peak_flops`` at utilisation ``mfu``.

    ``gpu_hours = compute / (peak_flops * mfu) / 3600``; ``dollars = gpu_hours * price_per_gpu_hour``.
    """
    C = positive_float("compute", compute)
    peak = positive_float("peak_flops", peak_flops)
    u = positive_float("mfu", mfu)
    if u > 1:
        raise ValueError(f"mfu must lie in (0, 1], got {mfu}")
    price = positive_float("price_per_gpu_hour", price_per_gpu_hour)
    hours = C / (peak * u) / 3600.0
    return {"gpu_hours": hours, "dollars": hours * price}


# --------------------------------------------------------------------------- fitting our own runs
def _check_runs(n_params, n_tokens, losses) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    N = _positive_array("n_params", n_params).ravel()
    D = _positive_array("n_tokens", n_tokens).ravel()
    L = _positive_array("losses", losses).ravel()
    if not (N.shape == D.shape == L.shape):
        raise ValueError(f"n_params, n_tokens and losses must have one entry per run, got {N.size}, {D.size}, "
                         f"{L.size}")
    if N.size < 4:
        raise ValueError(f"fitting four parameters needs at least 4 runs, got {N.size}")
    return N, D, L


def fit_loss_surface(n_params, n_tokens, losses, *, E: float, huber_delta: Optional[float] = 1e-3,
                     name: str = "ours", start: Optional[LossFit] = None) -> LossFit:
    """Fit ``A, B, alpha, beta`` of ``L = E + A/N**alpha + B/D**beta`` to runs, with ``E`` held fixed.

    Minimises the (Huber, as Hoffmann et al. did; ``huber_delta=None`` for
    plain squares) loss of the residuals ``log L_pred - log L_obs`` with
    :func:`scipy.optimize.least_squares` over ``(log A, log B, alpha, beta)``,
    started from a small grid of initial points (the surface has many local
    minima) and keeping the best.

    Args:
        n_params, n_tokens, losses: ``(R,)`` one entry per run (parameters,
            tokens, held-out loss in nats/token).
        E: the irreducible loss (nats/token), fixed (for our corpus: its entropy rate).
        start: start only from this fit (the bootstrap starts its refits at the point estimate).
    """
    from scipy.optimize import least_squares

    N, D, L = _check_runs(n_params, n_tokens, losses)
    E = float(E)
    if not np.isfinite(E) or E < 0:
        raise ValueError(f"E must be a finite number >= 0, got {E}")
    if np.any(L <= E):
        raise ValueError(f"every loss must exceed E = {E:.4f} (the irreducible loss); the smallest is {L.min():.4f}")
    logN, logD, logL = np.log(N), np.log(D), np.log(L)

    def resid(theta):
        la, lb, a, b = theta
        pred = E + np.exp(la - a * logN) + np.exp(lb - b * logD)
        return np.log(pred) - logL

    best = None
    kwargs = dict(loss="huber", f_scale=huber_delta) if huber_delta else {}
    if start is not None:
        x0s = [[math.log(start.A), math.log(start.B), start.alpha, start.beta]]
    else:
        # start where each term explains half the excess loss at the median run
        excess = float(np.median(L) - E) / 2
        x0s = [[math.log(excess) + a0 * float(np.median(logN)), math.log(excess) + b0 * float(np.median(logD)), a0, b0]
               for a0 in (0.2, 0.5, 1.0) for b0 in (0.2, 0.5, 1.0)]
    for x0 in x0s:
        x0 = np.clip(x0, [-50, -50, 1e-3, 1e-3], [80, 80, 2.999, 2.999])
        res = least_squares(resid, x0=x0, bounds=([-50, -50, 0.0, 0.0], [80, 80, 3.0, 3.0]), **kwargs)
        if best is None or res.cost < best.cost:
            best = res
    la, lb, a, b = best.x
    return LossFit(name, E, float(math.exp(la)), float(math.exp(lb)), float(a), float(b),
                   f"least squares on log-loss, {N.size} runs, E fixed")


@dataclass(frozen=True)
class BootstrapResult:
    """A point fit and ``(lo, hi)`` percentile intervals of each parameter over bootstrap refits."""

    fit: LossFit
    samples: Dict[str, np.ndarray]
    intervals: Dict[str, Tuple[float, float]]


def bootstrap_fit(n_params, n_tokens, losses, *, E: float, n_boot: int = 50, level: float = 0.9,
                  seed=0, huber_delta: Optional[float] = 1e-3) -> BootstrapResult:
    """:func:`fit_loss_surface` on ``n_boot`` resamples of the runs (with replacement); percentile intervals.

    ``level`` is the central coverage of the intervals (0.9: 5th to 95th
    percentile).  Also reports ``a = beta / (alpha + beta)``, the exponent of
    ``N_opt ~ C**a``.
    """
    N, D, L = _check_runs(n_params, n_tokens, losses)
    n_boot = positive_int("n_boot", n_boot)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    gen = make_rng(seed)
    point = fit_loss_surface(N, D, L, E=E, huber_delta=huber_delta)
    keys = ("A", "B", "alpha", "beta", "a")
    samples = {k: [] for k in keys}
    for _ in range(n_boot):
        idx = gen.integers(0, N.size, N.size)
        if np.unique(idx).size < 4:
            continue
        f = fit_loss_surface(N[idx], D[idx], L[idx], E=E, huber_delta=huber_delta, start=point)
        for k in keys:
            samples[k].append(getattr(f, k))
    arrays = {k: np.array(v) for k, v in samples.items()}
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    intervals = {k: (float(np.percentile(v, lo_q)), float(np.percentile(v, hi_q))) for k, v in arrays.items()}
    return BootstrapResult(point, arrays, intervals)


def isoflop_minima(n_params, n_tokens, losses, compute=None, *, rel_tol: float = 0.05) -> Dict[float, Dict[str, float]]:
    """Chinchilla's approach 2: for each compute budget, the vertex of a parabola in ``log N`` through its runs.

    Runs whose ``6 N D`` lies within ``rel_tol`` of a budget belong to it
    (``compute``: the budgets; default: the runs' ``6 N D`` values grouped
    where they lie within ``rel_tol`` of each other).  A
    budget needs 3 runs; if the parabola opens downwards or its vertex lies
    outside the runs, the best run is used instead (``"interpolated": 0``).

    Returns:
        ``{budget: {"n_opt", "d_opt", "loss", "interpolated"}}``.
    """
    N, D, L = (_positive_array(k, v).ravel() for k, v in
               (("n_params", n_params), ("n_tokens", n_tokens), ("losses", losses)))
    C = 6 * N * D
    if compute is None:                       # cluster the runs' 6ND values: runs within rel_tol share a budget
        budgets = []
        for c in np.sort(C):
            if not budgets or c / budgets[-1][0] - 1 > rel_tol:
                budgets.append([c])
            else:
                budgets[-1].append(c)
        budgets = [float(np.exp(np.mean(np.log(b)))) for b in budgets]
    else:
        budgets = [float(c) for c in np.ravel(compute)]
    out = {}
    for c in budgets:
        sel = np.abs(C / c - 1) <= rel_tol
        if sel.sum() < 3:
            continue
        x, y = np.log(N[sel]), L[sel]
        a2, a1, a0 = np.polyfit(x, y, 2)
        if a2 > 0 and x.min() <= -a1 / (2 * a2) <= x.max():
            xs = -a1 / (2 * a2)
            n_opt, l_opt, interp = math.exp(xs), float(a0 - a1 ** 2 / (4 * a2)), 1.0
        else:
            i = int(np.argmin(y))
            n_opt, l_opt, interp = float(N[sel][i]), float(y[i]), 0.0
        out[c] = {"n_opt": n_opt, "d_opt": c / (6 * n_opt), "loss": l_opt, "interpolated": interp}
    return out


def fit_power_law_frontier(compute, n_opt) -> Tuple[float, float]:
    """``(k, a)`` with ``N_opt ≈ k * C**a``: a line through ``(log C, log N_opt)`` (least squares)."""
    C = _positive_array("compute", compute).ravel()
    N = _positive_array("n_opt", n_opt).ravel()
    if C.size < 2 or C.size != N.size:
        raise ValueError("need at least two (compute, n_opt) pairs of equal length")
    a, logk = np.polyfit(np.log(C), np.log(N), 1)
    return float(math.exp(logk)), float(a)
