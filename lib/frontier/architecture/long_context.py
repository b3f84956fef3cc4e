"""Long context: RoPE and its extensions, KV-cache memory, sink tokens, ring attention.

Shape letters used below (local to this module, as in the RoPE-scaling papers;
the course-wide names are in ``docs/glossary.md``):

* ``d``    head size (``head_dim``, not ``d_model``); RoPE rotates ``d/2`` pairs of coordinates
* ``S``    sequence positions
* ``L``    the context the model was trained on (``original_context``; not layers, not a loss)
* ``s``    the context extension factor (``scale``): the new context is ``s*L``
* ``P``    devices in a ring

RoPE (Su et al. 2021) rotates pair ``j`` of a query or key at position ``m`` by
the angle ``m * theta_j``, ``theta_j = base**(-2j/d)`` (radians per token).  A
rotation by ``m*theta`` followed by the transpose of a rotation by
``n*theta`` is a rotation by ``(m-n)*theta``, so ``q_m . k_n`` depends only on
``m - n``.  We use the "rotate half" layout of Hugging Face (pair ``j`` is
coordinates ``j`` and ``j + d/2``); Meta's reference code pairs neighbouring
coordinates instead, which permutes the coordinates but changes no score.

Each extension replaces the inverse frequencies ``theta`` (and YaRN also scales
the scores).  The formulas follow ``shared/reference/facts.md`` section 4:

* position interpolation (Chen et al. 2023): ``theta / s``, i.e. position ``m``
  is read as ``m / s``;
* NTK-aware scaling (bloc97 2023): a larger base ``b * s**(d/(d-2))``;
* dynamic NTK (Hugging Face ``modeling_rope_utils``): the NTK base recomputed
  from the current length ``l``: ``b * (f*l/L - (f-1))**(d/(d-2))`` for ``l > L``;
* YaRN (Peng et al. 2023): per pair, a ramp ``gamma(r)`` over ``r = L/lambda``
  (how many full turns the pair makes within the trained context) blends
  interpolation (``gamma=0``, slow pairs) with the unchanged frequency
  (``gamma=1``, fast pairs), and the scores are multiplied by
  ``(0.1 ln s + 1)**2`` by scaling cos and sin by ``0.1 ln s + 1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

import numpy as np

from .. import hardware as _hardware
from ..env import torch_threads
from ..validation import choice, int_array, nonnegative_int, positive_float, positive_int
from ..validation import rng as _rng
from .params import BYTES_PER_PARAM, ModelConfig, kv_cache_bytes, weight_bytes
from ..models.layers import (  # noqa: F401  (moved below the sections; re-exported here)
    _base, _head_dim, _window_args, apply_rope, rope_cos_sin, rope_inv_freq, streaming_attention_mask,
)

__all__ = [
    "ROPE_METHODS",
    "YARN_RAMPS",
    "KV_PRECISIONS",
    "ATTENTION_KINDS",
    "rope_inv_freq",
    "wavelengths",
    "rotations_in_context",
    "pi_inv_freq",
    "ntk_base",
    "ntk_inv_freq",
    "dynamic_ntk_base",
    "dynamic_ntk_inv_freq",
    "yarn_ramp",
    "yarn_attention_factor",
    "yarn_inv_freq",
    "scaled_inv_freq",
    "rope_cos_sin",
    "apply_rope",
    "rope_score_vs_distance",
    "kv_heads_for",
    "kv_cache_size",
    "kv_cache_curve",
    "max_context_for_memory",
    "streaming_kept_positions",
    "streaming_cache_size",
    "streaming_attention_mask",
    "RingAttentionPlan",
    "ring_attention_plan",
    "ring_min_block_tokens",
    "PasskeyTask",
    "passkey_batch",
    "passkey_loss",
    "passkey_probe",
    "rope_scaled_copy",
    "effective_context",
]

#: Methods understood by :func:`scaled_inv_freq`.
ROPE_METHODS = ("rope", "pi", "ntk", "dynamic_ntk", "yarn")
#: YaRN ramp variants: the paper's ramp in ``r``, or Hugging Face's ramp over pair index.
YARN_RAMPS = ("paper", "index")
#: Bytes per cached element.  The weight precisions of ``params`` plus fp8, common for KV caches.
KV_PRECISIONS: Dict[str, float] = {**BYTES_PER_PARAM, "fp8": _hardware.bytes_per_param("fp8")}
#: Attention variants for :func:`kv_cache_size` (``None`` = as the config says).
ATTENTION_KINDS = ("mha", "gqa", "mqa")


# --------------------------------------------------------------------------- checks


def _scale(scale: object) -> float:
    s = positive_float("scale", scale)
    if s < 1:
        raise ValueError(f"scale (the context extension factor) must be >= 1, got {scale}")
    return s


# --------------------------------------------------------------------------- RoPE frequencies


def wavelengths(inv_freq: np.ndarray) -> np.ndarray:
    """``(d/2,)`` wavelength ``2*pi/theta`` of each pair (tokens per full turn)."""
    inv_freq = np.asarray(inv_freq, dtype=np.float64)
    if np.any(inv_freq <= 0):
        raise ValueError("inv_freq must be positive")
    return 2.0 * np.pi / inv_freq


def rotations_in_context(inv_freq: np.ndarray, original_context: int) -> np.ndarray:
    """``(d/2,)`` YaRN's ``r = L / lambda``: full turns each pair makes within ``L`` tokens."""
    L = positive_int("original_context", original_context)
    return L / wavelengths(inv_freq)


