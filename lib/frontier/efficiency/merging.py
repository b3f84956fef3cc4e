"""Model merging: task arithmetic, TIES, DARE and SLERP on state dicts.

A *task vector* is ``tau = theta_ft - theta_base`` (Ilharco et al. 2023).
Merges combine several fine-tunes of one base:

* task arithmetic: ``theta = theta_base + sum_t w_t tau_t``;
* TIES (Yadav et al. 2023): trim each ``tau_t`` to its top-``density``
  fraction by magnitude, elect a sign per entry, ``sgn(sum_t w_t tau_t)``
  (mergekit's ``'sum'`` method), and take the weighted mean of the trimmed
  values that agree with it (the *disjoint mean*), then ``theta_base + lam * tau``;
* DARE (Yu et al. 2024): drop each entry of ``tau_t`` with probability ``p``
  and rescale the survivors by ``1 / (1 - p)``, then task arithmetic;
* SLERP: spherical interpolation of two models, per tensor, falling back to
  linear interpolation when the tensors are nearly parallel (mergekit's
  ``slerp.py``, threshold 0.9995).

State dicts map names to tensors; only floating-point tensors are merged
(others are copied from the base).  Arithmetic runs in float64 and the
result is cast back, so the identities below hold bit for bit (the
difference of two float32 numbers is exact in float64): task arithmetic with
one task vector at weight 1 returns the fine-tune; TIES at density 1 with one
task vector, and DARE at ``p = 0``, reduce to task arithmetic; SLERP of a
model with itself returns it.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from ..validation import fraction, nonnegative_float, rng as make_rng

__all__ = ["task_vector", "task_arithmetic", "ties_merge", "dare", "dare_merge", "slerp", "slerp_tensor",
           "load_merged", "toy_merge_sweep", "merge_sweep"]

StateDict = Mapping[str, torch.Tensor]


def _check_like(base: StateDict, other: StateDict, what: str) -> None:
    if set(base) != set(other):
        missing = sorted(set(base) ^ set(other))[:3]
        raise ValueError(f"{what} must have the same keys as the base (differ at {missing})")
    for k, v in base.items():
        if tuple(v.shape) != tuple(other[k].shape):
            raise ValueError(f"{what}[{k!r}] has shape {tuple(other[k].shape)}, the base {tuple(v.shape)}")


def _float(t: torch.Tensor) -> bool:
    return t.is_floating_point()


def task_vector(finetuned: StateDict, base: StateDict) -> Dict[str, torch.Tensor]:
    """``finetuned - base`` per floating-point tensor, in float64."""
    _check_like(base, finetuned, "finetuned")
    return {k: finetuned[k].detach().double() - v.detach().double() for k, v in base.items() if _float(v)}


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float).ravel()
    if w.size != n or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be {n} finite numbers (one per task vector), got {weights!r}")
    return w


def _assemble(base: StateDict, delta: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    out = {}
    for k, v in base.items():
        if k in delta:
            out[k] = (v.detach().double() + delta[k]).to(v.dtype)
        else:
            out[k] = v.detach().clone()
    return out


def _check_vectors(base: StateDict, vectors: Sequence[Mapping[str, torch.Tensor]]) -> None:
    if len(vectors) == 0:
        raise ValueError("pass at least one task vector")
    keys = {k for k, v in base.items() if _float(v)}
    for i, tv in enumerate(vectors):
        if set(tv) != keys:
            raise ValueError(f"task vector {i} must cover the base's floating-point tensors")


def task_arithmetic(base: StateDict, task_vectors: Sequence[Mapping[str, torch.Tensor]],
                    weights: Optional[Sequence[float]] = None) -> Dict[str, torch.Tensor]:
    """``base + sum_t weights[t] * task_vectors[t]`` (weights default to 1)."""
    _check_vectors(base, task_vectors)
    w = _weights(weights, len(task_vectors))
    delta = {k: sum(float(wi) * tv[k].double() for wi, tv in zip(w, task_vectors)) for k in task_vectors[0]}
    return _assemble(base, delta)


def _trim(t: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the ``density`` fraction of entries with the largest magnitude (ties at the threshold kept)."""
    if density >= 1.0:
        return t
    k = int(round(density * t.numel()))
    if k <= 0:
        return torch.zeros_like(t)
    thresh = t.abs().flatten().kthvalue(t.numel() - k + 1).values
    return torch.where(t.abs() >= thresh, t, torch.zeros_like(t))


