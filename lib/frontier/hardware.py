"""Accelerators, number formats, and the one place that answers "will it fit, and how fast?".

Shared module (imports no course section).  Three parts:

* :data:`ACCELERATORS`: the devices the course prices, each with its memory,
  memory bandwidth, peak FLOP/s by data type (dense, no structured
  sparsity), streaming-multiprocessor count and boost clock, on-chip memory
  and board power, and the datasheet each figure comes from.  A figure we
  could not confirm against a primary source says ``UNVERIFIED`` in
  ``source``; a class of device (a phone, a 2-core CPU server) is a stated
  assumption, not a product.
* :data:`PRECISIONS`: the number formats for weights and KV caches, with
  bits per weight *including* the scales that block-quantised formats store
  (NF4, GGUF Q4_0), so "bytes = parameters x bits / 8" is honest.
* :func:`memory_required`, :func:`fits`, :func:`gpus_needed`,
  :func:`decode_time_bound`, :func:`prefill_time_bound`: memory (weights +
  KV cache + activations) and lower bounds on time (roofline: bytes moved /
  bandwidth against FLOPs / peak, whichever is larger).

Units: bytes, bytes/s, FLOP/s, seconds, watts, hertz.  Memory sizes are the
vendors' figures read as decimal units (80 GB = 80e9 bytes); the memory a
program can use is a little less (the driver and CUDA context take some).
Symbols follow the course glossary, ``docs/glossary.md``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Dict, Mapping, Optional, Tuple, Union

from .validation import choice, fraction, lookup, nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = [
    "Accelerator", "ACCELERATORS", "accelerator", "DTYPES",
    "Precision", "PRECISIONS", "precision", "bits_per_weight", "bytes_per_param",
    "kv_cache_bytes_per_token", "MemoryBreakdown", "memory_required", "fits", "gpus_needed",
    "TimeBound", "decode_time_bound", "prefill_time_bound",
]

#: Data types with a peak FLOP/s entry (tensor-core rates where the device has them; dense).
DTYPES: Tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")

_KIB = 1024
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Accelerator:
    """One device the course prices.

    ``memory_bytes`` device memory (bytes; unified memory for laptops and
    phones, of which the operating system keeps a share);
    ``memory_bandwidth`` peak off-chip bandwidth (bytes/s); ``peak_flops``
    dtype -> dense peak (FLOP/s, or int ops/s for ``int8``), a dtype the
    device cannot run fast is absent; ``sm_count`` streaming multiprocessors
    (GPU cores for Apple, CPU cores for CPUs); ``clock_hz`` boost clock;
    ``smem_per_sm_bytes`` combined shared memory/L1 per SM (the ``M`` of
    FlashAttention); ``l2_bytes`` last-level on-chip cache;
    ``board_power_w`` board power / TDP (watts); ``source`` where the
    figures come from, with ``UNVERIFIED`` naming the fields not confirmed.
    """

    name: str
    kind: str
    memory_bytes: float
    memory_bandwidth: float
    peak_flops: Mapping[str, float]
    sm_count: int
    clock_hz: float
    smem_per_sm_bytes: Optional[float]
    l2_bytes: Optional[float]
    board_power_w: float
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak_flops", MappingProxyType(dict(self.peak_flops)))
        for dt in self.peak_flops:
            choice("peak_flops dtype", dt, DTYPES)

    def __hash__(self) -> int:  # the mapping field is not hashable; names are unique
        return hash(self.name)

    def flops(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``; ValueError if the device has no fast path for it."""
        choice("dtype", dtype, DTYPES)
        if dtype not in self.peak_flops:
            raise ValueError(f"{self.name} lists no peak rate for dtype {dtype!r}; "
                             f"it has {list(self.peak_flops)}")
        return self.peak_flops[dtype]

    @property
    def ridge_point(self) -> float:
        """FLOPs per byte at which bf16 (or fp32) compute and bandwidth balance (FLOP/byte)."""
        peak = self.peak_flops.get("bf16", self.peak_flops["fp32"])
        return peak / self.memory_bandwidth


_A100_SOURCE = ("NVIDIA A100 Tensor Core GPU datasheet (2021) for memory, bandwidth, peak rates and power; "
                "NVIDIA Ampere GA100 architecture whitepaper for 108 SMs, 1410 MHz boost, "
                "192 KB shared memory/L1 per SM, 40 MB L2")