def pi_inv_freq(head_dim: int, scale: float, base: float = 10_000.0) -> np.ndarray:
    """Position interpolation: ``theta / s`` (Chen et al. 2023).  ``(d/2,)`` rad/token.

    Equivalent to feeding positions ``m / s``: ``s*L`` tokens land on the
    angles the model saw for ``L``.
    """
    return rope_inv_freq(head_dim, base) / _scale(scale)


def ntk_base(head_dim: int, scale: float, base: float = 10_000.0) -> float:
    """NTK-aware base ``b * s**(d/(d-2))``."""
    d = _head_dim(head_dim)
    return _base(base) * _scale(scale) ** (d / (d - 2))


def ntk_inv_freq(head_dim: int, scale: float, base: float = 10_000.0) -> np.ndarray:
    """NTK-aware scaling: RoPE with the base of :func:`ntk_base`.  ``(d/2,)`` rad/token.

    The exponent makes the slowest pair exactly ``s`` times slower (like
    interpolation) while the fastest pair (``j = 0``) is unchanged.
    """
    return rope_inv_freq(head_dim, ntk_base(head_dim, scale, base))


def dynamic_ntk_base(head_dim: int, seq_len: int, original_context: int, factor: float = 1.0,
                     base: float = 10_000.0) -> float:
    """Dynamic-NTK base at the current length ``l`` (Hugging Face's formula).

    ``b * (f * l / L - (f - 1))**(d/(d-2))`` with ``l = max(seq_len, L)``, so
    nothing changes until the sequence outgrows the trained context.  With
    ``f = 1`` this is static NTK with ``s = l / L``.
    """
    d = _head_dim(head_dim)
    l = positive_int("seq_len", seq_len)
    L = positive_int("original_context", original_context)
    f = positive_float("factor", factor)
    if f < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    l = max(l, L)
    return _base(base) * (f * l / L - (f - 1)) ** (d / (d - 2))


def dynamic_ntk_inv_freq(head_dim: int, seq_len: int, original_context: int, factor: float = 1.0,
                         base: float = 10_000.0) -> np.ndarray:
    """RoPE with :func:`dynamic_ntk_base`.  ``(d/2,)`` rad/token."""
    return rope_inv_freq(head_dim, dynamic_ntk_base(head_dim, seq_len, original_context, factor, base))


