"""Layered defences: when does stacking filters multiply their miss rates, and when does it not?

If layer ``j`` misses a harmful request with probability ``m_j`` and the layers fail independently, the request
gets through all of them with probability ``Π m_j``. Layers that share features fail together, and then the joint
miss rate can be as large as ``min m_j``. :func:`joint_miss_rate` computes it for a one-parameter family of
dependence (a Gaussian copula with equal pairwise correlation ρ of the layers' latent detection scores);
:func:`simulate_misses` draws miss indicators from the same model; :func:`measured_dependence` summarises miss
indicators measured on real detectors (:func:`frontier.alignment.redteam.layer_misses`).
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from scipy.stats import multivariate_normal, norm

from ..validation import positive_int, rng as make_rng

__all__ = ["joint_miss_rate", "simulate_misses", "measured_dependence", "binomial_interval"]


def _check(miss_rates: Sequence[float], rho: float) -> np.ndarray:
    m = np.asarray(miss_rates, dtype=float)
    if m.ndim != 1 or len(m) < 1:
        raise ValueError(f"miss_rates must be a 1-D sequence of probabilities, got shape {m.shape}")
    if np.any(~np.isfinite(m)) or np.any(m <= 0) or np.any(m >= 1):
        raise ValueError(f"miss_rates must lie in (0, 1), got {m.tolist()}")
    L = len(m)
    lo = -1.0 / (L - 1) if L > 1 else -1.0
    if not (lo < float(rho) < 1.0 or (L == 1)) and not (float(rho) == 1.0):
        raise ValueError(f"rho must lie in ({lo:.3g}, 1] for {L} layers, got {rho}")
    return m


def joint_miss_rate(miss_rates: Sequence[float], rho: float = 0.0) -> float:
    """P(every layer misses) when layer ``j`` misses with probability ``miss_rates[j]`` and the layers' latent
    scores are jointly Gaussian with pairwise correlation ``rho`` (0: independent, the product; 1: the minimum)."""
    m = _check(miss_rates, rho)
    if len(m) == 1:
        return float(m[0])
    if rho == 0.0:
        return float(np.prod(m))
    if rho == 1.0:
        return float(m.min())
    L = len(m)
    cov = np.full((L, L), float(rho))
    np.fill_diagonal(cov, 1.0)
    return float(multivariate_normal(mean=np.zeros(L), cov=cov).cdf(norm.ppf(m)))


def simulate_misses(miss_rates: Sequence[float], rho: float, n: int, *, seed=None) -> np.ndarray:
    """bool ``(n, L)`` miss indicators drawn from the model of :func:`joint_miss_rate`."""
    m = _check(miss_rates, rho)
    n = positive_int("n", n)
    g = make_rng(seed)
    shared = g.standard_normal((n, 1))
    own = g.standard_normal((n, len(m)))
    z = np.sqrt(max(rho, 0.0)) * shared + np.sqrt(1.0 - max(rho, 0.0)) * own if rho >= 0 else None
    if z is None:                                       # negative correlation: draw from the covariance directly
        cov = np.full((len(m), len(m)), float(rho))
        np.fill_diagonal(cov, 1.0)
        z = g.multivariate_normal(np.zeros(len(m)), cov, size=n)
    return z < norm.ppf(m)


def binomial_interval(k: int, n: int, z: float = 3.0) -> tuple:
    """Wilson score interval for a proportion ``k / n`` at ``z`` standard errors."""
    n = positive_int("n", n)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def measured_dependence(misses: np.ndarray) -> Dict[str, object]:
    """From measured miss indicators ``(n, L)``: each layer's miss rate, the joint miss rate, the product of the
    marginals (what independence would give), and the pairwise correlation (phi) matrix of the indicators."""
    M = np.asarray(misses, dtype=bool)
    if M.ndim != 2 or M.shape[0] < 2:
        raise ValueError(f"misses must be a (n, L) boolean array with n >= 2, got shape {M.shape}")
    rates = M.mean(axis=0)
    X = M.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.corrcoef(X.T) if M.shape[1] > 1 else np.ones((1, 1))
    return {"miss_rates": rates.tolist(), "joint": float(M.all(axis=1).mean()),
            "product": float(np.prod(rates)), "phi": np.nan_to_num(np.atleast_2d(phi), nan=0.0).tolist(),
            "n": int(M.shape[0])}
