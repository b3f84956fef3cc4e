"""Support for the hidden tests of Exercise 5 (SSM against transformer).

The hidden tests compare a learner's functions with references: the cost
formulas below (the same conventions as :mod:`frontier.architecture.costs`:
2 FLOPs per multiply-add, causal attention scores ``T(T+1)/2`` pairs, a Mamba
layer's generation state ``d_inner * (d_state + d_conv - 1)`` numbers), the
library's selective scan and linear scan on shapes the learner has not seen,
and :mod:`frontier.timing`'s power-law fits on synthetic timings.
"""
from __future__ import annotations

import re
from typing import Dict, List, Tuple

import numpy as np

from ..architecture.ssm import random_scan_inputs
from ..validation import positive_int

__all__ = ["attention_mixing_flops", "ssm_scan_flops", "kv_cache_bytes", "ssm_state_bytes",
           "attention_score_bytes", "scan_cases", "linear_scan_cases", "synthetic_timings",
           "uses_library_scan"]


# -- Part A references --------------------------------------------------------------------
def attention_mixing_flops(T: int, d_model: int, causal: bool = True) -> float:
    """FLOPs of ``Q K^T`` and ``P V`` in one layer: ``4 * d_model * pairs``."""
    pairs = T * (T + 1) / 2 if causal else float(T) * T
    return 4.0 * d_model * pairs


def ssm_scan_flops(T: int, d_inner: int, d_state: int) -> float:
    """FLOPs of one layer's selective scan: 7 per state element per token."""
    return 7.0 * T * d_inner * d_state


def kv_cache_bytes(T: int, d_model: int, n_layers: int, bytes_per_elem: int = 2) -> float:
    """Keys and values of ``T`` tokens in every layer (no grouped-query attention)."""
    return 2.0 * T * d_model * n_layers * bytes_per_elem


def ssm_state_bytes(d_inner: int, d_state: int, n_layers: int, d_conv: int = 4, bytes_per_elem: int = 2) -> float:
    """What a Mamba model carries between tokens: the SSM state plus the convolution's last inputs."""
    return float(n_layers) * d_inner * (d_state + d_conv - 1) * bytes_per_elem


def attention_score_bytes(T: int, n_heads: int, bytes_per_elem: int = 2) -> float:
    """The ``T x T`` score matrices of one layer, all heads, when they are materialised."""
    return float(n_heads) * T * T * bytes_per_elem


# -- Parts B and C: unseen inputs -----------------------------------------------------------
def scan_cases(n: int, seed: int, with_D: bool = True) -> List[Dict[str, np.ndarray]]:
    """``n`` sets of selective-scan inputs (``u, delta, A, B, C`` and maybe ``D``) of random small shapes."""
    n = positive_int("n", n)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        b, d, l, s = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 40)),
                      int(rng.integers(1, 9)))
        kw = random_scan_inputs(b, d, l, s, seed=int(rng.integers(0, 2**31)), with_D=with_D and i % 2 == 0,
                                with_z=False)
        kw["A"] = kw["A"] * rng.uniform(0.2, 2.0, size=kw["A"].shape).astype(np.float32)
        cases.append(kw)
    return cases


def linear_scan_cases(n: int, seed: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """``n`` pairs ``(a, b)`` of equal random shapes, time last, lengths 1 to 70."""
    n = positive_int("n", n)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        shape = tuple(int(s) for s in rng.integers(1, 4, size=int(rng.integers(0, 3)))) + (int(rng.integers(1, 71)),)
        out.append((rng.uniform(-1.0, 1.0, size=shape), rng.standard_normal(shape)))
    return out


# -- Part D: timings with known exponents ---------------------------------------------------
def synthetic_timings(seed: int, noise: float = 0.05) -> Dict[str, np.ndarray]:
    """Timings ``c * T**p`` with multiplicative noise, for an SSM (``p`` near 1) and attention (near 2).

    Returns ``{"T", "ssm", "attention"}``; the exponents and coefficients are
    drawn from ``seed`` so that each set has its own crossover.
    """
    rng = np.random.default_rng(seed)
    T = np.unique(np.round(np.geomspace(rng.integers(64, 257), rng.integers(8192, 65537),
                                        int(rng.integers(6, 12))))).astype(float)
    p_ssm, p_att = rng.uniform(0.9, 1.1), rng.uniform(1.7, 2.1)
    c_ssm, c_att = 10 ** rng.uniform(-7, -5), 10 ** rng.uniform(-10, -8)
    jitter = lambda: np.exp(noise * rng.standard_normal(T.size))  # noqa: E731
    return {"T": T, "ssm": c_ssm * T ** p_ssm * jitter(), "attention": c_att * T ** p_att * jitter()}


_LIBRARY_SCAN = re.compile(r"\bfrontier\b|\bssm\.|\bselective_scan_(ref|parallel|torch_loop|autograd)\b"
                           r"|(?<![\w.])(associative_scan|linear_scan)\b")


def uses_library_scan(fn) -> bool:
    """True if the source of ``fn`` refers to one of the library's scans (which the exercise asks not to)."""
    import inspect

    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return False
    return bool(_LIBRARY_SCAN.search(src))
