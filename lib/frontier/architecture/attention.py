"""Attention implementations the lessons time and compare.

Shape letters (local to this module, as in the FlashAttention paper; the
course-wide names are in ``docs/glossary.md``): ``T`` sequence length
(``Tq`` queries, ``Tk`` keys), ``d`` = ``head_dim``, the head size of
queries and keys (not ``d_model``), ``dv`` head size of values, ``m`` number of
random features, ``M`` on-chip memory in elements; leading dimensions (batch,
heads) are carried through unchanged, so ``q, k, v`` are ``(..., T, d)`` and
the output is ``(..., T, dv)``.

Exact attention, three ways:

* :func:`naive_attention` builds the full ``(T, T)`` score matrix: O(T^2 d)
  FLOPs and O(T^2) memory.
* :func:`tiled_attention` is the forward pass of FlashAttention (Dao et al.
  2022, Algorithm 1): the scores are computed one ``(B_r, B_c)`` tile at a
  time and combined with the *online softmax* (a running maximum ``m`` and
  normaliser ``l`` per query), so the score matrix never exists in full.  It
  counts the elements it moves between main memory (HBM) and on-chip memory
  (:class:`HBMTraffic`); :func:`tiled_attention_traffic` is the same count in
  closed form.
* :func:`sliding_window_attention` lets each query see at most ``window``
  keys and never builds more than a ``(T/window, window, 2*window)`` block of
  scores: O(T w d) FLOPs and memory.

Approximate attention:

* :func:`performer_attention` (Choromanski et al. 2021, FAVOR+) replaces
  ``exp(q.k)`` by a dot product of positive random features
  (:func:`performer_features`), which makes attention linear in ``T``;
  :func:`performer_error` measures how far it lands from the exact answer.

Masks for drawing and for ``naive_attention(mask=...)``: :func:`window_mask`
and :func:`sink_mask` (StreamingLLM's attention sinks plus a recent window).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..models.layers import sink_mask, window_mask  # noqa: F401  (moved below the sections)
from ..validation import positive_int, rng

__all__ = [
    "naive_attention", "sliding_window_attention", "window_mask", "sink_mask",
    "HBM_TENSORS", "HBMTraffic", "TileStep", "TiledAttentionStats", "flash_block_sizes",
    "tiled_attention", "tiled_attention_traffic",
    "orthogonal_gaussian", "performer_features", "performer_attention", "performer_attention_weights",
    "linear_attention_recurrent",
    "PerformerError", "performer_error", "default_num_features", "random_qkv",
    "tiling_trace", "attention_weights", "performer_comparison",
]


def _check_qkv(q, k, v):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the head size, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"k and v must agree on (..., T), got {tuple(k.shape)} and {tuple(v.shape)}")
    if q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"q and k must share leading dimensions, got {tuple(q.shape)} and {tuple(k.shape)}")


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    scale: Optional[float] = None, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """softmax(q k^T * scale) v with the full score matrix.

    ``q`` is ``(..., Tq, d)``, ``k`` and ``v`` are ``(..., Tk, d)`` and
    ``(..., Tk, dv)``; returns ``(..., Tq, dv)``.  ``scale`` defaults to
    ``1/sqrt(d)``.  ``causal`` masks keys after the query (``Tq == Tk``);
    ``mask`` is an optional boolean ``(Tq, Tk)`` (True = keep).  Rows with no
    allowed key raise instead of returning NaN.
    """
    _check_qkv(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = (q @ k.transpose(-1, -2)) * scale
    keep = None
    if causal:
        if q.shape[-2] != k.shape[-2]:
            raise ValueError("causal attention needs as many queries as keys")
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        if mask.shape != (q.shape[-2], k.shape[-2]) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape {(q.shape[-2], k.shape[-2])}")
        keep = mask if keep is None else keep & mask
    if keep is not None:
        if not bool(keep.any(dim=-1).all()):
            raise ValueError("every query needs at least one key it may attend")
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def sliding_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int,
                             causal: bool = True, scale: Optional[float] = None) -> torch.Tensor:
    """Attention restricted to a band of ``window`` keys, computed in blocks.

    Equals ``naive_attention(q, k, v, mask=window_mask(T, window, causal))``
    but costs O(T * window * d): queries are split into blocks of ``window``
    rows and each block scores only the keys that can fall in its band
    (``2*window`` keys causal, ``3*window`` non-causal).

    ``q, k, v``: ``(..., T, d)``; returns ``(..., T, d)``.
    """
    _check_qkv(q, k, v)
    T, d = q.shape[-2], q.shape[-1]
    if k.shape[-2] != T:
        raise ValueError("sliding-window attention needs as many queries as keys")
    window = positive_int("window", window)
    if window > T:
        raise ValueError(f"window ({window}) must not exceed the sequence length T ({T})")
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    w = window
    nb = -(-T // w)                       # number of query blocks
    pad_q = nb * w - T
    lead = q.shape[:-2]
    # Keys padded by w on the left (and w on the right, non-causal) so that
    # every query block sees a fixed-width slab of keys.
    right = w + pad_q if not causal else pad_q
    kp = torch.nn.functional.pad(k, (0, 0, w, right))
    vp = torch.nn.functional.pad(v, (0, 0, w, right))
    qp = torch.nn.functional.pad(q, (0, 0, 0, pad_q)).reshape(*lead, nb, w, d)
    span = 2 * w if causal else 3 * w
    # slab b covers padded key rows [b*w, b*w + span) = original keys [b*w - w, ...)
    ks = kp.unfold(-2, span, w).transpose(-1, -2)[..., :nb, :, :]   # (..., nb, span, d)
    vs = vp.unfold(-2, span, w).transpose(-1, -2)[..., :nb, :, :]
    scores = (qp @ ks.transpose(-1, -2)) * scale                    # (..., nb, w, span)
    qi = (torch.arange(nb, device=q.device)[:, None] * w + torch.arange(w, device=q.device)[None, :])
    kj = (torch.arange(nb, device=q.device)[:, None] * w - w + torch.arange(span, device=q.device)[None, :])
    diff = qi[:, :, None] - kj[:, None, :]                          # (nb, w, span)
    keep = (diff >= 0) & (diff < w) if causal else diff.abs() < w
    keep = keep & (kj[:, None, :] >= 0) & (kj[:, None, :] < T)
    scores = scores.masked_fill(~keep, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ vs                        # (..., nb, w, d)
    return out.reshape(*lead, nb * w, v.shape[-1])[..., :T, :]


# ---------------------------------------------------------------------------
# Tiled attention with the online softmax (FlashAttention forward, Algorithm 1)
# ---------------------------------------------------------------------------

#: Names of the tensors Algorithm 1 keeps in HBM, in the order reports list them.
HBM_TENSORS = ("Q", "K", "V", "O", "l", "m")


@dataclass(frozen=True)
class HBMTraffic:
    """Elements moved between main memory (HBM) and on-chip memory, by tensor.

    ``reads`` and ``writes`` map a tensor name (``"Q"``, ``"K"``, ``"V"``,
    ``"O"``, and the running statistics ``"l"`` and ``"m"``) to a number of
    *elements*, summed over all leading (batch, head) dimensions.  Multiply
    by the bytes per element (2 for fp16/bf16, 4 for fp32) to get bytes.
    """

    reads: Mapping[str, int]
    writes: Mapping[str, int]

    @property
    def elements_read(self) -> int:
        """Elements loaded from HBM."""
        return int(sum(self.reads.values()))

    @property
    def elements_written(self) -> int:
        """Elements stored to HBM."""
        return int(sum(self.writes.values()))

    @property
    def total(self) -> int:
        """Elements read plus elements written: the paper's "HBM accesses"."""
        return self.elements_read + self.elements_written

    def bytes(self, bytes_per_element: float = 2.0) -> float:
        """Total traffic in bytes at ``bytes_per_element`` bytes per element."""
        return float(self.total) * float(bytes_per_element)

    def by_tensor(self) -> Dict[str, Tuple[int, int]]:
        """``{name: (elements read, elements written)}`` for every tensor."""
        return {n: (int(self.reads.get(n, 0)), int(self.writes.get(n, 0))) for n in HBM_TENSORS}