def ties_merge(base: StateDict, task_vectors: Sequence[Mapping[str, torch.Tensor]], *, density: float = 0.2,
               weights: Optional[Sequence[float]] = None, lam: float = 1.0) -> Dict[str, torch.Tensor]:
    """TIES-merging: trim to ``density``, elect signs, disjoint (weighted) mean, scale by ``lam``.

    ``density`` in (0, 1] is the fraction of each task vector's entries kept
    per tensor (the paper's k%).  Entries where no task agrees with the
    elected sign stay at the base value.
    """
    _check_vectors(base, task_vectors)
    d = fraction("density", density)
    if d == 0:
        raise ValueError("density must lie in (0, 1]")
    w = _weights(weights, len(task_vectors))
    lam = float(lam)
    delta = {}
    for k in task_vectors[0]:
        trimmed = torch.stack([float(wi) * _trim(tv[k].double(), d) for wi, tv in zip(w, task_vectors)])
        sign = torch.sign(trimmed.sum(0))
        agree = (torch.sign(trimmed) == sign) & (trimmed != 0)
        wmask = torch.as_tensor(w, dtype=torch.float64).view(-1, *([1] * (trimmed.ndim - 1))) * agree
        num = (trimmed * agree).sum(0)
        den = wmask.sum(0)
        merged = torch.where(den != 0, num / torch.where(den != 0, den, torch.ones_like(den)), torch.zeros_like(num))
        delta[k] = lam * merged if lam != 1.0 else merged
    return _assemble(base, delta)


def dare(task_vector_: Mapping[str, torch.Tensor], p: float, seed=0) -> Dict[str, torch.Tensor]:
    """Drop each entry with probability ``p`` and rescale the rest by ``1/(1 - p)`` (``p`` in [0, 1))."""
    p = fraction("p", p)
    if p >= 1:
        raise ValueError(f"p (the drop rate) must lie in [0, 1), got {p}")
    if p == 0:
        return {k: v.double().clone() for k, v in task_vector_.items()}
    gen = make_rng(seed)
    out = {}
    for k in sorted(task_vector_):
        v = task_vector_[k].double()
        keep = torch.from_numpy(gen.random(tuple(v.shape)) >= p)
        out[k] = torch.where(keep, v / (1.0 - p), torch.zeros_like(v))
    return out


def dare_merge(base: StateDict, task_vectors: Sequence[Mapping[str, torch.Tensor]], *, p: float = 0.9,
               weights: Optional[Sequence[float]] = None, seed=0) -> Dict[str, torch.Tensor]:
    """DARE then task arithmetic (each task vector gets its own random mask from ``seed``)."""
    _check_vectors(base, task_vectors)
    gen = make_rng(seed)
    dropped = [dare(tv, p, gen) for tv in task_vectors]
    return task_arithmetic(base, dropped, weights)


