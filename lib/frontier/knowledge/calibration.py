"""Calibration: ECE, reliability curves, NLL, Brier score, temperature scaling and selective prediction.

Notation: ``confidences`` ``(N,)`` in [0, 1] is the model's probability that its answer is right; ``correct``
``(N,)`` is 1 where it was.  A model is calibrated when, among answers given with confidence p, a share p is right.

* ECE (expected calibration error, Guo et al. 2017): split [0, 1] into ``n_bins`` equal-width bins
  (a confidence c falls in bin b when lo_b < c <= hi_b; c = 0 in the first), then
  ECE = Σ_b (n_b / N) · |accuracy_b − mean confidence_b|.  It is *not* a proper scoring rule: it can improve
  while the predictions get worse (a constant confidence equal to the overall accuracy has ECE 0).
* NLL (log loss, nats) and Brier score (mean squared error of the probability) are proper scoring rules.
* Temperature scaling divides logits by T > 0 before the softmax; T is fitted on held-out data by a bounded
  one-dimensional search over log T (``scipy.optimize.minimize_scalar``, method ``"bounded"``).  Dividing by a
  positive constant never changes the argmax, so accuracy is unchanged.
* Selective prediction answers only when confidence ≥ a threshold: coverage (share answered) against accuracy
  on the answered ones as the threshold moves.
* AUROC (``sklearn.metrics.roc_auc_score``) asks only how well a score *ranks* right above wrong answers: the
  chance that a random right answer scores higher than a random wrong one (0.5: no information).  It ignores the
  scale, so a score can rank well and be badly calibrated, or the reverse (:func:`score_report` gives both).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from ..validation import positive_int

__all__ = ["expected_calibration_error", "reliability_curve", "nll", "brier_score", "softmax",
           "multiclass_nll", "fit_temperature", "fit_temperature_logits", "sequence_confidence",
           "fit_temperature_sequences", "selective_prediction", "risk_coverage_area", "auroc", "score_report"]

_EPS = 1e-12


def _check(confidences, correct) -> Tuple[np.ndarray, np.ndarray]:
    p = np.asarray(confidences, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"confidences and correct must be 1-D of one length, got shapes {p.shape} and {y.shape}")
    if p.size == 0:
        raise ValueError("confidences must not be empty")
    if not np.all(np.isfinite(p)) or (p < 0).any() or (p > 1).any():
        raise ValueError("confidences must lie in [0, 1]")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("correct must hold only 0/1 or booleans")
    return p, y


def _bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each confidence: lo < c <= hi, with c = 0 in bin 0."""
    return np.clip(np.ceil(p * n_bins).astype(int) - 1, 0, n_bins - 1)


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 15) -> float:
    """ECE with ``n_bins`` equal-width bins (see the module docstring); in [0, 1]."""
    n_bins = positive_int("n_bins", n_bins)
    p, y = _check(confidences, correct)
    b = _bins(p, n_bins)
    conf = np.bincount(b, weights=p, minlength=n_bins)
    acc = np.bincount(b, weights=y, minlength=n_bins)
    return float(np.abs(acc - conf).sum() / len(p))