_H100_COMPUTE = {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12,
                 "fp8": 1978.9e12, "int8": 1978.9e12}
_HOPPER_SOURCE = ("NVIDIA H100 Tensor Core GPU datasheet (SXM column; dense = half the 'with sparsity' "
                  "figures); NVIDIA H100 (Hopper) architecture whitepaper for 132 SMs, 256 KB L1/shared "
                  "memory per SM, 50 MB L2; boost clock 1980 MHz derived from the fp32 peak (132 SMs x 128 FP32 lanes x 2), "
                  "UNVERIFIED as a datasheet figure")

ACCELERATORS: Dict[str, Accelerator] = {a.name: a for a in (
    Accelerator(
        "A100-40GB", "gpu", 40e9, 1555e9,
        {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12, "int8": 624e12},
        108, 1.41e9, 192 * _KIB, 40 * _MIB, 400.0, "A100 SXM 40GB; " + _A100_SOURCE),
    Accelerator(
        "A100-80GB", "gpu", 80e9, 2039e9,
        {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12, "int8": 624e12},
        108, 1.41e9, 192 * _KIB, 40 * _MIB, 400.0, "A100 80GB SXM; " + _A100_SOURCE),
    Accelerator(
        "H100-SXM", "gpu", 80e9, 3.35e12, _H100_COMPUTE,
        132, 1.98e9, 256 * _KIB, 50 * _MIB, 700.0, "H100 SXM5 80GB; " + _HOPPER_SOURCE),
    Accelerator(
        "H200", "gpu", 141e9, 4.8e12, _H100_COMPUTE,
        132, 1.98e9, 256 * _KIB, 50 * _MIB, 700.0,
        "H200 SXM 141GB; NVIDIA H200 Tensor Core GPU datasheet (memory, 4.8 TB/s, same compute and 700 W "
        "as H100 SXM); same GH100 die as H100: " + _HOPPER_SOURCE),
    Accelerator(
        "L4", "gpu", 24e9, 300e9,
        {"fp32": 30.3e12, "tf32": 60e12, "bf16": 121e12, "fp16": 121e12, "fp8": 242.5e12, "int8": 242.5e12},
        58, 2.04e9, 128 * _KIB, 48 * _MIB, 72.0,
        "NVIDIA L4 Tensor Core GPU datasheet (dense = half the 'with sparsity' figures); "
        "Ada AD104: 58 SMs, 128 KB L1 per SM, 48 MB L2, 2040 MHz boost UNVERIFIED (third-party spec sheets)"),
    Accelerator(
        "T4", "gpu", 16e9, 320e9,
        {"fp32": 8.1e12, "fp16": 65e12, "int8": 130e12},
        40, 1.59e9, 96 * _KIB, 4 * _MIB, 70.0,
        "NVIDIA T4 Tensor Core GPU datasheet (fp16 = mixed precision); Turing TU104 whitepaper: 40 SMs, "
        "96 KB L1/shared per SM, 4 MB L2; no bf16, tf32 or fp8 tensor cores"),
    Accelerator(
        "RTX 4090", "gpu", 24e9, 1008e9,
        {"fp32": 82.6e12, "tf32": 82.6e12, "bf16": 165.2e12, "fp16": 165.2e12, "fp8": 330.3e12,
         "int8": 660.6e12},
        128, 2.52e9, 128 * _KIB, 72 * _MIB, 450.0,
        "NVIDIA Ada Lovelace (AD102) architecture whitepaper, appendix: GeForce RTX 4090, tensor rates with "
        "FP32 accumulate (GeForce cards run FP16-accumulate at twice these); fp8 UNVERIFIED"),
    Accelerator(
        "Apple M2 laptop (16 GB)", "laptop", 16e9, 100e9,
        {"fp32": 3.6e12, "fp16": 3.6e12},
        10, 1.4e9, None, None, 20.0,
        "Apple M2 press release (June 2022): 100 GB/s unified memory, 10-core GPU 3.6 TFLOPS fp32; "
        "fp16 rate, GPU clock and power UNVERIFIED (class estimates)"),
    Accelerator(
        "Apple M3 Max laptop (128 GB)", "laptop", 128e9, 400e9,
        {"fp32": 14.2e12, "fp16": 14.2e12},
        40, 1.4e9, None, None, 60.0,
        "Apple M3 Max (40-core GPU) product page: up to 128 GB unified memory at 400 GB/s; "
        "peak FLOP/s, clock and power UNVERIFIED (third-party estimates)"),
    Accelerator(
        "phone (12 GB)", "phone", 12e9, 77e9,
        {"fp32": 2e12, "fp16": 4e12, "int8": 35e12},
        8, 3.0e9, None, None, 8.0,
        "a 2024 flagship phone class (LPDDR5X, 64-bit bus): every figure UNVERIFIED, an order-of-magnitude "
        "assumption (12 GB RAM shared with the OS; NPU int8 rate as marketed, rarely reached)"),
    Accelerator(
        "CPU server (2 cores)", "cpu", 8e9, 20e9,
        {"fp32": 160e9, "bf16": 160e9},
        2, 2.5e9, 48 * _KIB, 32 * _MIB, 30.0,
        "a generic 2-vCPU cloud/CI machine: fp32 = 2 cores x 2.5 GHz x 32 FLOP/cycle (AVX2, two 8-wide FMA "
        "units; derived), bf16 assumed to run at the fp32 rate; memory, bandwidth, caches and power "
        "UNVERIFIED (assumptions)"),
)}


