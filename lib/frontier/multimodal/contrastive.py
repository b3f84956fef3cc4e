"""Contrastive alignment of two modalities: CLIP's symmetric InfoNCE loss, similarity, retrieval metrics.

CLIP (Radford et al. 2021, arXiv 2103.00020) embeds ``B`` images and their
``B`` captions, L2-normalises both, and scores every pair by a scaled cosine
similarity ``logits = exp(s) * I @ T.T`` where ``s`` is a learned log
temperature initialised at ``log(1 / 0.07)`` (openai/CLIP ``model.py``,
``logit_scale``).  The loss is the mean of two cross-entropies: each image
must pick its own caption among the ``B`` captions (rows) and each caption its
own image (columns)::

    L = ( CE(logits, arange(B)) + CE(logits.T, arange(B)) ) / 2

Shapes: ``B`` pairs in a batch, ``D`` embedding width, ``Q`` queries, ``N``
candidates.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..validation import positive_int

__all__ = ["CLIP_INIT_LOGIT_SCALE", "MAX_LOGIT_SCALE", "normalize", "clip_logits", "info_nce", "recall_at_k",
           "zero_shot_accuracy"]

#: CLIP's initial log inverse temperature, log(1 / 0.07) = 2.659...
CLIP_INIT_LOGIT_SCALE = math.log(1 / 0.07)
#: CLIP clips the learned scale at 100, i.e. its log at log(100).
MAX_LOGIT_SCALE = math.log(100.0)


def _pair(a, b, names=("image_emb", "text_emb")):
    for x, n in zip((a, b), names):
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
            raise TypeError(f"{n} must be a (B, D) float tensor")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} {tuple(a.shape)} and {names[1]} {tuple(b.shape)} must have the same shape")
    if a.shape[0] < 1:
        raise ValueError("the batch must hold at least one pair")


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (``F.normalize`` along the last axis)."""
    return F.normalize(x, dim=-1)


def clip_logits(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale) -> torch.Tensor:
    """``(B, B)`` scaled cosine similarities ``exp(logit_scale) * normalize(I) @ normalize(T).T``.

    ``logit_scale`` is the *log* inverse temperature (a float or a 0-d
    tensor, e.g. a learned parameter); it is clamped at ``log(100)`` as CLIP
    does.  Row ``i`` scores image ``i`` against every caption.
    """
    _pair(image_emb, text_emb)
    scale = torch.as_tensor(logit_scale, dtype=image_emb.dtype, device=image_emb.device)
    if scale.ndim != 0 or not torch.isfinite(scale):
        raise ValueError("logit_scale must be a finite scalar")
    return scale.clamp(max=MAX_LOGIT_SCALE).exp() * normalize(image_emb) @ normalize(text_emb).T


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale=CLIP_INIT_LOGIT_SCALE) -> torch.Tensor:
    """CLIP's symmetric InfoNCE loss (nats, a 0-d tensor) for ``B`` aligned pairs ``(B, D)``.

    The mean of the image-to-text and text-to-image cross-entropies of
    :func:`clip_logits` with the matching pair on the diagonal.  Swapping the
    two arguments gives the same value.  With ``B`` pairs a random model
    scores about ``log(B)``.
    """
    logits = clip_logits(image_emb, text_emb, logit_scale)
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def recall_at_k(similarity, k: int = 1, relevant: Optional[np.ndarray] = None) -> float:
    """Fraction of queries with at least one relevant candidate among their ``k`` most similar.

    Args:
        similarity: ``(Q, N)`` scores, query by candidate (higher is closer).
        k: how many top candidates count.
        relevant: ``(Q, N)`` booleans; default the diagonal (query ``q``'s
            match is candidate ``q``, which needs ``Q <= N``).

    Ties are broken by candidate index (a stable sort), so a constant
    similarity does not score 1 by luck.
    """
    s = similarity.detach().cpu().numpy() if isinstance(similarity, torch.Tensor) else np.asarray(similarity)
    if s.ndim != 2 or not np.issubdtype(s.dtype, np.number):
        raise ValueError(f"similarity must be a (Q, N) array of numbers, got shape {s.shape}")
    q, n = s.shape
    k = positive_int("k", k)
    if k > n:
        raise ValueError(f"k={k} exceeds the number of candidates ({n})")
    if relevant is None:
        if q > n:
            raise ValueError(f"the default (diagonal) relevance needs Q <= N, got {q} queries and {n} candidates")
        rel = np.eye(q, n, dtype=bool)
    else:
        rel = np.asarray(relevant, dtype=bool)
        if rel.shape != s.shape:
            raise ValueError(f"relevant must have the shape of similarity {s.shape}, got {rel.shape}")
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.take_along_axis(rel, top, axis=1).any(axis=1)))


def zero_shot_accuracy(image_emb: torch.Tensor, class_text_emb: torch.Tensor, labels) -> float:
    """Accuracy of labelling each image ``(N, D)`` with its most similar class caption ``(K, D)``; labels ``(N,)`` in 0..K-1."""
    if image_emb.ndim != 2 or class_text_emb.ndim != 2 or image_emb.shape[1] != class_text_emb.shape[1]:
        raise ValueError("image_emb (N, D) and class_text_emb (K, D) must share D")
    y = np.asarray(labels)
    if y.shape != (image_emb.shape[0],):
        raise ValueError(f"labels must have shape ({image_emb.shape[0]},), got {y.shape}")
    sim = normalize(image_emb) @ normalize(class_text_emb).T
    return float(np.mean(sim.argmax(dim=1).cpu().numpy() == y))