def yarn_ramp(r: np.ndarray, alpha: float = 1.0, beta: float = 32.0) -> np.ndarray:
    """YaRN's ``gamma(r)``: 0 below ``alpha``, 1 above ``beta``, linear in between."""
    alpha = positive_float("alpha", alpha)
    beta = positive_float("beta", beta)
    if beta <= alpha:
        raise ValueError(f"beta must exceed alpha, got alpha={alpha}, beta={beta}")
    r = np.asarray(r, dtype=np.float64)
    return np.clip((r - alpha) / (beta - alpha), 0.0, 1.0)


def yarn_attention_factor(scale: float) -> float:
    """``0.1 ln s + 1``, the factor on cos and sin (scores scale by its square).

    1.2079 at ``s = 8``, 1.3466 at ``s = 32``; 1 for ``s = 1``.
    """
    return 0.1 * math.log(_scale(scale)) + 1.0


def yarn_inv_freq(head_dim: int, scale: float, original_context: int, base: float = 10_000.0,
                  alpha: float = 1.0, beta: float = 32.0, ramp: str = "paper") -> np.ndarray:
    """YaRN frequencies ``(1-gamma)*theta/s + gamma*theta``.  ``(d/2,)`` rad/token.

    Args:
        head_dim, base: as in :func:`rope_inv_freq`.
        scale: ``s >= 1``.
        original_context: ``L``, the trained context (tokens).
        alpha, beta: the ramp's ends in turns per context (``beta_slow=1`` and
            ``beta_fast=32`` in Hugging Face).
        ramp: ``"paper"`` uses ``gamma(r)`` linear in ``r`` (Peng et al. 2023,
            as in facts.md).  ``"index"`` reproduces Hugging Face's
            ``_compute_yarn_parameters``: the pair indices where ``r`` equals
            ``beta`` and ``alpha`` are rounded outwards (floor, ceil) and the
            ramp is linear in the pair index between them, i.e. linear in
            ``log r``.  Both agree outside ``[alpha, beta]``.
    """
    d = _head_dim(head_dim)
    s = _scale(scale)
    L = positive_int("original_context", original_context)
    choice("ramp", ramp, YARN_RAMPS)
    theta = rope_inv_freq(d, base)
    if ramp == "paper":
        gamma = yarn_ramp(rotations_in_context(theta, L), alpha, beta)
    else:
        alpha = positive_float("alpha", alpha)
        beta = positive_float("beta", beta)
        if beta <= alpha:
            raise ValueError(f"beta must exceed alpha, got alpha={alpha}, beta={beta}")

        def pair_index(turns: float) -> float:   # solve L * theta_j / (2 pi) = turns for j
            return d * math.log(L / (turns * 2 * math.pi)) / (2 * math.log(base))

        low = max(math.floor(pair_index(beta)), 0)
        high = min(math.ceil(pair_index(alpha)), d - 1)
        if high == low:
            high += 0.001
        gamma = 1.0 - np.clip((np.arange(d // 2) - low) / (high - low), 0.0, 1.0)
    return (1.0 - gamma) * theta / s + gamma * theta


def scaled_inv_freq(method: str, head_dim: int, scale: float = 1.0, *, base: float = 10_000.0,
                    original_context: int = 4096, seq_len: Optional[int] = None,
                    dynamic_factor: float = 1.0, alpha: float = 1.0, beta: float = 32.0,
                    yarn_ramp_kind: str = "paper") -> Tuple[np.ndarray, float]:
    """Inverse frequencies and attention factor of one method, by name.

    Args:
        method: one of :data:`ROPE_METHODS`.
        scale: ``s >= 1``; ignored by ``"rope"``.
        seq_len: current length for ``"dynamic_ntk"`` (default ``s * L``).
        dynamic_factor: Hugging Face's ``factor`` for dynamic NTK (default 1,
            which makes it static NTK with ``s = seq_len / L``).

    Returns:
        ``(inv_freq (d/2,), attention_factor)``; the factor multiplies cos and
        sin (1 except for YaRN).
    """
    choice("method", method, ROPE_METHODS)
    s = _scale(scale)
    if method == "rope":
        return rope_inv_freq(head_dim, base), 1.0
    if method == "pi":
        return pi_inv_freq(head_dim, s, base), 1.0
    if method == "ntk":
        return ntk_inv_freq(head_dim, s, base), 1.0
    if method == "dynamic_ntk":
        L = positive_int("original_context", original_context)
        l = int(round(s * L)) if seq_len is None else seq_len
        return dynamic_ntk_inv_freq(head_dim, l, L, dynamic_factor, base), 1.0
    return (yarn_inv_freq(head_dim, s, original_context, base, alpha, beta, yarn_ramp_kind),
            yarn_attention_factor(s))


# --------------------------------------------------------------------------- rotation


def rope_score_vs_distance(distances, inv_freq: np.ndarray, attention_factor: float = 1.0,
                           kind: str = "ones", n_samples: int = 256, seed: int = 0) -> np.ndarray:
    """The score ``q_m . k_n`` as a function of the distance ``m - n``.  ``(len(distances),)``.

    * ``kind="ones"``: ``q = k = (1, ..., 1)``; exactly
      ``f**2 * 2 * sum_j cos(delta * theta_j)`` (``d * f**2`` at distance 0).
      RoFormer's long-term-decay picture.
    * ``kind="random"``: ``q ~ N(0, I)`` and a perfectly matching key
      ``k = q``, averaged over ``n_samples`` draws (seeded).  Its expectation
      equals the ``"ones"`` curve; the spread shows how noisy one head is.

    Not divided by ``sqrt(d)``.
    """
    choice("kind", kind, ("ones", "random"))
    dist = np.asarray(distances, dtype=np.float64).reshape(-1)
    inv_freq = np.asarray(inv_freq, dtype=np.float64).reshape(-1)
    f = positive_float("attention_factor", attention_factor)
    cos = np.cos(np.outer(dist, inv_freq))                    # (n_dist, d/2)
    if kind == "ones":
        return f * f * 2.0 * cos.sum(axis=-1)
    n_samples = positive_int("n_samples", n_samples)
    rng = _rng(seed)
    q = rng.standard_normal((n_samples, 2 * inv_freq.size))
    pair_energy = q[:, : inv_freq.size] ** 2 + q[:, inv_freq.size:] ** 2   # (n, d/2)
    return f * f * (cos @ pair_energy.mean(axis=0))


# --------------------------------------------------------------------------- KV cache

def kv_heads_for(cfg: ModelConfig, attention: Optional[str] = None,
                 n_kv_heads: Optional[int] = None) -> int:
    """Key/value heads under an attention variant.

    * ``None``: as ``cfg`` says (or ``n_kv_heads`` if given).
    * ``"mha"``: one KV head per query head (``n_heads``).
    * ``"mqa"``: a single shared KV head.
    * ``"gqa"``: ``n_kv_heads`` if given, else ``cfg.n_kv_heads`` when it is a
      true group size (between 1 and ``n_heads``), else an error.
    """
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
    if attention is not None:
        choice("attention", attention, ATTENTION_KINDS)
    if n_kv_heads is not None:
        n_kv_heads = positive_int("n_kv_heads", n_kv_heads)
        if cfg.n_heads % n_kv_heads:
            raise ValueError(f"n_kv_heads must divide n_heads={cfg.n_heads}, got {n_kv_heads}")
        if attention == "mha" and n_kv_heads != cfg.n_heads:
            raise ValueError(f"attention='mha' means n_kv_heads = n_heads = {cfg.n_heads}, got {n_kv_heads}")
        if attention == "mqa" and n_kv_heads != 1:
            raise ValueError(f"attention='mqa' means n_kv_heads = 1, got {n_kv_heads}")
        return n_kv_heads
    if attention is None:
        return cfg.n_kv_heads
    if attention == "mha":
        return cfg.n_heads
    if attention == "mqa":
        return 1
    if 1 < cfg.n_kv_heads < cfg.n_heads:
        return cfg.n_kv_heads
    raise ValueError(f"{cfg.name} does not use grouped-query attention; pass n_kv_heads for 'gqa'")


def _kv_element_bytes(precision: Union[str, float]) -> float:
    if isinstance(precision, str):
        choice("precision", precision, tuple(KV_PRECISIONS))
        return KV_PRECISIONS[precision]
    return positive_float("precision (bytes per element)", precision)


def kv_cache_size(cfg: ModelConfig, context: int, *, batch: int = 1, attention: Optional[str] = None,
                  n_kv_heads: Optional[int] = None, precision: Union[str, float] = "bf16") -> float:
    """KV-cache memory for ``batch`` sequences of ``context`` tokens (bytes).

    ``2 * n_layers * n_kv_heads * head_dim * context * batch * bytes``, by
    :func:`frontier.architecture.params.kv_cache_bytes` on a copy of ``cfg``
    with the KV heads of :func:`kv_heads_for`.  ``precision`` is a name in
    :data:`KV_PRECISIONS` or a number of bytes per element.

    LLaMA-2 70B (GQA, 8 KV heads), 4,096 tokens, 16-bit: 1,342,177,280 bytes.
    """
    heads = kv_heads_for(cfg, attention, n_kv_heads)
    return kv_cache_bytes(cfg.with_(n_kv_heads=heads), context, batch, _kv_element_bytes(precision))


def kv_cache_curve(cfg: ModelConfig, contexts, *, batch: int = 1, attention: Optional[str] = None,
                   n_kv_heads: Optional[int] = None, precision: Union[str, float] = "bf16") -> np.ndarray:
    """:func:`kv_cache_size` at each of ``contexts`` (tokens) -> ``(len(contexts),)`` bytes.

    The cache is linear in the context, so this is the one-token size times
    ``contexts`` (cheap for sliders).
    """
    ctx = int_array("contexts", contexts)
    per_token = kv_cache_size(cfg, 1, batch=batch, attention=attention, n_kv_heads=n_kv_heads,
                              precision=precision)
    return per_token * ctx.astype(np.float64)


def max_context_for_memory(cfg: ModelConfig, memory_bytes: float, *, batch: int = 1,
                           attention: Optional[str] = None, n_kv_heads: Optional[int] = None,
                           precision: Union[str, float] = "bf16",
                           weights_precision: Optional[str] = "bf16") -> int:
    """Longest context (tokens) whose KV cache fits in ``memory_bytes``.

    The weights (:func:`frontier.architecture.params.weight_bytes` in
    ``weights_precision``; ``None`` leaves them out) are subtracted first;
    activations and framework overhead are ignored, so this is an upper bound.
    Returns 0 if not even one token fits.
    """
    memory = positive_float("memory_bytes", memory_bytes)
    if weights_precision is not None:
        memory -= weight_bytes(cfg, weights_precision)
    per_token = kv_cache_size(cfg, 1, batch=batch, attention=attention, n_kv_heads=n_kv_heads,
                              precision=precision)
    return max(0, int(memory // per_token))


# --------------------------------------------------------------------------- StreamingLLM


def streaming_kept_positions(t: int, window: int, n_sink: int = 4) -> np.ndarray:
    """Positions (0-based) in the cache after ``t`` tokens under StreamingLLM.

    The first ``n_sink`` tokens (the attention sinks) stay for ever; of the
    rest, only the ``window`` most recent (the current token included) are
    kept.  ``n_sink = 0`` is a plain sliding-window cache.  Xiao et al. 2024
    keep 4 sinks and a recent window (512 by default in their ``kv_cache.py``).

    Returns a sorted int64 array of at most ``n_sink + window`` positions.
    """
    t = nonnegative_int("t", t)
    window, n_sink = _window_args(window, n_sink)
    sinks = np.arange(min(n_sink, t))
    recent = np.arange(max(n_sink, t - window), t)
    return np.concatenate([sinks, recent]).astype(np.int64)


def streaming_cache_size(t, window: int, n_sink: int = 4) -> np.ndarray:
    """Cached tokens after each of ``t`` tokens: ``min(t, n_sink + window)``.  Same shape as ``t``."""
    window, n_sink = _window_args(window, n_sink)
    t = np.asarray(t)
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
    return np.minimum(t, n_sink + window)


# --------------------------------------------------------------------------- ring attention

@dataclass(frozen=True)
class RingAttentionPlan:
    """How ring attention spreads one layer's attention over ``P`` devices.

    The sequence of ``S`` tokens is cut into ``P`` blocks of ``S/P`` tokens;
    device ``i`` keeps query block ``i`` and starts with key/value block ``i``.
    At each of ``P`` steps it attends its queries to the KV block it holds
    (accumulating with the online softmax), while passing that block to device
    ``i+1`` and receiving one from ``i-1``.  After ``P-1`` passes every query
    block has seen every KV block (Liu et al. 2023).

    Attributes:
        seq_len, n_devices, block_tokens: ``S``, ``P``, ``S/P`` (tokens).
        kv_block_bytes: one device's K and V block for one layer (bytes).
        schedule: ``(P, P)`` int, ``schedule[step, device]`` = the KV block that
            device holds at that step, ``(device - step) mod P``.
        work: ``(P, P)`` int, per step and device: 2 = a full block of scores,
            1 = the diagonal block (half masked under causal attention),
            0 = fully masked (causal attention skips it).
        bytes_per_step: ``(P,)`` bytes each device sends at each step
            (``kv_block_bytes`` for the first ``P-1`` steps, 0 for the last).
    """

    seq_len: int
    n_devices: int
    block_tokens: int
    kv_block_bytes: float
    schedule: np.ndarray
    work: np.ndarray
    bytes_per_step: np.ndarray

    @property
    def bytes_per_device(self) -> float:
        """Bytes one device sends for one layer: ``(P-1) * kv_block_bytes``."""
        return float(self.bytes_per_step.sum())

    @property
    def total_bytes(self) -> float:
        """Bytes sent over all links for one layer: ``P * (P-1) * kv_block_bytes``."""
        return self.bytes_per_device * self.n_devices


def ring_attention_plan(cfg: ModelConfig, seq_len: int, n_devices: int, *,
                        precision: Union[str, float] = "bf16", causal: bool = True) -> RingAttentionPlan:
    """The block schedule and communication of ring attention for ``cfg`` (one layer).

    ``seq_len`` must be a multiple of ``n_devices``.  The KV block of a device
    is ``2 * (S/P) * n_kv_heads * head_dim * bytes`` (K and V).
    """
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
    S = positive_int("seq_len", seq_len)
    P = positive_int("n_devices", n_devices)
    if S % P:
        raise ValueError(f"seq_len ({S}) must be a multiple of n_devices ({P})")
    block = S // P
    kv_block = kv_cache_size(cfg.with_(n_layers=1), block, precision=precision)
    step = np.arange(P)[:, None]
    device = np.arange(P)[None, :]
    schedule = (device - step) % P
    if causal:
        work = np.where(schedule < device, 2, np.where(schedule == device, 1, 0))
    else:
        work = np.full((P, P), 2)
    bytes_per_step = np.full(P, kv_block, dtype=np.float64)
    bytes_per_step[-1] = 0.0
    return RingAttentionPlan(seq_len=S, n_devices=P, block_tokens=block, kv_block_bytes=float(kv_block),
                             schedule=schedule, work=work.astype(np.int64), bytes_per_step=bytes_per_step)


def ring_min_block_tokens(cfg: ModelConfig, flops_per_second: float, bytes_per_second: float, *,
                          precision: Union[str, float] = "bf16") -> float:
    """Smallest block (tokens per device) for which compute hides communication.

    One step computes a ``c x c`` block of scores and its weighted sum:
    ``4 * c**2 * n_heads * head_dim`` FLOPs, taking ``/ flops_per_second``;
    it sends ``2 * c * n_kv_heads * head_dim * bytes``, taking
    ``/ bytes_per_second``.  Compute hides the transfer when
    ``c >= n_kv_heads * bytes * F / (2 * n_heads * B)``.  For multi-head
    attention in 16-bit this is ``F / B``, the condition of Liu et al. 2023.
    """
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
    F_ = positive_float("flops_per_second", flops_per_second)
    B_ = positive_float("bytes_per_second", bytes_per_second)
    b = _kv_element_bytes(precision)
    return cfg.n_kv_heads * b * F_ / (2.0 * cfg.n_heads * B_)


# --------------------------------------------------------------------------- an experiment: recall across a distance
@dataclass(frozen=True)
class PasskeyTask:
    """Retrieve a value planted somewhere in filler: a needle in a haystack for a tiny model.

    Vocabulary: ``0`` BOS; ``1 .. n_filler`` filler tokens (uniform noise);
    then ``n_keys`` key tokens, ``n_values`` value tokens, and one query
    token.  A sequence of ``seq_len`` tokens is ``BOS``, filler, with one
    *needle* (a key followed by its value) at some position, and ends with
    ``QUERY key value``: predicting the last token means finding the needle,
    however far back it sits.  Only that answer is scored.
    """

    n_filler: int = 16
    n_keys: int = 8
    n_values: int = 8

    def __post_init__(self) -> None:
        for name in ("n_filler", "n_keys", "n_values"):
            positive_int(name, getattr(self, name))

    @property
    def first_key(self) -> int:
        return 1 + self.n_filler

    @property
    def first_value(self) -> int:
        return self.first_key + self.n_keys

    @property
    def query_token(self) -> int:
        return self.first_value + self.n_values

    @property
    def vocab_size(self) -> int:
        return self.query_token + 1


def passkey_batch(task: PasskeyTask, batch: int, seq_len: int, rng, depth: Optional[float] = None):
    """Sequences of :class:`PasskeyTask`: ``(tokens (batch, seq_len) int64 tensor, needle positions (batch,))``.

    The needle's key sits at a position ``p`` in ``1 .. seq_len - 5`` and its
    value at ``p + 1``; ``depth`` in ``[0, 1]`` puts every needle at the same
    relative place (0: right after BOS, 1: just before the query), ``None``
    draws it uniformly.  The answer (last token) is ``seq_len - 1 - (p + 1)``
    tokens after the value it copies.
    """
    import torch

    if not isinstance(task, PasskeyTask):
        raise TypeError(f"task must be a PasskeyTask, got {type(task).__name__}")
    batch = positive_int("batch", batch)
    seq_len = positive_int("seq_len", seq_len)
    if seq_len < 6:
        raise ValueError(f"seq_len must be at least 6 (BOS, a needle, filler, query, key, value), got {seq_len}")
    g = _rng(rng)
    last = seq_len - 5                                     # the last key position that leaves room for filler
    if depth is None:
        pos = g.integers(1, last + 1, size=batch)
    else:
        d = float(depth)
        if not 0.0 <= d <= 1.0:
            raise ValueError(f"depth must be in [0, 1], got {depth}")
        pos = np.full(batch, 1 + int(round(d * (last - 1))))
    tokens = g.integers(1, 1 + task.n_filler, size=(batch, seq_len))
    tokens[:, 0] = 0
    keys = task.first_key + g.integers(0, task.n_keys, size=batch)
    values = task.first_value + g.integers(0, task.n_values, size=batch)
    rows = np.arange(batch)
    tokens[rows, pos], tokens[rows, pos + 1] = keys, values
    tokens[:, -3], tokens[:, -2], tokens[:, -1] = task.query_token, keys, values
    return torch.from_numpy(tokens.astype(np.int64)), pos


def passkey_loss(model, tokens):
    """``(model, tokens) -> (loss, {"accuracy"})``: cross-entropy of the last token only (nats), for ``train``."""
    import torch

    logits = model(tokens[:, :-1]).logits[:, -1]
    loss = torch.nn.functional.cross_entropy(logits, tokens[:, -1])
    return loss, {"accuracy": (logits.argmax(-1) == tokens[:, -1]).float().mean()}


def passkey_probe(model, task: PasskeyTask, seq_lens, depths, n: int = 128, seed: int = 0) -> Dict[str, np.ndarray]:
    """Accuracy and loss of the answer for every ``(seq_len, depth)`` pair: a needle-in-a-haystack grid.

    Returns ``{"seq_lens" (S,), "depths" (D,), "accuracy" (S, D), "loss" (S, D) nats}``,
    each cell from ``n`` fresh sequences (seeded, the same for every model).
    """
    import torch

    lens = [positive_int("seq_len", t) for t in np.atleast_1d(seq_lens)]
    depths = np.atleast_1d(np.asarray(depths, dtype=np.float64))
    acc = np.zeros((len(lens), depths.size))
    loss = np.zeros_like(acc)
    was_training = model.training
    model.eval()
    with torch.no_grad(), torch_threads(1):             # tiny matrices: one thread is fastest and fair to others
        for i, T in enumerate(lens):
            for j, d in enumerate(depths):
                tokens, _ = passkey_batch(task, positive_int("n", n), T, np.random.default_rng([seed, i, j]), d)
                logits = model(tokens[:, :-1]).logits[:, -1]
                loss[i, j] = torch.nn.functional.cross_entropy(logits, tokens[:, -1]).item()
                acc[i, j] = (logits.argmax(-1) == tokens[:, -1]).float().mean().item()
    model.train(was_training)
    return {"seq_lens": np.asarray(lens), "depths": depths, "accuracy": acc, "loss": loss}


def rope_scaled_copy(model, method: str, scale: float, original_context: int):
    """A copy of a :class:`frontier.models.TinyLM` whose RoPE is extended by ``method`` at ``scale``.

    Every attention block gets the inverse frequencies of
    :func:`scaled_inv_freq` (from the model's own ``rope_theta`` and head
    size); YaRN's attention factor ``f`` multiplies every score by ``f**2``,
    which we apply by scaling the query projection by ``f**2`` (scores are
    linear in the query).  ``"rope"`` returns an unchanged copy.  The original
    model is not modified.
    """
    import copy

    choice("method", method, ROPE_METHODS)
    cfg = getattr(model, "config", None)
    blocks = getattr(model, "blocks", None)
    if cfg is None or blocks is None or not all(hasattr(b, "attn") and hasattr(b.attn, "inv_freq") for b in blocks):
        raise TypeError("model must be a frontier.models.TinyLM (blocks with RoPE attention)")
    inv, factor = scaled_inv_freq(method, cfg.head_dim, scale, base=cfg.rope_theta,
                                  original_context=positive_int("original_context", original_context))
    out = copy.deepcopy(model)
    import torch

    with torch.no_grad():
        for block in out.blocks:
            block.attn.inv_freq = np.asarray(inv, dtype=np.float64)
            block.attn.q.weight.mul_(factor ** 2)
    return out


def effective_context(probe: Dict[str, np.ndarray], threshold: float = 0.9) -> int:
    """The longest probed length at which the needle is found at every depth with at least ``threshold`` accuracy.

    0 when even the shortest length fails.  (Advertised context is what a
    model accepts; effective context is what it uses.)
    """
    threshold = float(threshold)
    ok = probe["accuracy"].min(axis=1) >= threshold
    best = 0
    for T, good in zip(probe["seq_lens"], ok):
        if not good:
            break
        best = int(T)
    return best