def _get_accelerator(name: Union[str, Accelerator]) -> Accelerator:
    """The :class:`Accelerator` called ``name`` (an Accelerator passes through); ValueError lists the names."""
    return lookup("accelerator", name, ACCELERATORS, Accelerator)


accelerator = _get_accelerator


@dataclass(frozen=True)
class Precision:
    """A number format for stored weights (or cached keys and values).

    ``element_bits`` per value; block-quantised formats add a scale per
    ``block_size`` values, costing ``scale_bits_per_weight`` more bits per
    weight.  ``compute_dtype`` is the :data:`DTYPES` entry the matrix
    multiplies run in (weight-only formats dequantise to 16 bits).
    """

    name: str
    element_bits: float
    scale_bits_per_weight: float = 0.0
    block_size: Optional[int] = None
    compute_dtype: str = "bf16"
    source: str = ""

    @property
    def bits_per_weight(self) -> float:
        """Bits per weight including scales."""
        return self.element_bits + self.scale_bits_per_weight

    @property
    def bytes_per_param(self) -> float:
        """Bytes per weight including scales."""
        return self.bits_per_weight / 8.0


PRECISIONS: Dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", 32, compute_dtype="fp32", source="IEEE 754 binary32"),
    Precision("bf16", 16, compute_dtype="bf16", source="bfloat16: 8 exponent, 7 mantissa bits"),
    Precision("fp16", 16, compute_dtype="fp16", source="IEEE 754 binary16"),
    Precision("fp8", 8, compute_dtype="fp8",
              source="OCP FP8 (E4M3/E5M2); a per-tensor scale, negligible per weight"),
    Precision("int8", 8, compute_dtype="int8",
              source="8-bit integers; per-channel scales, negligible per weight (not counted)"),
    Precision("int4", 4, compute_dtype="fp16",
              source="idealised 4-bit integers, scales not counted; real formats: nf4, q4_0"),
    Precision("nf4", 4, 32 / 64, 64, "bf16",
              "QLoRA (Dettmers et al. 2023): 4-bit NormalFloat, one fp32 absmax per block of 64 = 0.5 bits"),
    Precision("nf4-dq", 4, 8 / 64 + 32 / (64 * 256), 64, "bf16",
              "QLoRA double quantisation: 8-bit block constants + one fp32 per 256 of them = 0.127 bits"),
    Precision("q4_0", 4, 16 / 32, 32, "fp16",
              "GGUF Q4_0 (ggml block_q4_0): an fp16 scale + 16 bytes per 32 weights = 4.5 bits"),
    Precision("q8_0", 8, 16 / 32, 32, "fp16",
              "GGUF Q8_0 (ggml block_q8_0): an fp16 scale + 32 bytes per 32 weights = 8.5 bits"),
)}


