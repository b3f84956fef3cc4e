"""Images as discrete tokens: a k-means patch codebook, and a TinyLM that draws digits token by token.

Unified models (Chameleon, arXiv 2405.09818; the VQ-VAE / VQGAN tokenizers
before it, arXiv 1711.00937, 2012.09841) generate images with the same
next-token loss as text: an image *tokenizer* maps every patch to the index
of its nearest entry in a learned codebook, a decoder model learns
``p(code_t | class, code_<t)``, and the tokenizer's decoder turns sampled
codes back into pixels.  Here the codebook is k-means (scikit-learn's
``KMeans``) over the 2 x 2 patches of 8 x 8 digits, so an image is 16 tokens
and decoding is a table lookup; a VQ-VAE learns the encoder, decoder and
codebook jointly, which this lesson does not.

Sequence layout for the generator (vocabulary ``K + 10``): ids ``0..K-1`` are
codes, ``K + d`` is the class token of digit ``d``; a training sequence is
``[K + label, code_0, ..., code_15]`` (raster order).

Shapes: ``N`` images, ``P`` patch side, ``n = (8 / P)**2`` tokens per image, ``K`` codes.
"""
from __future__ import annotations

import hashlib
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import TinyLM, TinyLMConfig, cached, train
from ._util import log_dict
from ..validation import nonnegative_float, positive_int, rng as _rng
from .patches import patchify, unpatchify

__all__ = ["PatchCodebook", "PositionalCodeModel", "reconstruction_curve", "generator_config", "train_generator", "trained_generator",
           "sample_digits", "class_token", "generator_nll", "fit_judge"]