@dataclass(frozen=True)
class TileStep:
    """One iteration of Algorithm 1's inner loop, as recorded by ``tiled_attention(trace=True)``.

    ``kv_block`` is the outer index ``j`` (a block of keys and values),
    ``q_block`` the inner index ``i`` (a block of queries); ``rows`` and
    ``cols`` are the half-open query and key ranges of the tile.  ``skipped``
    tiles (causal attention, tile entirely above the diagonal) are never
    loaded.  ``m`` and ``l`` are copies of the running maximum and normaliser
    of *all* queries after this step, shape ``(..., Tq)``; ``m_tile`` is the
    tile's own row maximum ``m~_ij``, shape ``(..., rows)`` (``None`` when
    skipped).  ``hbm_elements`` is the traffic so far, in elements.
    """

    kv_block: int
    q_block: int
    rows: Tuple[int, int]
    cols: Tuple[int, int]
    skipped: bool
    m: torch.Tensor
    l: torch.Tensor
    m_tile: Optional[torch.Tensor]
    hbm_elements: int


@dataclass(frozen=True)
class TiledAttentionStats:
    """What ``tiled_attention(..., return_stats=True)`` reports besides the output.

    ``block_q`` (``B_r``) and ``block_k`` (``B_c``) are the tile sizes used
    (clipped to the sequence lengths), ``n_q_blocks`` (``T_r``) and
    ``n_kv_blocks`` (``T_c``) the number of blocks; ``tiles_computed`` and
    ``tiles_skipped`` count inner-loop iterations.  ``m`` and ``l`` are the
    final running maximum and normaliser, ``(..., Tq)``, so
    ``m + log(l)`` is the log-sum-exp of each query's scaled scores.
    """

    block_q: int
    block_k: int
    n_q_blocks: int
    n_kv_blocks: int
    tiles_computed: int
    tiles_skipped: int
    traffic: HBMTraffic
    m: torch.Tensor
    l: torch.Tensor
    trace: Tuple[TileStep, ...] = field(default=())


