"""Exercise 5 (state-space model against transformer): cases, timings, scan depth and expected values.

* Part A's expected costs come from :mod:`frontier.architecture.costs` (``dense`` and ``mamba`` cost models), and
  its derived quantities (the length at which attention's mixing FLOPs reach the scan's, the longest context
  whose KV cache fits) are found by searching those cost models, not by a closed form typed here.
* Parts B and C run the student's scans on :func:`scan_cases` / :func:`linear_scan_cases` and compare
  :func:`fingerprint` s of the outputs with those of :mod:`frontier.architecture.ssm`'s reference scans.
* Part C's "no loop" rule is checked by :func:`depth_combine`: a ``combine`` that returns, instead of the
  composed step, the depth of the combination tree that produced each element. A log-depth scan gives
  ``ceil(log2 L)`` to ``2 ceil(log2 L)``; a sequential loop gives ``L - 1``, whatever it calls.
* Part D's timings (:func:`cpu_like_timings`) have the shape real CPUs show: a fixed cost per call plus a linear
  term (and a quadratic one for attention), with multiplicative noise, so the fitted attention exponent is below 2
  over short lengths and approaches 2 over long ones. Expected fits come from :mod:`frontier.timing`.

:func:`frozen_values` computes everything the hidden tests compare with; ``python -m frontier.grading freeze``
writes it into the hidden cells.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..architecture import costs as _costs
from ..architecture import ssm as _ssm
from ..architecture.ssm import random_scan_inputs
from ..validation import positive_int

__all__ = ["LIBRARY_FORBIDDEN", "MAY_CALL", "MUST_WRITE", "scan_cases", "linear_scan_cases", "fingerprint",
           "fingerprints_close", "depth_combine", "scan_depths", "cpu_like_timings", "local_slopes",
           "equal_flops_length", "longest_kv_context", "frozen_values"]

#: Modules whose functions raise while a graded function of Exercise 5 runs (see :mod:`frontier.exercises.guard`).
LIBRARY_FORBIDDEN = ("frontier.architecture.ssm", "frontier.architecture.costs", "frontier.architecture.mixer_timing",
                     "frontier.timing", "frontier.kernels.scan_cpu", "frontier.exercises.ex5_ssm_vs_transformer")
#: What the notebook tells students they may call.
MAY_CALL = ("numpy (np.polyfit, np.einsum, ...)", "math", "frontier.checks")
#: What students must write themselves (the graded functions).
MUST_WRITE = ("attention_mixing_flops", "ssm_scan_flops", "kv_cache_bytes", "ssm_state_bytes",
              "attention_score_bytes", "equal_flops_length", "longest_context", "selective_scan", "combine",
              "parallel_linear_scan", "fit_power_law", "crossover_length")


# -- Part A: the library's cost models, and quantities derived from them by search ----------------------------------
def _shape(d_model: int, n_layers: int = 1, bytes_per_elem: float = 2) -> "_costs.ModelShape":
    return _costs.ModelShape(d_model=d_model, n_heads=1, n_layers=n_layers, bytes_per_element=bytes_per_elem)


def _part_a_reference(T, d, L, H, E, N, k, b, causal) -> Dict[str, float]:
    """The five Part A costs from the cost models (one layer for FLOPs, ``L`` layers for memory)."""
    dense = _costs.dense([T], _shape(d, L, b), causal=causal)
    mamba = _costs.mamba([T], _shape(E // 2, L, b), d_state=N, expand=2, d_conv=k)
    return {
        "attention_mixing_flops": float(dense.mixing_flops[0]) / L,
        "ssm_scan_flops": float(mamba.mixing_flops[0]) / L,
        "kv_cache_bytes": float(dense.kv_cache_bytes[0]),
        "ssm_state_bytes": float(mamba.kv_cache_bytes[0]),
        "attention_score_bytes": float(H * _costs.attention_pairs(np.array([T]), causal=False)[0] * b),
    }


def _first_true(pred, hi: int = 1 << 40) -> int:
    """The smallest positive integer ``T`` with ``pred(T)`` (``pred`` monotone), by doubling and bisection."""
    if pred(1):
        return 1
    lo, up = 1, 2
    while not pred(up):
        lo, up = up, up * 2
        if up > hi:
            raise ValueError("no length up to the search limit satisfies the condition")
    while up - lo > 1:
        mid = (lo + up) // 2
        lo, up = (lo, mid) if pred(mid) else (mid, up)
    return up


def equal_flops_length(d_model: int, d_inner: int, d_state: int) -> int:
    """Shortest ``T`` at which one causal attention layer's mixing FLOPs reach one selective scan's (tokens).

    Found by searching :func:`frontier.architecture.costs.dense` and :func:`~frontier.architecture.costs.mamba`.
    """
    d, E, N = positive_int("d_model", d_model), positive_int("d_inner", d_inner), positive_int("d_state", d_state)
    if E % 2:
        raise ValueError(f"d_inner must be even (expand = 2 of some width), got {d_inner}")
    return _first_true(lambda T: _costs.dense([T], _shape(d), causal=True).mixing_flops[0]
                       >= _costs.mamba([T], _shape(E // 2), d_state=N, expand=2).mixing_flops[0])


def longest_kv_context(memory_bytes: float, d_model: int, n_layers: int, bytes_per_elem: float = 2) -> int:
    """Most tokens whose KV cache (all layers, one sequence) fits in ``memory_bytes`` (0 if not even one)."""
    shape = _shape(positive_int("d_model", d_model), positive_int("n_layers", n_layers), bytes_per_elem)
    fits = lambda T: _costs.dense([T], shape).kv_cache_bytes[0] <= memory_bytes  # noqa: E731
    if not fits(1):
        return 0
    return _first_true(lambda T: not fits(T)) - 1


# -- Parts B and C: unseen inputs, and comparing outputs ----------------------------------------------------------
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


def fingerprint(y) -> Dict[str, object]:
    """A compact summary of an output array, for comparing with frozen expectations.

    ``{"shape", "weighted", "norm", "first", "last"}``: the shape, ``sum(y * cos(0, 1, 2, ...))`` (sensitive to
    every element and to its position), the Euclidean norm and the first and last elements (floats).
    """
    y = np.asarray(y, dtype=np.float64)
    flat = y.ravel()
    w = np.cos(np.arange(flat.size))
    return {"shape": list(y.shape), "weighted": float(flat @ w), "norm": float(np.sqrt(flat @ flat)),
            "first": float(flat[0]) if flat.size else 0.0, "last": float(flat[-1]) if flat.size else 0.0}


def fingerprints_close(got: Dict[str, object], want: Dict[str, object], rtol: float = 1e-4,
                       atol: float = 1e-6) -> Optional[str]:
    """``None`` if two fingerprints agree, else a message saying what differs (for a test's assert)."""
    if list(got["shape"]) != list(want["shape"]):
        return f"shape {tuple(got['shape'])}, expected {tuple(want['shape'])}"
    scale = max(1.0, abs(want["norm"]))
    for key in ("weighted", "norm", "first", "last"):
        if not math.isclose(got[key], want[key], rel_tol=rtol, abs_tol=atol * scale):
            return f"wrong values ({key}: {got[key]:.6g}, expected {want[key]:.6g})"
    return None


def depth_combine(a1, b1, a2, b2):
    """A stand-in for the student's ``combine``: ``a`` composes as usual, ``b`` becomes a tree depth.

    Fed ``a = 1`` and ``b = 0`` everywhere, a scan built on it returns, at each position, the depth of the tree of
    combinations that produced it: ``max(depth_1, depth_2) + 1`` per combination.
    """
    return np.asarray(a2) * np.asarray(a1), np.maximum(np.asarray(b1, dtype=float), np.asarray(b2, dtype=float)) + 1.0


def scan_depths(scan, length: int, namespace: Optional[dict] = None) -> np.ndarray:
    """The combination depth of each output position when ``scan(a, b)`` runs with :func:`depth_combine`.

    ``namespace`` (the student's ``globals()``) has its ``combine`` replaced during the call, then restored.
    Returns an array of ``length`` depths (0 where nothing was combined).
    """
    length = positive_int("length", length)
    ns = namespace if namespace is not None else scan.__globals__
    saved = ns.get("combine")
    ns["combine"] = depth_combine
    try:
        out = scan(np.ones((1, length)), np.zeros((1, length)))
    finally:
        if saved is None:
            ns.pop("combine", None)
        else:
            ns["combine"] = saved
    return np.asarray(out, dtype=float).reshape(-1)[-length:]


# -- Part D: timings with the shape real CPUs show -----------------------------------------------------------------
def cpu_like_timings(seed: int, T: Optional[Sequence[int]] = None, noise: float = 0.03) -> Dict[str, np.ndarray]:
    """Seconds per call for an SSM scan and for attention, from a model of what CPUs measure.

    ``ssm = o_s + a T`` and ``attention = o_a + b T + c T^2`` (a fixed cost per call, a per-token cost, and
    attention's pairwise cost), each times ``exp(noise * N(0, 1))``. Coefficients are drawn from ``seed`` so
    that the curves cross between about 400 and 4000 tokens and attention's linear term matters up to a few
    hundred tokens: its fitted exponent is well below 2 over short lengths and close to 2 over long ones.
    ``T`` defaults to 7 to 11 lengths between 128-256 and 16384-32768. Returns ``{"T", "ssm", "attention"}``.
    """
    rng = np.random.default_rng(seed)
    if T is None:
        T = np.unique(np.round(np.geomspace(rng.integers(128, 257), rng.integers(16384, 32769),
                                            int(rng.integers(7, 12)))))
    T = np.asarray(T, dtype=float)
    if T.ndim != 1 or T.size < 2 or np.any(T <= 0):
        raise ValueError("T must be at least two positive lengths")
    a = 10 ** rng.uniform(-6.0, -5.0)                  # s per token of the scan
    cross = 10 ** rng.uniform(np.log10(400), np.log10(4000))
    c = a / cross                                      # s per token pair of attention
    b = c * 10 ** rng.uniform(np.log10(150), np.log10(600))
    o_s, o_a = a * 10 ** rng.uniform(1.0, 2.0), c * 10 ** rng.uniform(4.0, 5.0)
    jitter = lambda: np.exp(noise * rng.standard_normal(T.size))  # noqa: E731
    return {"T": T, "ssm": (o_s + a * T) * jitter(), "attention": (o_a + b * T + c * T * T) * jitter()}


def local_slopes(T, seconds) -> np.ndarray:
    """Log-log slopes between neighbouring points (``len(T) - 1`` values)."""
    lt, ls = np.log(np.asarray(T, float)), np.log(np.asarray(seconds, float))
    return np.diff(ls) / np.diff(lt)


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


# -- everything the hidden tests compare with ----------------------------------------------------------------
def frozen_values() -> Dict[str, object]:
    """Every expected value of Exercise 5's hidden tests (and the fixed timings of Part D), from the library."""
    import random

    from ..timing import crossover_from_fits, fit_power_law

    out: Dict[str, object] = {}
    rng = random.Random(55)
    part_a = []
    for _ in range(30):
        T, d, L, H = rng.randint(1, 200_000), rng.choice([64, 512, 4096, 8192]), rng.randint(1, 80), rng.choice([1, 8, 32, 64])
        N, k, b, causal = rng.choice([1, 4, 16, 64]), rng.choice([2, 4]), rng.choice([1, 2, 4]), rng.random() < 0.5
        part_a.append([[T, d, L, H, 2 * d, N, k, b, causal], _part_a_reference(T, d, L, H, 2 * d, N, k, b, causal)])
    out["_COST_CASES"] = part_a
    rng = random.Random(56)
    derived = []
    for _ in range(12):
        d = rng.choice([64, 256, 1024, 2560, 4096])
        E, N = 2 * d * rng.choice([1, 2]), rng.choice([4, 16, 64, 128])
        L, budget, b = rng.randint(1, 80), rng.choice([1e6, 2.5e8, 8e10, 141e9]), rng.choice([1, 2])
        derived.append([[d, E, N], equal_flops_length(d, E, N), [budget, d, L, b], longest_kv_context(budget, d, L, b)])
    out["_DERIVED_CASES"] = derived
    out["_SCAN_EXPECTED"] = [fingerprint(_ssm.selective_scan_ref(**kw)) for kw in scan_cases(12, seed=505)]
    out["_LINEAR_SCAN_EXPECTED"] = [fingerprint(_ssm.linear_scan(a, b)) for a, b in linear_scan_cases(15, seed=5050)]
    out["_SCAN_FROM_PARALLEL_EXPECTED"] = [fingerprint(_ssm.selective_scan_ref(**kw))
                                           for kw in scan_cases(4, seed=77, with_D=False)]
    timing_sets = []
    for seed in range(8):
        t = cpu_like_timings(seed)
        T, s, a = [int(x) for x in t["T"]], [_sig(x) for x in t["ssm"]], [_sig(x) for x in t["attention"]]
        fs, fa = fit_power_law(T, s), fit_power_law(T, a)
        timing_sets.append({"T": T, "ssm": s, "attention": a, "fit_ssm": list(fs), "fit_attention": list(fa),
                            "crossover": crossover_from_fits(fs, fa)})
    out["_TIMING_SETS"] = timing_sets
    fixed = cpu_like_timings(2026, T=[256, 512, 1024, 2048, 4096, 8192, 16384])
    out["T_MEASURED"] = [int(x) for x in fixed["T"]]
    out["SECONDS_SSM"] = [_sig(x) for x in fixed["ssm"]]
    out["SECONDS_ATTENTION"] = [_sig(x) for x in fixed["attention"]]
    fs = fit_power_law(out["T_MEASURED"], out["SECONDS_SSM"])
    fa = fit_power_law(out["T_MEASURED"], out["SECONDS_ATTENTION"])
    out["EXPECTED_FIT"] = {"ssm": [_sig(fs[0], 6), _sig(fs[1], 6)], "attention": [_sig(fa[0], 6), _sig(fa[1], 6)],
                           "crossover": _sig(crossover_from_fits(fs, fa), 6)}
    return out


# -- students who game the exercise (python -m frontier.grading rehearse) -----------------------------------------
def gaming_students() -> Dict[str, Dict[str, object]]:
    """Fake students who try to pass without doing the work, with the autograded score a TA would give them.

    ``{kind: {"answers": {grade_id: answer source}, "auto_score": points, "ta": why}}``; answer cells not listed
    keep the instructor's solution. :mod:`frontier.grading.rehearsal` submits them and checks the scores.
    """
    fit = frozen_values()["EXPECTED_FIT"]
    delegates = {
        "ex5-scan": """def selective_scan(u, delta, A, B, C, D=None):
    from frontier.architecture.ssm import selective_scan_ref
    return selective_scan_ref(u, delta, A, B, C, D)""",
        "ex5-parallel": """import frontier.architecture.ssm as ssm


def combine(a1, b1, a2, b2):
    return a2 * a1, a2 * b1 + b2


def parallel_linear_scan(a, b):
    return ssm.linear_scan(np.asarray(a, dtype=float), np.asarray(b, dtype=float))""",
        "ex5-fit": """from frontier.timing import crossover_from_fits, fit_power_law


def crossover_length(T, seconds_a, seconds_b):
    return crossover_from_fits(fit_power_law(T, seconds_a), fit_power_law(T, seconds_b))""",
    }
    sequential = {
        "ex5-parallel": """def combine(a1, b1, a2, b2):
    return a2 * a1, a2 * b1 + b2


def parallel_linear_scan(a, b):
    # one combine per position: right values, but L - 1 steps deep
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    acc_a, acc_b = a[..., 0], b[..., 0]
    out = [acc_b]
    for t in range(1, a.shape[-1]):
        acc_a, acc_b = combine(acc_a, acc_b, a[..., t], b[..., t])
        out.append(acc_b)
    return np.stack(out, axis=-1)""",
    }
    hardcodes = {
        "ex5-fit": f"""def fit_power_law(T, seconds):
    # the numbers the visible tests expect, whatever the input
    return {tuple(fit["ssm"])!r} if seconds[0] > 3e-4 else {tuple(fit["attention"])!r}


def crossover_length(T, seconds_a, seconds_b):
    return None if len(T) == 3 else {fit["crossover"]!r}""",
    }
    return {
        "delegates": {"answers": delegates, "auto_score": 6.0,
                      "ta": "Part A only (6 points): the scans and the fits call the course library"},
        "sequential": {"answers": sequential, "auto_score": 17.0,
                       "ta": "all but Part C's hidden 3 points: the values are right, but the 'parallel' scan is a "
                             "loop over positions, L - 1 combine steps deep"},
        "hardcodes": {"answers": hardcodes, "auto_score": 18.0,
                      "ta": "all but Part D's hidden 2 points: the fits return the visible tests' numbers "
                            "whatever the timings"},
    }