def slerp_tensor(v0: torch.Tensor, v1: torch.Tensor, t: float, dot_threshold: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation between two tensors treated as flat vectors (float64 result).

    ``theta = arccos(v0_hat . v1_hat)``; result ``sin((1-t) theta)/sin(theta) v0 + sin(t theta)/sin(theta) v1``;
    when ``|cos theta| > dot_threshold``, linear interpolation ``v0 + t (v1 - v0)`` (exact when ``v0 == v1``).
    """
    a, b = v0.detach().double(), v1.detach().double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return a + t * (b - a)
    dot = float((a.flatten() @ b.flatten()) / (na * nb))
    if abs(dot) > dot_threshold:
        return a + t * (b - a)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    s = np.sin(theta)
    return (np.sin((1 - t) * theta) / s) * a + (np.sin(t * theta) / s) * b


def slerp(model_a: StateDict, model_b: StateDict, t: float, dot_threshold: float = 0.9995) -> Dict[str, torch.Tensor]:
    """SLERP of two state dicts tensor by tensor; ``t = 0`` gives ``model_a``, ``t = 1`` (about) ``model_b``."""
    _check_like(model_a, model_b, "model_b")
    t = fraction("t", t)
    nonnegative_float("dot_threshold", dot_threshold)
    return {k: (slerp_tensor(v, model_b[k], t, dot_threshold).to(v.dtype) if _float(v) else v.detach().clone())
            for k, v in model_a.items()}


def load_merged(model: torch.nn.Module, state: StateDict) -> torch.nn.Module:
    """A deep copy of ``model`` with ``state`` loaded (strict), in eval mode."""
    import copy

    out = copy.deepcopy(model)
    out.load_state_dict(state, strict=True)
    return out.eval()


def toy_merge_sweep(methods=("task_arithmetic", "ties", "dare", "slerp"), seed: int = 0) -> Dict[str, dict]:
    """A merge sweep on two linear-regression "fine-tunes" (cheap, real): R^2 on each task against each knob.

    Base: ``w = 0`` over 64 weights.  Task ``t`` has data ``y = X w_t``
    with ``w_t`` sparse (16 nonzeros, 4 shared between the tasks); its
    fine-tune is ``w_t`` itself.  Knobs: task-arithmetic weight, TIES
    density, DARE drop rate, SLERP ``t``.  Returns ``{method: {"knob":
    name, "values": [...], "score_a": [...], "score_b": [...]}}``; the
    default data of the merge explorer before a lesson passes its own.
    """
    gen = np.random.default_rng(seed)
    d = 64
    idx_a = gen.choice(d, 16, replace=False)
    idx_b = np.concatenate([idx_a[:4], gen.choice(np.setdiff1d(np.arange(d), idx_a), 12, replace=False)])
    wa, wb = np.zeros(d), np.zeros(d)
    wa[idx_a] = gen.normal(0, 1, 16)
    wb[idx_b] = gen.normal(0, 1, 16)
    X = gen.normal(0, 1, (256, d))
    base = {"w": torch.zeros(d, dtype=torch.float64)}
    fa, fb = {"w": torch.from_numpy(wa)}, {"w": torch.from_numpy(wb)}
    tvs = [task_vector(fa, base), task_vector(fb, base)]

    def r2(w, wt):
        y, yh = X @ wt, X @ w
        return float(1 - ((y - yh) ** 2).sum() / (y ** 2).sum())

    knobs = {"task_arithmetic": ("weight", [0.25, 0.5, 0.75, 1.0]), "ties": ("density", [0.1, 0.2, 0.5, 1.0]),
             "dare": ("drop rate p", [0.0, 0.5, 0.9, 0.99]), "slerp": ("t", [0.0, 0.25, 0.5, 0.75, 1.0])}
    out = {}
    for m in methods:
        name, values = knobs[m]
        sa, sb = [], []
        for v in values:
            if m == "task_arithmetic":
                w = task_arithmetic(base, tvs, [v, v])["w"]
            elif m == "ties":
                w = ties_merge(base, tvs, density=v)["w"]
            elif m == "dare":
                w = dare_merge(base, tvs, p=v, seed=seed)["w"]
            else:
                w = slerp(fa, fb, v)["w"]
            sa.append(r2(w.numpy(), wa))
            sb.append(r2(w.numpy(), wb))
        out[m] = {"knob": name, "values": values, "score_a": sa, "score_b": sb}
    return out


def merge_sweep(base_model: torch.nn.Module, finetuned: Sequence[torch.nn.Module], score_fns: Sequence, *,
                knobs: Optional[Mapping[str, Sequence[float]]] = None, seed: int = 0) -> Dict[str, dict]:
    """Merge two fine-tunes of ``base_model`` with every method at each knob value and score on both tasks.

    ``score_fns``: two callables ``model -> float`` (e.g. accuracy on task A
    and on task B).  ``knobs`` default: task arithmetic weight (both task
    vectors), TIES density, DARE drop rate (task weights 1), SLERP t.
    Returns the format :func:`toy_merge_sweep` returns.
    """
    if len(finetuned) != 2 or len(score_fns) != 2:
        raise ValueError("merge_sweep compares exactly two fine-tunes on two tasks")
    knobs = dict(knobs or {"task_arithmetic": [0.25, 0.5, 0.75, 1.0], "ties": [0.1, 0.2, 0.5, 1.0],
                           "dare": [0.0, 0.5, 0.9, 0.99], "slerp": [0.0, 0.25, 0.5, 0.75, 1.0]})
    names = {"task_arithmetic": "weight", "ties": "density", "dare": "drop rate p", "slerp": "t"}
    base = base_model.state_dict()
    fts = [m.state_dict() for m in finetuned]
    tvs = [task_vector(f, base) for f in fts]
    out = {}
    for method, values in knobs.items():
        sa, sb = [], []
        for v in values:
            if method == "task_arithmetic":
                state = task_arithmetic(base, tvs, [v, v])
            elif method == "ties":
                state = ties_merge(base, tvs, density=v)
            elif method == "dare":
                state = dare_merge(base, tvs, p=v, seed=seed)
            elif method == "slerp":
                state = slerp(fts[0], fts[1], v)
            else:
                raise ValueError(f"unknown merge method {method!r}; use {list(names)}")
            m = load_merged(base_model, state)
            sa.append(float(score_fns[0](m)))
            sb.append(float(score_fns[1](m)))
        out[method] = {"knob": names[method], "values": list(values), "score_a": sa, "score_b": sb}
    return out
