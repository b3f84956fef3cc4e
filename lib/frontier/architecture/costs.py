"""Cost models for sequence mixing: FLOPs, memory and memory traffic against T.

Every model describes one forward pass (prefill) of ``batch`` sequences of
``T`` tokens through ``n_layers`` token-mixing blocks, each including its own
projections, so that attention and SSM blocks compare fairly.  The
feed-forward networks are left out: they cost the same whatever mixes the
tokens.  (A pure Mamba stack has none, so a whole-model comparison adds them
to the transformer's side, and a Mamba block's projections cost ``12 d^2``
FLOPs per token against attention's ``8 d^2``; lesson 1.3 prints both.)

Units: FLOPs (a multiply-add counts 2), bytes.  ``T`` (sequence length) may be
a scalar or a 1-D sequence; results are NumPy float arrays of the same length.
Names follow the course glossary, ``docs/glossary.md`` (inside formulas ``d``
is ``d_model``, ``N`` ``d_state`` and ``E`` ``d_inner``, as in the papers).
GPU memory sizes and the default on-chip memory come from :mod:`frontier.hardware`.

What each field means (:class:`Cost`):

* ``flops``            all layers, one forward pass;
* ``mixing_flops``     the part of ``flops`` spent mixing tokens (scores and
  weighted sums, or the scan), without the projections: the term whose
  growth in ``T`` tells the methods apart;
* ``activation_bytes`` peak working memory of *one* layer's mixer during the
  pass (layers run one after another at inference); for standard attention
  this is dominated by the materialised score matrix;
* ``kv_cache_bytes``   the state kept for generating the next token, all layers
  (keys and values for attention, the recurrent state for an SSM);
* ``traffic_bytes``    bytes moved between off-chip memory (HBM) and the chip,
  all layers: activations in and out, weights read once, and what the mixing
  kernel reads and writes.

Sources (see ``shared/reference/facts.md``):

* dense and FlashAttention traffic: Dao et al. 2022, Algorithm 0 (standard,
  ``4Nd + 4N^2`` elements per head) and Algorithm 1 (tiled; block sizes
  ``B_c = ceil(M/4d)``, ``B_r = min(B_c, d)``), Theorem 2: ``Theta(N^2 d^2 / M)``;
* Longformer (window + global, Beltagy et al. 2020) and BigBird (window +
  global + random blocks, Zaheer et al. 2020): ``O(T w)``, linear in ``T``;
* Sparse Transformer strided pattern (Child et al. 2019): ``O(T sqrt T)``;
* Performer FAVOR+ (Choromanski et al. 2021): ``O(T m d)`` with ``m`` random
  features, constant-size state;
* Mamba (Gu & Dao 2023): block = in_proj, causal conv, x_proj, dt_proj,
  selective scan (about ``7 B L D N`` FLOPs fused, facts.md section 2),
  out_proj; state ``d_inner * (d_state + d_conv - 1)`` per layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Dict, Optional

import numpy as np

from .. import hardware
from ..validation import (choice, fraction, int_array, nonnegative_int, positive_float,
                          positive_int)

__all__ = [
    "ModelShape", "Cost", "GPUS", "GPU_NAMES", "DEFAULT_SRAM_BYTES", "METHODS",
    "attention_pairs", "longformer_pairs", "strided_pairs", "bigbird_pairs",
    "dense", "longformer", "bigbird", "sparse_transformer", "performer", "flash", "mamba", "hybrid",
    "flash_traffic_elements", "flash2_traffic_elements", "mamba_layer_parameters",
    "attention_layer_parameters", "standard_traffic_elements", "cost_of", "longest_that_fits", "decoder_knobs", "decoder_costs",
]

#: The explorer's GPU labels -> names in :data:`frontier.hardware.ACCELERATORS`.
GPU_NAMES: Dict[str, str] = {
    "T4 16 GB": "T4", "A100 80 GB": "A100-80GB", "H100 80 GB": "H100-SXM", "H200 141 GB": "H200",
}
#: Memory of common GPUs (bytes, the vendor's decimal gigabytes), from :mod:`frontier.hardware`.
#: Usable memory is a little less.
GPUS: Dict[str, float] = {label: hardware.accelerator(name).memory_bytes for label, name in GPU_NAMES.items()}
#: On-chip memory ``M`` per SM that FlashAttention tiles into (bytes): A100's 192 KiB of shared memory/L1.
DEFAULT_SRAM_BYTES: float = float(hardware.accelerator("A100-80GB").smem_per_sm_bytes)


@dataclass(frozen=True)
class ModelShape:
    """Sizes shared by every cost model.

    ``d_model`` width, ``n_heads`` query heads (head size ``d_model //
    n_heads``), ``n_kv_heads`` key/value heads (defaults to ``n_heads``),
    ``n_layers`` mixing blocks, ``batch`` sequences, ``bytes_per_element``
    (2 for bf16/fp16).
    """

    d_model: int = 4096
    n_heads: int = 32
    n_layers: int = 32
    batch: int = 1
    n_kv_heads: Optional[int] = None
    bytes_per_element: float = 2.0

    def __post_init__(self) -> None:
        positive_int("d_model", self.d_model)
        positive_int("n_heads", self.n_heads)
        positive_int("n_layers", self.n_layers)
        positive_int("batch", self.batch)
        positive_float("bytes_per_element", self.bytes_per_element)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        positive_int("n_kv_heads", self.n_kv_heads)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def d_kv(self) -> int:
        return self.n_kv_heads * self.head_dim


@dataclass
class Cost:
    """Costs of one method over a range of sequence lengths (arrays indexed like ``T``)."""

    method: str
    T: np.ndarray
    flops: np.ndarray
    activation_bytes: np.ndarray
    kv_cache_bytes: np.ndarray
    traffic_bytes: np.ndarray
    mixing_flops: np.ndarray
    params: Dict[str, object] = field(default_factory=dict)

    @property
    def memory_bytes(self) -> np.ndarray:
        """KV cache (all layers) plus the peak activation of one layer (bytes)."""
        return self.kv_cache_bytes + self.activation_bytes

    def at(self, T: int) -> Dict[str, float]:
        """The costs at one of the lengths in ``self.T``, as a dict of floats."""
        idx = np.flatnonzero(self.T == T)
        if idx.size == 0:
            raise ValueError(f"T={T} is not among the lengths this cost was computed for")
        i = int(idx[0])
        return {"method": self.method, "T": int(self.T[i]), "flops": float(self.flops[i]),
                "mixing_flops": float(self.mixing_flops[i]),
                "activation_bytes": float(self.activation_bytes[i]),
                "kv_cache_bytes": float(self.kv_cache_bytes[i]),
                "traffic_bytes": float(self.traffic_bytes[i]),
                "memory_bytes": float(self.memory_bytes[i])}


# ----------------------------------------------------------------------------
# Pair counts: how many (query, key) scores each pattern computes, per head.
# ----------------------------------------------------------------------------

def _sum_min(n, c):
    """sum_{x=0}^{n-1} min(x, c) for integer arrays n >= 0, c >= 0."""
    n = np.asarray(n, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    small = n * (n - 1) / 2
    large = c * (c + 1) / 2 + (n - c - 1) * c
    return np.where(n <= c + 1, np.maximum(small, 0.0), large)


def _check_T(T) -> np.ndarray:
    return int_array("T", T)


def attention_pairs(T, causal: bool = False) -> np.ndarray:
    """Scored pairs of dense attention: ``T^2``, or ``T(T+1)/2`` causal."""
    T = _check_T(T).astype(np.float64)
    return T * (T + 1) / 2 if causal else T * T


def longformer_pairs(T, window, n_global: int = 0, causal: bool = False, clip: bool = False) -> np.ndarray:
    """Scored pairs of a sliding window of reach ``window`` plus ``n_global`` global tokens.

    Equals ``masks.longformer_mask(T, window, n_global, causal).sum()``.
    With ``clip=True`` a window or a global set longer than a sequence is
    cut to that sequence (a window covering the sequence is plain attention)
    instead of raising.
    """
    T = _check_T(T)
    window = positive_int("window", window)
    g = nonnegative_int("n_global", n_global)
    if clip:
        window = np.minimum(window, T)
        g = np.minimum(g, T)
    if np.any(window > T):
        raise ValueError(f"window ({window}) must not exceed the sequence length T (smallest {T.min()}); "
                         "pass clip=True to cut it to each sequence")
    if np.any(g > T):
        raise ValueError(f"n_global ({g}) must not exceed the sequence length T (smallest {T.min()})")
    Tf = T.astype(np.float64)
    w1 = window - 1
    if causal:
        band = Tf + _sum_min(Tf, w1)
        glob = g * (g + 1) / 2 + (Tf - g) * g
        # overlap of band and global: rows i < g lie entirely in "global"
        rows_low = g + _sum_min(g, w1)
        # rows i >= g: keys j < g with i - j < window; x = i - w + 1 runs from g - w + 1 to T - w
        a = g - window + 1
        b = Tf - window
        clip_sum = _sum_min(np.maximum(b + 1, 0), g) - _sum_min(np.maximum(a, 0), g)
        clip_sum = np.where(b >= a, clip_sum, 0.0)
        rows_high = g * (Tf - g) - clip_sum
        return band + glob - (rows_low + rows_high)
    band = Tf + 2 * _sum_min(Tf, w1)
    glob = 2 * g * Tf - g * g
    a_rows = g + _sum_min(g, w1) + (_sum_min(Tf, w1) - _sum_min(Tf - g, w1))
    band_gg = g + 2 * _sum_min(g, w1)
    return band + glob - (2 * a_rows - band_gg)


def strided_pairs(T, stride=None) -> np.ndarray:
    """Scored pairs of the causal strided Sparse Transformer pattern.

    ``stride`` defaults to ``ceil(sqrt(T))`` for each ``T``.  Equals
    ``masks.strided_mask(T, stride).sum()``.
    """
    T = _check_T(T)
    if stride is None:
        l = np.ceil(np.sqrt(T)).astype(np.int64)
    else:
        l = np.full_like(T, positive_int("stride", stride))
    Tf, lf = T.astype(np.float64), l.astype(np.float64)
    local = Tf + _sum_min(Tf, lf - 1)
    q, r = np.floor_divide(T, l).astype(np.float64), np.mod(T, l).astype(np.float64)
    strided = Tf + lf * q * (q - 1) / 2 + q * r
    return local + strided - Tf


def bigbird_pairs(T, block: int = 64, window_blocks: int = 3, global_blocks: int = 2,
                  random_blocks: int = 3) -> np.ndarray:
    """Scored pairs of the BigBird pattern, counted in whole blocks.

    A ``T`` that is not a multiple of ``block`` is padded up to one, as
    block-sparse kernels do.  Equals ``masks.bigbird_mask(...).sum()`` when
    ``T`` is a multiple of ``block``.
    """
    T = _check_T(T)
    block = positive_int("block", block)
    window_blocks = positive_int("window_blocks", window_blocks)
    g = nonnegative_int("global_blocks", global_blocks)
    rb = nonnegative_int("random_blocks", random_blocks)
    if window_blocks % 2 == 0:
        raise ValueError(f"window_blocks must be odd, got {window_blocks}")
    h = window_blocks // 2
    out = np.empty(T.shape, dtype=np.float64)
    for idx, t in enumerate(T):
        nb = -(-int(t) // block)
        if g > nb:
            raise ValueError(f"global_blocks ({g}) exceeds the number of blocks ({nb}) at T={t}")
        r = np.arange(g, nb)
        lo, hi = np.maximum(0, r - h), np.minimum(nb - 1, r + h)
        inter = np.maximum(0, np.minimum(g - 1, hi) - lo + 1)
        union = (hi - lo + 1) + g - inter
        total_blocks = g * nb + np.sum(union + np.minimum(rb, nb - union))
        out[idx] = total_blocks * block * block
    return out


# ----------------------------------------------------------------------------
# Cost models
# ----------------------------------------------------------------------------

def _projections(T: np.ndarray, s: ModelShape):
    """Q, K, V, O projections of one layer: (flops, activation elements, traffic elements)."""
    d, da, dkv, b = s.d_model, s.d_model, s.d_kv, s.batch
    flops = 2.0 * b * T * d * (2 * da + 2 * dkv)
    act = b * T * (da + 2 * dkv + da)                      # Q, K, V and the attention output
    traffic = b * T * (d + da + 2 * dkv + da + d) + d * (2 * da + 2 * dkv)
    return flops, act, traffic


def _attention_family(method, T, s, pairs, materialised, kv_tokens, core_traffic, params):
    """Assemble a Cost for an attention variant from per-head quantities (elements)."""
    H, dh, b, L, e = s.n_heads, s.head_dim, s.batch, s.n_layers, s.bytes_per_element
    pf, pact, ptraffic = _projections(T, s)
    mixing = L * 4.0 * b * H * dh * pairs                  # QK^T and PV, 2 FLOPs per multiply-add
    flops = L * pf + mixing
    activation = (pact + b * H * materialised) * e
    kv = 2.0 * b * L * s.d_kv * kv_tokens * e
    traffic = L * (ptraffic + b * H * core_traffic) * e
    return Cost(method, T, flops, activation, kv, traffic, mixing, params)


def _standard_core_traffic(T, dh, pairs):
    """Algorithm 0 of Dao et al. 2022 per head: read Q,K, write S, read S, write P, read P,V, write O."""
    return 4.0 * T * dh + 4.0 * pairs


def dense(T, shape: ModelShape = ModelShape(), causal: bool = False) -> Cost:
    """Standard attention that materialises the ``T x T`` scores: O(T^2 d) FLOPs, O(T^2) memory."""
    T = _check_T(T).astype(np.float64)
    pairs = attention_pairs(T.astype(np.int64), causal)
    return _attention_family("dense", T, shape, pairs, T * T, T,
                             _standard_core_traffic(T, shape.head_dim, T * T), {"causal": causal})


def longformer(T, shape: ModelShape = ModelShape(), window: int = 512, n_global: int = 0,
               causal: bool = False, clip: bool = False) -> Cost:
    """Sliding window (reach ``window``) plus ``n_global`` global tokens: O(T w).

    Scores are computed only inside the pattern (a banded kernel), so memory
    and traffic scale with the pairs, not with ``T^2``.  A causal decoder
    needs to cache only the last ``window`` tokens and the global ones.
    """
    T = _check_T(T)
    pairs = longformer_pairs(T, window, n_global, causal, clip)
    Tf = T.astype(np.float64)
    kv_tokens = np.minimum(Tf, window + n_global) if causal else Tf
    return _attention_family("longformer", Tf, shape, pairs, pairs, kv_tokens,
                             _standard_core_traffic(Tf, shape.head_dim, pairs),
                             {"window": window, "n_global": n_global, "causal": causal})


def bigbird(T, shape: ModelShape = ModelShape(), block: int = 64, window_blocks: int = 3,
            global_blocks: int = 2, random_blocks: int = 3) -> Cost:
    """BigBird block-sparse attention (window + global + random blocks): O(T w)."""
    T = _check_T(T)
    pairs = bigbird_pairs(T, block, window_blocks, global_blocks, random_blocks)
    Tf = T.astype(np.float64)
    return _attention_family("bigbird", Tf, shape, pairs, pairs, Tf,
                             _standard_core_traffic(Tf, shape.head_dim, pairs),
                             {"block": block, "window_blocks": window_blocks,
                              "global_blocks": global_blocks, "random_blocks": random_blocks})


def sparse_transformer(T, shape: ModelShape = ModelShape(), stride: Optional[int] = None) -> Cost:
    """Strided Sparse Transformer attention (causal), stride ~ sqrt(T): O(T sqrt T)."""
    T = _check_T(T)
    pairs = strided_pairs(T, stride)
    Tf = T.astype(np.float64)
    return _attention_family("sparse_transformer", Tf, shape, pairs, pairs, Tf,
                             _standard_core_traffic(Tf, shape.head_dim, pairs), {"stride": stride})


def performer(T, shape: ModelShape = ModelShape(), n_features: Optional[int] = None,
              causal: bool = False) -> Cost:
    """Performer (FAVOR+) linear attention with ``n_features`` random features: O(T m d).

    ``n_features`` defaults to ``floor(d_h ln d_h)``.  Per head: features of
    Q and K (``2 T d m`` multiply-adds), ``phi(K)^T V`` and ``phi(Q) S``
    (``2 T m d``), normaliser (``2 T m``).  The generation state is
    ``S`` (``m x d``) and ``z`` (``m``) per head, whatever ``T``.
    """
    T = _check_T(T).astype(np.float64)
    s = shape
    dh = s.head_dim
    m = int(math.floor(dh * math.log(dh))) if n_features is None else positive_int("n_features", n_features)
    H, b, L, e = s.n_heads, s.batch, s.n_layers, s.bytes_per_element
    pf, pact, ptraffic = _projections(T, s)
    per_head = 2.0 * (2 * T * dh * m + 2 * T * m * dh + 2 * T * m)
    mixing = L * b * H * per_head
    flops = L * pf + mixing
    activation = (pact + b * H * (2 * T * m + m * dh)) * e
    kv = b * L * H * (m * dh + m) * e * np.ones_like(T)
    core = 4.0 * T * dh + 4.0 * T * m + 2.0 * m * dh
    traffic = L * (ptraffic + b * H * core) * e
    return Cost("performer", T, flops, activation, kv, traffic, mixing,
                {"n_features": m, "causal": causal})


def flash_traffic_elements(T, head_dim: int, sram_elements: float) -> np.ndarray:
    """HBM elements read and written by FlashAttention's Algorithm 1 for one head.

    ``B_c = ceil(M / 4d)`` (at most ``T``), ``T_c = ceil(T / B_c)``.  K and V
    are read once (``2 T d``); for every one of the ``T_c`` key blocks, all of
    Q and O are read and O written back (``3 T d``), and the row statistics
    ``l`` and ``m`` are read and written (``4 T``).  Total
    ``2 T d + T_c (3 T d + 4 T)``, which is ``Theta(T^2 d^2 / M)``.
    """
    T = _check_T(T).astype(np.float64)
    d = positive_int("head_dim", head_dim)
    M = positive_float("sram_elements", sram_elements)
    if M < d:
        raise ValueError(f"sram_elements ({M}) must hold at least one row of size head_dim ({d})")
    bc = np.minimum(math.ceil(M / (4 * d)), T)
    tc = np.ceil(T / bc)
    return 2 * T * d + tc * (3 * T * d + 4 * T)


def flash2_traffic_elements(T, head_dim: int, sram_elements: float) -> np.ndarray:
    """HBM elements of one head's forward pass with FlashAttention-2's loop order (queries outside).

    Dao 2023 swaps Algorithm 1's loops: each query block ``Q_i`` is loaded
    once, its output ``O_i`` and log-sum-exp written once at the end (the
    running ``m`` and ``l`` never leave the chip), and every key/value block
    is re-read once per query block.  With ``B_r = ceil(M / 4d)`` queries per
    block (at most ``T``) and ``T_r = ceil(T / B_r)``: ``2 T d + T`` (read Q,
    write O and the log-sum-exp) ``+ T_r * 2 T d`` (K and V per query block).
    About two thirds of Algorithm 1's ``T_c (3 T d + 4 T)`` for the same
    block size; still ``Theta(T^2 d^2 / M)``.
    """
    T = _check_T(T).astype(np.float64)
    d = positive_int("head_dim", head_dim)
    M = positive_float("sram_elements", sram_elements)
    if M < d:
        raise ValueError(f"sram_elements ({M}) must hold at least one row of size head_dim ({d})")
    br = np.minimum(math.ceil(M / (4 * d)), T)
    tr = np.ceil(T / br)
    return 2 * T * d + T + tr * 2 * T * d


def standard_traffic_elements(T, head_dim: int, causal_mask_pass: bool = False,
                              dropout_pass: bool = False) -> np.ndarray:
    """HBM elements of one head's forward pass of unfused attention (Dao et al. 2022, Algorithm 0).

    Algorithm 0 reads ``Q, K``, writes ``S``, reads ``S``, writes ``P``, reads
    ``P, V`` and writes ``O``: ``4 T d + 4 T^2``.  An unfused framework
    implementation adds a full pass over the ``T x T`` matrix for each
    elementwise step run as its own kernel: masking (``causal_mask_pass``:
    read ``S``, write it masked) and dropout (``dropout_pass``: read ``P``,
    write it), ``2 T^2`` each.
    """
    T = _check_T(T).astype(np.float64)
    d = positive_int("head_dim", head_dim)
    passes = 4 + 2 * bool(causal_mask_pass) + 2 * bool(dropout_pass)
    return 4 * T * d + passes * T * T


def flash(T, shape: ModelShape = ModelShape(), sram_bytes: float = DEFAULT_SRAM_BYTES, causal: bool = False) -> Cost:
    """FlashAttention: dense FLOPs, O(T d) memory, ``Theta(T^2 d^2 / M)`` traffic.

    Traffic is Algorithm 1 as published, which visits every (query block,
    key block) pair; a causal kernel that skips tiles above the diagonal moves
    about half as much, so for ``causal=True`` this is an upper bound.
    ``frontier.architecture.attention.tiled_attention`` counts both exactly
    (its count also includes the initial write of O, l and m, ``T (d + 2)``).

    ``sram_bytes`` is the on-chip memory ``M`` of one streaming multiprocessor
    (A100: 192 KiB of shared memory and L1 per SM).
    """
    T = _check_T(T).astype(np.float64)
    s = shape
    sram_bytes = positive_float("sram_bytes", sram_bytes)
    pairs = attention_pairs(T.astype(np.int64), causal)
    M = sram_bytes / s.bytes_per_element
    core = flash_traffic_elements(T.astype(np.int64), s.head_dim, M)
    materialised = 2.0 * T                                  # the row statistics l and m
    return _attention_family("flash", T, s, pairs, materialised, T, core,
                             {"sram_bytes": sram_bytes, "causal": causal})


def mamba(T, shape: ModelShape = ModelShape(), d_state: int = 16, expand: int = 2, d_conv: int = 4) -> Cost:
    """A Mamba block (selective SSM) with a fused scan: O(T d N) FLOPs, O(1) state in T.

    ``d_inner = expand * d_model``, ``dt_rank = ceil(d_model / 16)``.
    """
    T = _check_T(T).astype(np.float64)
    s = shape
    N = positive_int("d_state", d_state)
    E = positive_int("expand", expand) * s.d_model
    k = positive_int("d_conv", d_conv)
    d, b, L, e = s.d_model, s.batch, s.n_layers, s.bytes_per_element
    R = math.ceil(d / 16)
    per_token = (2 * d * 2 * E          # in_proj -> x, z
                 + 2 * E * k            # depthwise causal conv
                 + 2 * E * (R + 2 * N)  # x_proj -> dt, B, C
                 + 2 * R * E            # dt_proj
                 + 7 * E * N            # fused selective scan
                 + 2 * E * d)           # out_proj
    flops = L * b * T * per_token
    activation = b * T * (2 * E + E + 2 * N + E) * e        # x, z, delta, B, C, y
    kv = b * L * E * (N + k - 1) * e * np.ones_like(T)
    act_io = b * T * (d + 2 * E          # in_proj
                      + 2 * E            # conv
                      + E + R + 2 * N    # x_proj
                      + R + E            # dt_proj
                      + 3 * E + 2 * N    # scan: read u, delta, B, C; write y
                      + 3 * E            # gate: read y, z; write
                      + E + d)           # out_proj
    weights = d * 2 * E + E * k + E * (R + 2 * N) + R * E + E * N + E + E * d
    traffic = L * (act_io + weights) * e
    mixing = L * b * T * 7.0 * E * N
    return Cost("mamba", T, flops, activation, kv, traffic, mixing,
                {"d_state": N, "expand": expand, "d_conv": k})


def mamba_layer_parameters(shape: ModelShape = ModelShape(), d_state: int = 16, expand: int = 2,
                           d_conv: int = 4) -> int:
    """Parameters of one Mamba block as :func:`mamba` counts it (count, norms left out).

    ``in_proj`` ``2 E d``, depthwise conv ``E k + E``, ``x_proj``
    ``E (R + 2N)``, ``dt_proj`` ``R E + E`` (with its bias), ``A`` ``E N``,
    ``D`` ``E``, ``out_proj`` ``E d``; ``E = expand * d``, ``R = ceil(d/16)``.
    About ``6.3 d^2`` at ``d = 4096``: twice attention's ``4 d^2``, half a
    LLaMA layer's (attention plus SwiGLU feed-forward).
    """
    d = shape.d_model
    N, E, k = positive_int("d_state", d_state), positive_int("expand", expand) * d, positive_int("d_conv", d_conv)
    R = math.ceil(d / 16)
    return int(2 * E * d + E * k + E + E * (R + 2 * N) + R * E + E + E * N + E + E * d)


def attention_layer_parameters(shape: ModelShape = ModelShape(), d_ff: int = 0) -> int:
    """Parameters of one attention block (Q, K, V, O; count), plus a SwiGLU feed-forward of width ``d_ff``.

    ``2 d^2 + 2 d d_kv`` for the projections and ``3 d d_ff`` for the
    feed-forward (``d_ff = 0``: none); norms and biases left out.
    """
    d_ff = nonnegative_int("d_ff", d_ff)
    d = shape.d_model
    return int(2 * d * d + 2 * d * shape.d_kv + 3 * d * d_ff)


def hybrid(T, shape: ModelShape = ModelShape(), attention_ratio: float = 1 / 8, d_state: int = 16,
           expand: int = 2, attention: str = "flash", sram_bytes: float = DEFAULT_SRAM_BYTES,
           causal: bool = False) -> Cost:
    """Interleaved attention and Mamba layers (as in Jamba): ``round(L * ratio)`` attention layers.

    Jamba uses one attention layer in eight (ratio 1/8).  ``attention`` picks
    ``"flash"`` or ``"dense"`` for the attention layers.
    """
    ratio = fraction("attention_ratio", attention_ratio)
    if attention not in ("flash", "dense"):
        raise ValueError(f"attention must be 'flash' or 'dense', got {attention!r}")
    n_attn = int(round(shape.n_layers * ratio))
    n_ssm = shape.n_layers - n_attn
    one = replace(shape, n_layers=1)
    a = flash(T, one, sram_bytes, causal) if attention == "flash" else dense(T, one, causal)
    m = mamba(T, one, d_state, expand)
    act = np.maximum(a.activation_bytes if n_attn else 0.0, m.activation_bytes if n_ssm else 0.0)
    return Cost("hybrid", a.T,
                n_attn * a.flops + n_ssm * m.flops, act,
                n_attn * a.kv_cache_bytes + n_ssm * m.kv_cache_bytes,
                n_attn * a.traffic_bytes + n_ssm * m.traffic_bytes,
                n_attn * a.mixing_flops + n_ssm * m.mixing_flops,
                {"attention_ratio": ratio, "attention_layers": n_attn, "ssm_layers": n_ssm,
                 "d_state": d_state, "expand": expand})


#: The cost models by name, for figure builders and tables.
METHODS = {
    "dense": dense, "longformer": longformer, "bigbird": bigbird,
    "sparse_transformer": sparse_transformer, "performer": performer,
    "flash": flash, "mamba": mamba, "hybrid": hybrid,
}


def cost_of(method: str, T, shape: ModelShape = ModelShape(), **knobs) -> Cost:
    """Dispatch to a cost model by name (one of :data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return METHODS[method](T, shape, **knobs)


def longest_that_fits(method: str, budget_bytes: float, shape: ModelShape = ModelShape(),
                      T_max: int = 1 << 27, **knobs) -> int:
    """The longest sequence (tokens) whose ``memory_bytes`` fit in ``budget_bytes``.

    Returns 0 when not even one token fits and ``T_max`` when every length up
    to it fits.  Memory grows with ``T`` for every method, so a bisection finds
    the boundary.  Longformer windows are clipped to the sequence.
    """
    budget = positive_float("budget_bytes", budget_bytes)
    T_max = positive_int("T_max", T_max)
    if method == "longformer":
        knobs.setdefault("clip", True)

    def fits(t: int) -> bool:
        return bool(cost_of(method, t, shape, **knobs).memory_bytes[0] <= budget)

    if not fits(1):
        return 0
    if fits(T_max):
        return T_max
    lo, hi = 1, T_max
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def decoder_knobs(*, window: int = 512, n_global: int = 16, n_features: int = 256, d_state: int = 16,
                  sram_bytes: float = DEFAULT_SRAM_BYTES, attention_ratio: float = 0.125) -> Dict[str, Dict[str, object]]:
    """Each method's settings for a decoder LLM, by method name (the keyword arguments of :func:`cost_of`).

    Attention is causal wherever the method has a causal form.  BigBird is an
    encoder pattern and stays non-causal, as published; the Sparse
    Transformer's strided pattern is causal by construction.  Longformer
    windows are clipped to the sequence.
    """
    return {
        "dense": {"causal": True},
        "flash": {"sram_bytes": positive_float("sram_bytes", sram_bytes), "causal": True},
        "longformer": {"window": positive_int("window", window), "n_global": nonnegative_int("n_global", n_global),
                       "clip": True, "causal": True},
        "bigbird": {}, "sparse_transformer": {},
        "performer": {"n_features": positive_int("n_features", n_features), "causal": True},
        "mamba": {"d_state": positive_int("d_state", d_state)},
        "hybrid": {"attention_ratio": fraction("attention_ratio", attention_ratio),
                   "d_state": positive_int("d_state", d_state), "sram_bytes": float(sram_bytes), "causal": True},
    }


def decoder_costs(T, shape: ModelShape = ModelShape(), methods=tuple(METHODS), **knobs) -> Dict[str, Cost]:
    """:func:`cost_of` for each of ``methods`` with the decoder settings of :func:`decoder_knobs` (``**knobs``)."""
    settings = decoder_knobs(**knobs)
    out = {}
    for m in methods:
        choice("method", m, tuple(METHODS))
        out[m] = cost_of(m, T, shape, **settings[m])
    return out