def flash_block_sizes(d: int, sram_elements: int) -> Tuple[int, int]:
    """Tile sizes ``(B_r, B_c)`` of Algorithm 1 for head size ``d`` and on-chip memory ``M``.

    ``B_c = ceil(M / (4 d))`` and ``B_r = min(ceil(M / (4 d)), d)``, where
    ``M = sram_elements`` is the on-chip memory in elements.  The factor 4
    leaves room for the four ``(block, d)`` tiles Q_i, K_j, V_j and O_i.
    """
    d = positive_int("d", d)
    M = positive_int("sram_elements", sram_elements)
    bc = -(-M // (4 * d))
    return min(bc, d), bc


def _resolve_blocks(Tq: int, Tk: int, d: int, block_q, block_k, sram_elements) -> Tuple[int, int]:
    if sram_elements is not None:
        if block_q is not None or block_k is not None:
            raise ValueError("give either sram_elements or block_q/block_k, not both")
        br, bc = flash_block_sizes(d, sram_elements)
    else:
        br = 64 if block_q is None else positive_int("block_q", block_q)
        bc = 64 if block_k is None else positive_int("block_k", block_k)
    return min(br, Tq), min(bc, Tk)


def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    block_q: Optional[int] = None, block_k: Optional[int] = None,
                    sram_elements: Optional[int] = None, scale: Optional[float] = None,
                    return_stats: bool = False, trace: bool = False):
    """Exact attention computed tile by tile with the online softmax (FlashAttention forward).

    Follows Algorithm 1 of Dao et al. (2022).  The outer loop walks over
    blocks ``K_j, V_j`` of ``block_k`` keys (``B_c``), loaded once each; the
    inner loop walks over blocks ``Q_i`` of ``block_q`` queries (``B_r``)
    and loads ``Q_i``, the partial output ``O_i`` and the running statistics
    ``m_i`` (row maximum) and ``l_i`` (normaliser), then updates them::

        S    = scale * Q_i K_j^T
        m~   = rowmax(S),  P~ = exp(S - m~),  l~ = rowsum(P~)
        m'   = max(m_i, m~)
        l'   = exp(m_i - m') l_i + exp(m~ - m') l~
        O_i <- (l_i exp(m_i - m') O_i + exp(m~ - m') P~ V_j) / l'

    and writes ``O_i``, ``l_i = l'``, ``m_i = m'`` back.  The result equals
    :func:`naive_attention` up to rounding, but no ``(Tq, Tk)`` matrix is
    ever formed.  With ``causal=True``, tiles entirely above the diagonal
    are skipped (never loaded) and the diagonal tiles are masked.

    Parameters
    ----------
    q, k, v : ``(..., Tq, d)``, ``(..., Tk, d)``, ``(..., Tk, dv)`` floating-point tensors.
    causal : mask keys after each query (needs ``Tq == Tk``).
    block_q, block_k : tile sizes ``B_r`` and ``B_c`` (default 64 each).
    sram_elements : on-chip memory ``M`` in elements; when given the tile
        sizes come from :func:`flash_block_sizes` (and ``block_q``/``block_k``
        must be left out).
    scale : multiplies the scores; defaults to ``1/sqrt(d)``.
    return_stats : also return a :class:`TiledAttentionStats` with the counted
        HBM traffic and the final ``m`` and ``l``.
    trace : record one :class:`TileStep` per tile in ``stats.trace`` (implies
        ``return_stats``; each step copies ``m`` and ``l``, so keep it to small
        examples).

    Returns
    -------
    ``(..., Tq, dv)`` output, or ``(output, stats)`` when ``return_stats`` or ``trace``.

    Traffic is counted exactly as Algorithm 1 moves data, in elements: the
    initial ``O = 0, l = 0, m = -inf`` written to HBM; each ``K_j, V_j``
    read once; for every tile computed, ``Q_i, O_i, l_i, m_i`` read and
    ``O_i, l_i, m_i`` written.  :func:`tiled_attention_traffic` gives the
    same numbers without running the algorithm.
    """
    _check_qkv(q, k, v)
    lead = q.shape[:-2]
    n_lead = int(math.prod(lead))
    Tq, d = q.shape[-2], q.shape[-1]
    Tk, dv = k.shape[-2], v.shape[-1]
    if causal and Tq != Tk:
        raise ValueError(f"causal attention needs as many queries as keys, got Tq={Tq} and Tk={Tk}")
    br, bc = _resolve_blocks(Tq, Tk, d, block_q, block_k, sram_elements)
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    want_stats = bool(return_stats or trace)
    n_r, n_c = -(-Tq // br), -(-Tk // bc)

    reads = dict.fromkeys(HBM_TENSORS, 0)
    writes = {"O": 0, "l": 0, "m": 0}
    dtype, device = q.dtype, q.device
    # Line 2: O = 0, l = 0, m = -inf, initialised in HBM.
    out = torch.zeros(*lead, Tq, dv, dtype=dtype, device=device)
    l = torch.zeros(*lead, Tq, dtype=dtype, device=device)
    m = torch.full((*lead, Tq), float("-inf"), dtype=dtype, device=device)
    writes["O"] += n_lead * Tq * dv
    writes["l"] += n_lead * Tq
    writes["m"] += n_lead * Tq
    steps: List[TileStep] = []
    computed = skipped = 0

    def moved() -> int:
        return sum(reads.values()) + sum(writes.values())

    for j in range(n_c):                                     # outer loop: key/value blocks
        c0, c1 = j * bc, min((j + 1) * bc, Tk)
        live = [not (causal and c0 > min((i + 1) * br, Tq) - 1) for i in range(n_r)]
        if any(live):
            kj, vj = k[..., c0:c1, :], v[..., c0:c1, :]      # line 6: load K_j, V_j
            reads["K"] += n_lead * (c1 - c0) * d
            reads["V"] += n_lead * (c1 - c0) * dv
        for i in range(n_r):                                 # inner loop: query blocks
            r0, r1 = i * br, min((i + 1) * br, Tq)
            if not live[i]:
                skipped += 1
                if trace:
                    steps.append(TileStep(j, i, (r0, r1), (c0, c1), True, m.clone(), l.clone(),
                                          None, moved()))
                continue
            computed += 1
            rows = r1 - r0
            qi, oi, li, mi = q[..., r0:r1, :], out[..., r0:r1, :], l[..., r0:r1], m[..., r0:r1]
            reads["Q"] += n_lead * rows * d                  # line 8: load Q_i, O_i, l_i, m_i
            reads["O"] += n_lead * rows * dv
            reads["l"] += n_lead * rows
            reads["m"] += n_lead * rows
            s = (qi @ kj.transpose(-1, -2)) * scale          # line 9: S_ij, (..., rows, cols)
            if causal and c1 - 1 > r0:                       # tile touches the diagonal
                keep = (torch.arange(r0, r1, device=device)[:, None]
                        >= torch.arange(c0, c1, device=device)[None, :])
                s = s.masked_fill(~keep, float("-inf"))
            m_t = s.amax(dim=-1)                             # line 10: m~, P~, l~
            p = torch.exp(s - _finite_or_zero(m_t)[..., None])
            l_t = p.sum(dim=-1)
            m_new = torch.maximum(mi, m_t)                   # line 11
            ref = _finite_or_zero(m_new)
            alpha, beta = torch.exp(mi - ref), torch.exp(m_t - ref)
            l_new = alpha * li + beta * l_t
            num = (alpha * li)[..., None] * oi + beta[..., None] * (p @ vj)
            denom = torch.where(l_new > 0, l_new, torch.ones_like(l_new))
            out[..., r0:r1, :] = num / denom[..., None]      # line 12: write O_i
            l[..., r0:r1] = l_new                            # line 13: write l_i, m_i
            m[..., r0:r1] = m_new
            writes["O"] += n_lead * rows * dv
            writes["l"] += n_lead * rows
            writes["m"] += n_lead * rows
            if trace:
                steps.append(TileStep(j, i, (r0, r1), (c0, c1), False, m.clone(), l.clone(),
                                      m_t.clone(), moved()))
    if not want_stats:
        return out
    stats = TiledAttentionStats(block_q=br, block_k=bc, n_q_blocks=n_r, n_kv_blocks=n_c,
                                tiles_computed=computed, tiles_skipped=skipped,
                                traffic=HBMTraffic(reads=reads, writes=writes), m=m, l=l,
                                trace=tuple(steps))
    return out, stats


def _finite_or_zero(x: torch.Tensor) -> torch.Tensor:
    """``x`` with infinities replaced by 0, so that ``exp(-inf - x)`` is 0 rather than NaN."""
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


def tiled_attention_traffic(T: int, d: int, *, T_k: Optional[int] = None, d_v: Optional[int] = None,
                            causal: bool = False, block_q: Optional[int] = None,
                            block_k: Optional[int] = None, sram_elements: Optional[int] = None,
                            batch: int = 1) -> HBMTraffic:
    """HBM traffic of :func:`tiled_attention` in closed form, in elements, without running it.

    ``T`` queries (and keys, unless ``T_k`` is given), head sizes ``d`` and
    ``d_v`` (default ``d``), ``batch`` independent (batch x head) problems;
    tile sizes as in :func:`tiled_attention`.  With ``T_r = ceil(T/B_r)``
    query blocks and ``T_c = ceil(T_k/B_c)`` key blocks, non-causal
    attention moves::

        K, V : read once                      T_k d + T_k d_v
        Q    : read once per key block        T_c T d
        O    : written at start, then read and written once per key block
        l, m : likewise, one number per query

    which totals ``T (d_v + 2) + T_k (d + d_v) + T_c T (d + 2 d_v + 4)``.
    Since ``T_c ~ 4 T_k d / M``, that is Theta(T^2 d^2 / M) for on-chip
    memory ``M``.  Causal attention only loads the tiles that reach the
    diagonal, which roughly halves the ``T_c`` term.
    """
    T = positive_int("T", T)
    d = positive_int("d", d)
    Tk = T if T_k is None else positive_int("T_k", T_k)
    dv = d if d_v is None else positive_int("d_v", d_v)
    batch = positive_int("batch", batch)
    if causal and Tk != T:
        raise ValueError(f"causal attention needs as many queries as keys, got T={T} and T_k={Tk}")
    br, bc = _resolve_blocks(T, Tk, d, block_q, block_k, sram_elements)
    n_c = -(-Tk // bc)
    if causal:
        # Key block j (first key c0 = j*B_c) meets every query block from the
        # one holding row c0 onwards, i.e. rows (c0 // B_r) * B_r .. T-1.
        c0 = np.arange(n_c, dtype=np.int64) * bc
        row_loads = int(np.sum(T - (c0 // br) * br))
    else:
        row_loads = n_c * T
    reads = {"Q": row_loads * d, "K": Tk * d, "V": Tk * dv, "O": row_loads * dv,
             "l": row_loads, "m": row_loads}
    writes = {"O": T * dv + row_loads * dv, "l": T + row_loads, "m": T + row_loads}
    return HBMTraffic(reads={n: batch * c for n, c in reads.items()},
                      writes={n: batch * c for n, c in writes.items()})


# ---------------------------------------------------------------------------
# Performer: FAVOR+ positive orthogonal random features
# ---------------------------------------------------------------------------

SeedLike = Union[None, int, np.random.Generator]


def _rng(seed: SeedLike) -> np.random.Generator:
    return rng(seed)


def default_num_features(d: int) -> int:
    """``floor(d ln d)`` random features, the default of lucidrains' performer-pytorch."""
    d = positive_int("d", d)
    return max(1, int(d * math.log(d)))


def orthogonal_gaussian(n_features: int, d: int, seed: SeedLike = None, orthogonal: bool = True,
                        dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Random projection ``omega`` of shape ``(n_features, d)`` whose rows are N(0, I_d) vectors.

    With ``orthogonal=True`` the rows come in blocks of ``d`` that are exactly
    orthogonal to each other (a Haar-random rotation per block), each row
    rescaled to the length of an independent Gaussian vector, so that every
    row is still marginally N(0, I_d).  Orthogonal rows make the FAVOR+
    estimate less noisy than independent ones (Choromanski et al. 2021,
    Theorem 2).  ``seed`` is an int, a NumPy ``Generator`` or ``None``.
    """
    m = positive_int("n_features", n_features)
    d = positive_int("d", d)
    rng = _rng(seed)
    if not orthogonal:
        w = rng.standard_normal((m, d))
    else:
        g = rng.standard_normal((-(-m // d), d, d))       # one Gaussian matrix per block of d rows
        qm, r = np.linalg.qr(g)
        qm = qm * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]   # sign fix: Haar-random rotations
        w = qm.transpose(0, 2, 1).reshape(-1, d)[:m]      # rows of each rotation are orthonormal
        w = w * np.linalg.norm(rng.standard_normal((m, d)), axis=1)[:, None]
    return torch.from_numpy(w).to(dtype)


def performer_features(x: torch.Tensor, omega: torch.Tensor, scale: Optional[float] = None,
                       stabilize: str = "none") -> torch.Tensor:
    """Positive random features ``phi(x)``, shape ``(..., T, m)``, of inputs ``x`` ``(..., T, d)``.

    ``phi(x)_i = m^(-1/2) exp(omega_i . x' - |x'|^2 / 2)`` with
    ``x' = sqrt(scale) x`` (``scale`` defaults to ``1/sqrt(d)``, i.e. inputs
    scaled by ``d^(-1/4)``) and ``omega`` ``(m, d)`` from
    :func:`orthogonal_gaussian`.  Then ``E[phi(q) . phi(k)] = exp(scale q.k)``,
    the unnormalised softmax kernel, and every feature is positive.

    ``stabilize`` subtracts a constant from the exponent before ``exp`` to
    avoid overflow: ``"row"`` the maximum of each row (use it for queries),
    ``"all"`` the maximum over the last two dimensions (use it for keys).
    Either constant cancels in attention's normalisation, but the features
    are then no longer unbiased estimates on their own; ``"none"`` keeps them
    exact.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(omega, torch.Tensor):
        raise TypeError("x and omega must be torch tensors")
    if x.ndim < 2 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor of shape (..., T, d), got {x.dtype} {tuple(x.shape)}")
    if omega.ndim != 2 or omega.shape[1] != x.shape[-1]:
        raise ValueError(f"omega must have shape (m, d) with d = {x.shape[-1]}, got {tuple(omega.shape)}")
    if stabilize not in ("none", "row", "all"):
        raise ValueError(f"stabilize must be one of ['none', 'row', 'all'], got {stabilize!r}")
    d = x.shape[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    if not scale > 0:
        raise ValueError(f"scale must be positive for random features, got {scale}")
    xs = x * math.sqrt(scale)
    z = xs @ omega.to(x.dtype).T - 0.5 * (xs * xs).sum(dim=-1, keepdim=True)
    if stabilize == "row":
        z = z - z.amax(dim=-1, keepdim=True)
    elif stabilize == "all":
        z = z - z.amax(dim=(-2, -1), keepdim=True)
    return torch.exp(z) / math.sqrt(omega.shape[0])


def performer_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n_features: Optional[int] = None,
                        causal: bool = False, seed: SeedLike = None, omega: Optional[torch.Tensor] = None,
                        orthogonal: bool = True, scale: Optional[float] = None,
                        chunk: int = 64) -> torch.Tensor:
    """Softmax attention approximated with FAVOR+ random features, linear in ``T``.

    ``out = D^-1 phi(Q) (phi(K)^T V)`` with ``D = diag(phi(Q) phi(K)^T 1)``:
    the ``(m, dv)`` summary ``phi(K)^T V`` replaces the ``(Tq, Tk)`` matrix,
    so the cost is O(T m d) FLOPs and O(m d) extra memory per head.

    Causal attention needs, for query ``t``, the prefix sums
    ``S_t = sum_{s<=t} phi(k_s) v_s^T`` and ``z_t = sum_{s<=t} phi(k_s)``.
    They are carried from one chunk of ``chunk`` positions to the next, and
    inside a chunk the few pairs are computed directly with a causal mask, so
    memory stays O(chunk m + m dv).

    ``q, k, v``: ``(..., Tq, d)``, ``(..., Tk, d)``, ``(..., Tk, dv)``;
    returns ``(..., Tq, dv)``.  Pass ``omega`` ``(m, d)`` to reuse a
    projection, or ``n_features`` (default :func:`default_num_features`)
    and ``seed`` to draw one with :func:`orthogonal_gaussian`.
    """
    _check_qkv(q, k, v)
    d = q.shape[-1]
    if omega is None:
        m = default_num_features(d) if n_features is None else positive_int("n_features", n_features)
        omega = orthogonal_gaussian(m, d, seed=seed, orthogonal=orthogonal, dtype=q.dtype)
    elif n_features is not None and omega.shape[0] != n_features:
        raise ValueError(f"omega has {omega.shape[0]} rows but n_features={n_features}")
    chunk = positive_int("chunk", chunk)
    fq = performer_features(q, omega, scale=scale, stabilize="row")      # (..., Tq, m)
    fk = performer_features(k, omega, scale=scale, stabilize="all")      # (..., Tk, m)
    if not causal:
        kv = fk.transpose(-1, -2) @ v                                    # (..., m, dv)
        z = fk.sum(dim=-2)                                               # (..., m)
        return (fq @ kv) / (fq @ z[..., None])
    T = q.shape[-2]
    if k.shape[-2] != T:
        raise ValueError(f"causal attention needs as many queries as keys, got Tq={T} and Tk={k.shape[-2]}")
    state = fk.new_zeros(*fk.shape[:-2], fk.shape[-1], v.shape[-1])     # S, (..., m, dv)
    zsum = fk.new_zeros(*fk.shape[:-2], fk.shape[-1])                     # z, (..., m)
    outs = []
    for c0 in range(0, T, chunk):
        c1 = min(c0 + chunk, T)
        qc, kc, vc = fq[..., c0:c1, :], fk[..., c0:c1, :], v[..., c0:c1, :]
        a = (qc @ kc.transpose(-1, -2)).tril()                          # (..., c, c) within the chunk
        num = a @ vc + qc @ state
        den = a.sum(dim=-1) + (qc @ zsum[..., None])[..., 0]
        outs.append(num / den[..., None])
        state = state + kc.transpose(-1, -2) @ vc
        zsum = zsum + kc.sum(dim=-2)
    return torch.cat(outs, dim=-2)


def performer_attention_weights(q: torch.Tensor, k: torch.Tensor, omega: torch.Tensor, causal: bool = False,
                                scale: Optional[float] = None) -> torch.Tensor:
    """The ``(..., Tq, Tk)`` attention matrix that Performer uses implicitly, for drawing.

    ``D^-1 phi(Q) phi(K)^T`` (lower-triangular part when ``causal``): each
    row is positive and sums to 1, and ``weights @ v`` equals
    :func:`performer_attention` with the same ``omega``.  Forming it costs
    O(T^2 m), which is exactly what Performer avoids; use it on small examples.
    """
    if not isinstance(q, torch.Tensor) or not isinstance(k, torch.Tensor):
        raise TypeError("q and k must be torch tensors")
    a = performer_features(q, omega, scale=scale, stabilize="row") @ \
        performer_features(k, omega, scale=scale, stabilize="all").transpose(-1, -2)
    if causal:
        if q.shape[-2] != k.shape[-2]:
            raise ValueError("causal attention needs as many queries as keys")
        a = a.tril()
    return a / a.sum(dim=-1, keepdim=True)


def linear_attention_recurrent(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor,
                               return_state: bool = False):
    """Causal linear attention run as an RNN, one token at a time (Katharopoulos et al. 2020).

    With feature maps ``phi_q`` ``(..., T, m)`` and ``phi_k`` ``(..., T, m)``
    (for example :func:`performer_features` of queries and keys) and values
    ``v`` ``(..., T, dv)``, the state after token ``t`` is

    ``S_t = S_{t-1} + phi(k_t) v_t^T`` ``(..., m, dv)`` and ``z_t = z_{t-1} + phi(k_t)`` ``(..., m)``,

    and the output is ``y_t = S_t^T phi(q_t) / (z_t . phi(q_t))`` ``(..., dv)``.
    This is the masked-matrix form ``D^-1 (phi(Q) phi(K)^T * causal) V``
    computed left to right with a state of fixed size, like an SSM's with no
    decay (``A = I``).  Returns ``(..., T, dv)``, and the final ``(S, z)`` when
    ``return_state``.  Deliberately a plain Python loop over ``T``: it is the
    readable form, not the fast one (:func:`performer_attention` chunks it).
    """
    for name, t in (("phi_q", phi_q), ("phi_k", phi_k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2 or not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor of shape (..., T, features)")
    if phi_q.shape != phi_k.shape:
        raise ValueError(f"phi_q and phi_k must have the same shape, got {tuple(phi_q.shape)} and {tuple(phi_k.shape)}")
    if v.shape[:-1] != phi_k.shape[:-1]:
        raise ValueError(f"v must have shape (..., T, dv) matching phi_k's (..., T), got {tuple(v.shape)}")
    S = phi_k.new_zeros(*phi_k.shape[:-2], phi_k.shape[-1], v.shape[-1])
    z = phi_k.new_zeros(*phi_k.shape[:-2], phi_k.shape[-1])
    outs = []
    for t in range(phi_k.shape[-2]):
        S = S + phi_k[..., t, :, None] * v[..., t, None, :]
        z = z + phi_k[..., t, :]
        q_t = phi_q[..., t, :]
        outs.append((q_t[..., None, :] @ S)[..., 0, :] / (q_t * z).sum(-1, keepdim=True))
    out = torch.stack(outs, dim=-2)
    return (out, (S, z)) if return_state else out


@dataclass(frozen=True)
class PerformerError:
    """Relative error of Performer attention against exact attention, per feature count and seed.

    ``errors[a, b]`` is ``|out - exact| / |exact|`` (Frobenius norms) with
    ``n_features[a]`` features and the ``b``-th random projection; ``mean``
    and ``std`` summarise over projections.
    """

    n_features: np.ndarray
    errors: np.ndarray
    causal: bool
    orthogonal: bool

    @property
    def mean(self) -> np.ndarray:
        """Mean relative error per feature count."""
        return self.errors.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of the relative error over projections, per feature count."""
        return self.errors.std(axis=1)


def performer_error(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n_features: Sequence[int],
                    n_seeds: int = 8, seed: SeedLike = 0, causal: bool = False,
                    orthogonal: bool = True, scale: Optional[float] = None) -> PerformerError:
    """Relative error of :func:`performer_attention` against :func:`naive_attention`.

    For each feature count in ``n_features`` and each of ``n_seeds`` random
    projections (drawn from one generator seeded by ``seed``), computes
    ``|out - exact|_F / |exact|_F``.  ``q, k, v`` as in
    :func:`performer_attention`.  The error shrinks roughly like
    ``1/sqrt(m)``; averaging over seeds makes the curve smooth.
    """
    feats = np.asarray([positive_int("n_features", int(f)) for f in np.atleast_1d(n_features)], dtype=np.int64)
    n_seeds = positive_int("n_seeds", n_seeds)
    rng = _rng(seed)
    exact = naive_attention(q, k, v, causal=causal, scale=scale)
    norm = torch.linalg.vector_norm(exact)
    err = np.empty((feats.size, n_seeds))
    for a, m in enumerate(feats):
        for b in range(n_seeds):
            om = orthogonal_gaussian(int(m), q.shape[-1], seed=rng, orthogonal=orthogonal, dtype=q.dtype)
            approx = performer_attention(q, k, v, causal=causal, omega=om, scale=scale)
            err[a, b] = float(torch.linalg.vector_norm(approx - exact) / norm)
    return PerformerError(n_features=feats, errors=err, causal=bool(causal), orthogonal=bool(orthogonal))


def random_qkv(T: int, d: int, lead: Sequence[int] = (), d_v: Optional[int] = None, seed: SeedLike = 0,
               dtype: torch.dtype = torch.float64, std: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random queries, keys and values ``(*lead, T, d)``, ``(*lead, T, d)``, ``(*lead, T, d_v)``.

    Entries are N(0, std^2), drawn from a NumPy generator seeded by ``seed``
    so that examples are reproducible across machines.
    """
    T = positive_int("T", T)
    d = positive_int("d", d)
    dv = d if d_v is None else positive_int("d_v", d_v)
    lead = tuple(positive_int("lead", int(n)) for n in lead)
    rng = _rng(seed)
    mk = lambda last: torch.from_numpy(std * rng.standard_normal((*lead, T, last))).to(dtype)  # noqa: E731
    return mk(d), mk(d), mk(dv)


def tiling_trace(T: int = 24, d: int = 4, block_q: int = 4, block_k: int = 6, causal: bool = False,
                 seed: SeedLike = 0) -> Dict[str, object]:
    """Run :func:`tiled_attention` on random ``(T, d)`` inputs with a trace, as plain NumPy data for drawing.

    Returns ``scores`` ``(T, T)`` (``q.k / sqrt(d)``, ``nan`` where masked),
    ``steps`` (one dict per tile: ``kv_block``, ``q_block``, ``rows``,
    ``cols``, ``skipped``, the running ``m`` and ``l`` ``(T,)`` and ``hbm``
    elements moved), the final ``m`` and ``l``, ``max_abs_diff`` (largest
    difference from :func:`naive_attention`, a check that tiling is exact),
    the block sizes and counts, and the total HBM ``traffic`` (elements).
    """
    T, d = positive_int("T", T), positive_int("d", d)
    q, k, v = random_qkv(T, d, seed=seed)
    out, stats = tiled_attention(q, k, v, causal=causal, block_q=block_q, block_k=block_k, trace=True)
    diff = float((out - naive_attention(q, k, v, causal=causal)).abs().max())
    s = ((q @ k.T) / math.sqrt(d)).numpy()
    if causal:
        s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, np.nan)
    steps = [dict(kv_block=t.kv_block, q_block=t.q_block, rows=t.rows, cols=t.cols, skipped=t.skipped,
                  m=t.m.numpy(), l=t.l.numpy(), hbm=t.hbm_elements) for t in stats.trace]
    return dict(scores=s, steps=steps, m=stats.m.numpy(), l=stats.l.numpy(), max_abs_diff=diff,
                block_q=stats.block_q, block_k=stats.block_k, n_q_blocks=stats.n_q_blocks,
                n_kv_blocks=stats.n_kv_blocks, traffic=stats.traffic.total)


def attention_weights(q: torch.Tensor, k: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Exact softmax attention weights ``softmax(q k^T / sqrt(d))``, ``(..., T_q, T_k)``; rows sum to 1."""
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share their last dimension, got {tuple(q.shape)} and {tuple(k.shape)}")
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if causal:
        Tq, Tk = s.shape[-2], s.shape[-1]
        s = s.masked_fill(~torch.ones(Tq, Tk, dtype=torch.bool).tril(Tk - Tq), float("-inf"))
    return torch.softmax(s, dim=-1)


def performer_comparison(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, omega: torch.Tensor,
                         causal: bool = False) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """Exact weights, Performer's implicit weights with features ``omega`` ``(m, d)``, and the output error.

    Returns ``(exact, approx, rel_err)``: two ``(T, T)`` weight matrices and
    ``|approx @ v - exact @ v| / |exact @ v|`` (Frobenius norms).
    """
    exact = attention_weights(q, k, causal=causal)
    approx = performer_attention_weights(q, k, omega, causal=causal)
    exact_out, approx_out = exact @ v, approx @ v
    err = float(torch.linalg.vector_norm(approx_out - exact_out) / torch.linalg.vector_norm(exact_out))
    return exact, approx, err