def _get_precision(name: Union[str, Precision]) -> Precision:
    """The :class:`Precision` called ``name`` (a Precision passes through); ValueError lists the names."""
    return lookup("precision", name, PRECISIONS, Precision)


precision = _get_precision


def bits_per_weight(name: Union[str, Precision]) -> float:
    """Bits per stored weight, scales included (``'nf4'`` -> 4.5, ``'q4_0'`` -> 4.5, ``'bf16'`` -> 16)."""
    return _get_precision(name).bits_per_weight


def bytes_per_param(name: Union[str, Precision]) -> float:
    """Bytes per stored weight, scales included (``bits_per_weight / 8``)."""
    return _get_precision(name).bytes_per_param


def kv_cache_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int,
                             kv_precision: Union[str, Precision] = "bf16") -> float:
    """Bytes the KV cache grows by per token: ``2 (K, V) * n_layers * n_kv_heads * head_dim * bytes``.

    LLaMA-2 70B (80 layers, 8 KV heads of 128) in bf16: 327,680 bytes.
    """
    positive_int("n_layers", n_layers)
    positive_int("n_kv_heads", n_kv_heads)
    positive_int("head_dim", head_dim)
    return 2.0 * n_layers * n_kv_heads * head_dim * bytes_per_param(kv_precision)