def reliability_curve(confidences, correct, n_bins: int = 15) -> Dict[str, np.ndarray]:
    """Per bin: ``edges`` (n_bins + 1,), ``count``, ``confidence`` (mean), ``accuracy`` (NaN where empty)."""
    n_bins = positive_int("n_bins", n_bins)
    p, y = _check(confidences, correct)
    b = _bins(p, n_bins)
    count = np.bincount(b, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(b, weights=p, minlength=n_bins) / count
        acc = np.bincount(b, weights=y, minlength=n_bins) / count
    return {"edges": np.linspace(0, 1, n_bins + 1), "count": count, "confidence": conf, "accuracy": acc}


def nll(confidences, correct) -> float:
    """Mean negative log-likelihood (nats) of the outcomes under the confidences (clipped to [1e-12, 1 − 1e-12])."""
    p, y = _check(confidences, correct)
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def brier_score(confidences, correct) -> float:
    """Mean of (confidence − correct)², in [0, 1]; 0.25 for always saying 0.5."""
    p, y = _check(confidences, correct)
    return float(((p - y) ** 2).mean())


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits (..., C) / temperature`` over the last axis."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def multiclass_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy (nats) of ``labels (N,)`` under ``softmax(logits (N, C) / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    lse = z.max(-1) + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))
    return float((lse - z[np.arange(len(z)), np.asarray(labels)]).mean())


def fit_temperature(objective: Callable[[float], float], *, bounds: Tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T in ``bounds`` minimising ``objective(T)``, by a bounded 1-D search over log T."""
    from scipy.optimize import minimize_scalar
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < lo < hi, got {bounds}")
    res = minimize_scalar(lambda logt: objective(math.exp(logt)), bounds=(math.log(lo), math.log(hi)),
                          method="bounded", options={"xatol": 1e-4})
    return float(math.exp(res.x))


def fit_temperature_logits(logits: np.ndarray, labels: np.ndarray, **kw) -> float:
    """Temperature scaling for a classifier: T minimising :func:`multiclass_nll` on held-out ``(logits, labels)``."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"need logits (N, C) and labels (N,), got {logits.shape} and {labels.shape}")
    return fit_temperature(lambda t: multiclass_nll(logits, labels, t), **kw)


def sequence_confidence(logits: Sequence[np.ndarray], token_ids: Sequence[np.ndarray],
                        temperature: float = 1.0) -> np.ndarray:
    """Probability of each generated answer at ``temperature``: Π_t softmax(z_t / T)[y_t], shape ``(N,)``.

    ``logits[i]`` is ``(n_i, vocab)``, the logits at the answer's ``n_i`` steps; ``token_ids[i]`` ``(n_i,)`` the
    tokens chosen (greedy, so the same at every T).
    """
    out = np.empty(len(logits))
    for i, (z, ids) in enumerate(zip(logits, token_ids)):
        lp = np.log(softmax(z, temperature) + 1e-300)
        out[i] = float(np.exp(lp[np.arange(len(ids)), ids].sum()))
    return out


def fit_temperature_sequences(logits, token_ids, correct, **kw) -> float:
    """T minimising the binary NLL of ``correct`` under :func:`sequence_confidence` at T."""
    y = np.asarray(correct, dtype=float)
    return fit_temperature(lambda t: nll(np.clip(sequence_confidence(logits, token_ids, t), 0, 1), y), **kw)


def selective_prediction(confidences, correct) -> Dict[str, np.ndarray]:
    """Answer the most confident first: for each count k = 1..N, ``coverage`` k/N, ``accuracy`` on those k and
    ``threshold`` (the k-th highest confidence).  Ties are broken by order in the input."""
    p, y = _check(confidences, correct)
    order = np.argsort(-p, kind="stable")
    k = np.arange(1, len(p) + 1)
    return {"coverage": k / len(p), "accuracy": np.cumsum(y[order]) / k, "threshold": p[order]}


def risk_coverage_area(confidences, correct) -> float:
    """Area under the risk (1 − accuracy) against coverage curve; lower is better (the error rate when
    confidence carries no information)."""
    s = selective_prediction(confidences, correct)
    return float(np.mean(1 - s["accuracy"]))


def auroc(confidences, correct) -> float:
    """Area under the ROC curve of ``confidences (N,)`` as a predictor of ``correct (N,)``
    (``sklearn.metrics.roc_auc_score``); NaN when ``correct`` holds one class only (no pair to rank)."""
    from sklearn.metrics import roc_auc_score
    p, y = _check(confidences, correct)
    return float(roc_auc_score(y, p)) if 0 < y.mean() < 1 else float("nan")


def score_report(confidences, correct, n_bins: int = 15) -> Dict[str, float]:
    """One confidence score judged both ways: ``n``, ``accuracy``, ``mean`` confidence, ``auroc`` (ranking; NaN
    with one class), ``ece`` (``n_bins`` bins), ``nll`` and ``brier`` (calibration and sharpness)."""
    p, y = _check(confidences, correct)
    return {"n": float(len(p)), "accuracy": float(y.mean()), "mean": float(p.mean()), "auroc": auroc(p, y),
            "ece": expected_calibration_error(p, y, n_bins), "nll": nll(p, y), "brier": brier_score(p, y)}