class PatchCodebook:
    """A k-means codebook over ``patch x patch`` patches of grey images.

    ``fit(images)`` learns ``K`` centroids (``codebook``, ``(K, P*P)``);
    ``encode(images) -> (N, n)`` code indices; ``decode(codes) -> (N, H, W)``
    images made of centroids; ``reconstruction_mse(images)`` the mean squared
    pixel error that tokenising alone introduces.
    """

    def __init__(self, n_codes: int = 64, patch: int = 2, seed: int = 0):
        self.n_codes = positive_int("n_codes", n_codes)
        self.patch = positive_int("patch", patch)
        self.seed = int(seed)
        self.codebook: Optional[np.ndarray] = None
        self.image_shape: Optional[tuple] = None
        self._kmeans = None

    def _patches(self, images) -> np.ndarray:
        arr = np.asarray(images, dtype=np.float64)
        if arr.ndim != 3:
            raise ValueError(f"images must have shape (N, H, W), got {arr.shape}")
        if self.image_shape is not None and arr.shape[1:] != self.image_shape:
            raise ValueError(f"images must be {self.image_shape}, got {arr.shape[1:]}")
        return np.stack([patchify(im, self.patch) for im in arr])            # (N, n, P*P)

    def fit(self, images) -> "PatchCodebook":
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        arr = np.asarray(images, dtype=np.float64)
        if arr.ndim != 3:
            raise ValueError(f"images must have shape (N, H, W), got {arr.shape}")
        self.image_shape = None
        p = self._patches(arr).reshape(-1, self.patch * self.patch)
        if len(np.unique(p, axis=0)) < self.n_codes:
            raise ValueError(f"n_codes={self.n_codes} exceeds the number of distinct patches")
        with threadpool_limits(1):      # BLAS/OpenMP threads oversubscribe a shared 2-core machine badly
            self._kmeans = KMeans(n_clusters=self.n_codes, n_init=1, random_state=self.seed).fit(p)
        self.codebook = self._kmeans.cluster_centers_
        self.image_shape = arr.shape[1:]
        return self

    def _check_fitted(self) -> None:
        if self.codebook is None:
            raise ValueError("the codebook is not fitted yet: call fit(images) first")

    @property
    def tokens_per_image(self) -> int:
        self._check_fitted()
        return (self.image_shape[0] // self.patch) * (self.image_shape[1] // self.patch)

    def encode(self, images) -> np.ndarray:
        """``(N, H, W)`` -> ``(N, n)`` int64 codes (nearest centroid of each patch, raster order)."""
        self._check_fitted()
        p = self._patches(images)
        flat = p.reshape(-1, p.shape[-1])
        d = ((flat[:, None, :] - self.codebook[None]) ** 2).sum(-1)
        return d.argmin(1).reshape(p.shape[0], p.shape[1]).astype(np.int64)

    def decode(self, codes) -> np.ndarray:
        """``(N, n)`` codes -> ``(N, H, W)`` images of centroid patches."""
        self._check_fitted()
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[1] != self.tokens_per_image:
            raise ValueError(f"codes must have shape (N, {self.tokens_per_image}), got {c.shape}")
        if c.size and (c.min() < 0 or c.max() >= self.n_codes):
            raise ValueError(f"codes must lie in 0..{self.n_codes - 1}")
        grid = (self.image_shape[0] // self.patch, self.image_shape[1] // self.patch)
        return np.stack([unpatchify(self.codebook[row], grid, self.patch) for row in c])

    def reconstruction_mse(self, images) -> float:
        """Mean squared pixel error of ``decode(encode(images))`` (pixel units squared)."""
        arr = np.asarray(images, dtype=np.float64)
        return float(np.mean((self.decode(self.encode(arr)) - arr) ** 2))


def reconstruction_curve(train_images, test_images, sizes: Sequence[int] = (2, 4, 8, 16, 32, 64, 128),
                         patch: int = 2, seed: int = 0) -> Dict[int, float]:
    """Held-out reconstruction MSE of a codebook fitted on ``train_images``, for each codebook size."""
    return {int(k): PatchCodebook(int(k), patch, seed).fit(train_images).reconstruction_mse(test_images)
            for k in sizes}


def fit_judge(images, labels):
    """A logistic-regression digit classifier on flattened ``(N, 8, 8)`` images: the independent judge of whether a
    reconstructed or generated image shows its class (``.score(images.reshape(-1, 64), labels)``)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {x.shape}")
    with threadpool_limits(1):
        return LogisticRegression(max_iter=1000).fit(x.reshape(len(x), -1), np.asarray(labels))


def class_token(n_codes: int, digit: int) -> int:
    """The id of digit ``digit``'s class token in the generator's vocabulary (``n_codes + digit``)."""
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be in 0..9, got {digit}")
    return positive_int("n_codes", n_codes) + int(digit)


def generator_config(n_codes: int, tokens_per_image: int = 16, d_model: int = 64, n_layers: int = 2) -> TinyLMConfig:
    """The :class:`TinyLMConfig` of a generator over ``n_codes`` codes and 10 class tokens."""
    return TinyLMConfig(vocab_size=n_codes + 10, d_model=d_model, n_layers=n_layers, n_heads=4, d_ff=2 * d_model,
                        max_seq_len=tokens_per_image + 1)


def train_generator(model: TinyLM, codes, labels, steps: int = 300, batch_size: int = 64, lr: float = 3e-3,
                    seed: int = 0, progress: bool = True):
    """Train ``model`` on ``[class token, codes...]`` sequences with the next-token loss on the codes only."""
    c = torch.as_tensor(np.array(codes), dtype=torch.int64)
    y = torch.as_tensor(np.array(labels), dtype=torch.int64)
    k = model.config.vocab_size - 10
    seqs = torch.cat([(k + y)[:, None], c], dim=1)                          # (N, 1 + n)

    def batches(g: np.random.Generator):
        return seqs[torch.as_tensor(g.integers(len(seqs), size=batch_size))]

    def loss_fn(m, tokens):
        logits = m(tokens[:, :-1]).logits                                  # predicts codes 0..n-1
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1)), {}

    return train(model, loss_fn, batches, steps, lr=lr, warmup=max(1, steps // 10), schedule="cosine",
                 record_every=max(1, steps // 30), progress=progress, seed=seed, desc="image-token LM")


def trained_generator(codebook: PatchCodebook, train_images, train_labels, steps: int = 300, seed: int = 0,
                      progress: bool = True, verbose: bool = True):
    """A generator TinyLM for ``codebook``'s tokens, trained by :func:`train_generator` (from the model cache
    when there).  Returns ``(model, log)``."""
    codes = codebook.encode(train_images)
    cfg = generator_config(codebook.n_codes, codebook.tokens_per_image)

    def build():
        return TinyLM(cfg, seed=seed)

    def fit(m):
        return train_generator(m, codes, train_labels, steps=steps, seed=seed, progress=progress)

    digest = hashlib.sha256(codes.tobytes() + np.asarray(train_labels, dtype=np.int64).tobytes()).hexdigest()
    key = {"cfg": cfg, "steps": steps, "seed": seed, "data": digest}
    model, log = cached("digit-image-token-lm", build, fit, key=key, return_result=True, verbose=verbose)
    return model, log_dict(log)


@torch.no_grad()
def sample_digits(model: TinyLM, digits, *, temperature: float = 1.0, seed=0, tokens_per_image: int = 16) -> np.ndarray:
    """Sample ``(len(digits), tokens_per_image)`` codes, one image per requested class, token by token.

    Sampling is restricted to code ids (class tokens are masked out);
    ``temperature = 0`` is greedy.  Decode the codes with
    :meth:`PatchCodebook.decode`.
    """
    d = np.atleast_1d(np.asarray(digits, dtype=np.int64))
    if d.ndim != 1 or d.size == 0 or d.min() < 0 or d.max() > 9:
        raise ValueError("digits must be a non-empty list of classes in 0..9")
    temperature = nonnegative_float("temperature", temperature)
    n = positive_int("tokens_per_image", tokens_per_image)
    k = model.config.vocab_size - 10
    gen = torch.Generator().manual_seed(int(_rng(seed).integers(2**31)))
    model.eval()
    seq = torch.as_tensor(k + d)[:, None]
    cache = model.new_cache(len(d))
    x = seq
    for _ in range(n):
        logits = model(x, cache=cache).logits[:, -1, :k]
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)[:, 0]
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        x = nxt[:, None]
    return seq[:, 1:].numpy()


class PositionalCodeModel:
    """A count-based baseline generator: ``p(code_t | class)`` per position ``t``, independent across positions.

    ``fit(codes (N, n), labels (N,))`` counts (with add-``alpha`` smoothing);
    ``sample(digits, temperature, seed) -> (B, n)`` draws every position
    independently.  It knows what each class's strokes look like *on
    average* but not which strokes go together, the gap a next-token model
    that conditions on ``code_<t`` closes.
    """

    def __init__(self, n_codes: int, alpha: float = 0.1):
        self.n_codes = positive_int("n_codes", n_codes)
        self.alpha = nonnegative_float("alpha", alpha)
        self.log_probs: Optional[np.ndarray] = None                          # (10, n, K)

    def fit(self, codes, labels) -> "PositionalCodeModel":
        c, y = np.asarray(codes), np.asarray(labels)
        if c.ndim != 2 or y.shape != (c.shape[0],):
            raise ValueError("codes must be (N, n) and labels (N,)")
        counts = np.full((10, c.shape[1], self.n_codes), self.alpha)
        for d in range(10):
            rows = c[y == d]
            for t in range(c.shape[1]):
                counts[d, t] += np.bincount(rows[:, t], minlength=self.n_codes)[:self.n_codes]
        totals = counts.sum(-1, keepdims=True)
        probs = np.where(totals > 0, counts / np.maximum(totals, 1e-300), 1.0 / self.n_codes)  # unseen class: uniform
        with np.errstate(divide="ignore"):
            self.log_probs = np.log(probs)
        return self

    def sample(self, digits, temperature: float = 1.0, seed=0) -> np.ndarray:
        if self.log_probs is None:
            raise ValueError("the model is not fitted yet: call fit(codes, labels) first")
        d = np.atleast_1d(np.asarray(digits, dtype=np.int64))
        if d.ndim != 1 or d.size == 0 or d.min() < 0 or d.max() > 9:
            raise ValueError("digits must be a non-empty list of classes in 0..9")
        temperature = nonnegative_float("temperature", temperature)
        lp = self.log_probs[d]                                               # (B, n, K)
        if temperature == 0:
            return lp.argmax(-1)
        g = _rng(seed)
        z = lp / temperature
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        u = g.random(p.shape[:2])[..., None]
        return np.minimum((p.cumsum(-1) < u).sum(-1), self.n_codes - 1)

    def nll(self, codes, labels) -> float:
        """Mean negative log-likelihood (nats per code token) of ``codes (N, n)`` given their ``labels``."""
        if self.log_probs is None:
            raise ValueError("the model is not fitted yet: call fit(codes, labels) first")
        c, y = np.asarray(codes), np.asarray(labels)
        t = np.arange(c.shape[1])
        return float(-np.mean(self.log_probs[y[:, None], t[None, :], c]))


@torch.no_grad()
def generator_nll(model: TinyLM, codes, labels) -> float:
    """Mean negative log-likelihood (nats per code token) of ``codes (N, n)`` under a generator TinyLM,
    conditioned on the class token (class tokens masked out of the softmax, as :func:`sample_digits` samples)."""
    c = torch.as_tensor(np.array(codes), dtype=torch.int64)
    y = torch.as_tensor(np.array(labels), dtype=torch.int64)
    k = model.config.vocab_size - 10
    model.eval()
    seqs = torch.cat([(k + y)[:, None], c], dim=1)
    logits = model(seqs[:, :-1]).logits[..., :k]
    return float(F.cross_entropy(logits.reshape(-1, k), c.reshape(-1)))