def _count(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return positive_float(name, value)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes to run a model: ``weights + kv_cache + activations = total``."""

    weights: float
    kv_cache: float
    activations: float
    total: float

    def gb(self) -> Dict[str, float]:
        """The same in decimal gigabytes."""
        return {k: getattr(self, k) / 1e9 for k in ("weights", "kv_cache", "activations", "total")}


def memory_required(n_params: float, precision: Union[str, Precision] = "bf16", *,
                    n_layers: Optional[int] = None, n_kv_heads: Optional[int] = None,
                    head_dim: Optional[int] = None, context: int = 0, batch: int = 1,
                    kv_precision: Union[str, Precision] = "bf16", activations: float = 0.0) -> MemoryBreakdown:
    """Memory to serve a model (bytes): weights, KV cache for ``batch`` sequences of ``context`` tokens, activations.

    ``n_params`` stored parameters (all experts of an MoE); ``precision`` of
    the weights (a :data:`PRECISIONS` name); the KV cache needs ``n_layers``,
    ``n_kv_heads`` and ``head_dim`` when ``context > 0`` and is stored in
    ``kv_precision``; ``activations`` bytes of working memory (small at
    inference: one layer's activations; pass your own estimate).

    LLaMA-2 70B (68,976,648,192 parameters) in fp16: 138 GB of weights.
    """
    n = _count("n_params", n_params)
    weights = n * bytes_per_param(precision)
    context = nonnegative_int("context", context)
    batch = positive_int("batch", batch)
    kv = 0.0
    if context > 0:
        missing = [k for k, v in (("n_layers", n_layers), ("n_kv_heads", n_kv_heads), ("head_dim", head_dim))
                   if v is None]
        if missing:
            raise ValueError(f"context > 0 needs {', '.join(missing)} to size the KV cache")
        kv = kv_cache_bytes_per_token(n_layers, n_kv_heads, head_dim, kv_precision) * context * batch
    else:
        bytes_per_param(kv_precision)  # validated even when unused
    act = nonnegative_float("activations", activations)
    return MemoryBreakdown(weights, kv, act, weights + kv + act)


def _capacity(device_or_bytes: Union[str, Accelerator, float], margin: float) -> float:
    margin = fraction("margin", margin)
    if margin >= 1:
        raise ValueError(f"margin must be below 1, got {margin}")
    if isinstance(device_or_bytes, (str, Accelerator)):
        cap = _get_accelerator(device_or_bytes).memory_bytes
    else:
        cap = _count("device_or_bytes", device_or_bytes)
    return cap * (1.0 - margin)


def fits(device_or_bytes: Union[str, Accelerator, float], n_params: float,
         precision: Union[str, Precision] = "bf16", *, margin: float = 0.0, **memory_kwargs) -> bool:
    """Whether :func:`memory_required` fits in a device (name or :class:`Accelerator`) or a number of bytes.

    ``margin`` is the fraction of memory held back (driver, CUDA context,
    fragmentation; 0.1 is a sensible planning figure).  ``memory_kwargs``
    go to :func:`memory_required` (``n_layers``, ``context``, ...).
    """
    need = memory_required(n_params, precision, **memory_kwargs).total
    return need <= _capacity(device_or_bytes, margin)


def gpus_needed(device: Union[str, Accelerator], n_params: float, precision: Union[str, Precision] = "bf16", *,
                margin: float = 0.0, **memory_kwargs) -> int:
    """The fewest devices whose memory holds :func:`memory_required` (count; ignores sharding overhead)."""
    need = memory_required(n_params, precision, **memory_kwargs).total
    return max(1, math.ceil(need / _capacity(_get_accelerator(device), margin) - 1e-12))


@dataclass(frozen=True)
class TimeBound:
    """A roofline lower bound on time: ``seconds = max(memory_seconds, compute_seconds)``.

    ``binding`` is ``'memory'`` or ``'compute'``; ``bytes_moved`` and
    ``flops`` are what the bound assumed.
    """

    seconds: float
    memory_seconds: float
    compute_seconds: float
    binding: str
    bytes_moved: float
    flops: float


def _bound(bytes_moved: float, flops: float, acc: Accelerator, dtype: str) -> TimeBound:
    mem = bytes_moved / acc.memory_bandwidth
    comp = flops / acc.flops(dtype)
    return TimeBound(max(mem, comp), mem, comp, "memory" if mem >= comp else "compute", bytes_moved, flops)


def decode_time_bound(n_params_active: float, precision: Union[str, Precision],
                      accelerator: Union[str, Accelerator], *, batch: int = 1, context: int = 0,
                      kv_bytes_per_token: float = 0.0, flops_per_token: Optional[float] = None,
                      compute_dtype: Optional[str] = None) -> TimeBound:
    """Lower bound on the time of one decoding step (seconds; each of ``batch`` sequences gains one token).

    Bytes moved: every active weight once (``n_params_active`` x bytes per
    weight) plus each sequence's KV cache (``batch * context *
    kv_bytes_per_token``, see :func:`kv_cache_bytes_per_token`).  FLOPs:
    ``batch * flops_per_token`` (default ``2 * n_params_active``, a
    multiply-add per weight).  For an MoE at ``batch > 1`` different tokens
    touch different experts, so pass the parameters the whole batch reads.
    """
    prec = _get_precision(precision)
    acc = _get_accelerator(accelerator)
    n = _count("n_params_active", n_params_active)
    batch = positive_int("batch", batch)
    context = nonnegative_int("context", context)
    kvb = nonnegative_float("kv_bytes_per_token", kv_bytes_per_token)
    fpt = 2.0 * n if flops_per_token is None else positive_float("flops_per_token", flops_per_token)
    dtype = choice("compute_dtype", compute_dtype or prec.compute_dtype, DTYPES)
    return _bound(n * prec.bytes_per_param + batch * context * kvb, batch * fpt, acc, dtype)


def prefill_time_bound(n_params_active: float, precision: Union[str, Precision],
                       accelerator: Union[str, Accelerator], tokens: int, *, batch: int = 1,
                       kv_bytes_per_token: float = 0.0, flops_per_token: Optional[float] = None,
                       compute_dtype: Optional[str] = None) -> TimeBound:
    """Lower bound on the time to process a prompt of ``tokens`` tokens for ``batch`` sequences (seconds).

    FLOPs: ``batch * tokens * flops_per_token`` (default ``2 *
    n_params_active``; pass a larger figure to include attention, e.g. from
    ``frontier.architecture.params.forward_flops_per_token``).  Bytes: the
    weights once plus the KV cache written.  Long prompts are compute-bound.
    """
    prec = _get_precision(precision)
    acc = _get_accelerator(accelerator)
    n = _count("n_params_active", n_params_active)
    tokens = positive_int("tokens", tokens)
    batch = positive_int("batch", batch)
    kvb = nonnegative_float("kv_bytes_per_token", kv_bytes_per_token)
    fpt = 2.0 * n if flops_per_token is None else positive_float("flops_per_token", flops_per_token)
    dtype = choice("compute_dtype", compute_dtype or prec.compute_dtype, DTYPES)
    return _bound(n * prec.bytes_per_param + batch * tokens * kvb, batch * tokens * fpt, acc, dtype)
