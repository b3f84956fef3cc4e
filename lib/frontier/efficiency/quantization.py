"""Weight quantization: absmax int8, group-wise int4, NF4 (QLoRA) and GGUF's Q4_0, with honest bit counts.

Every format stores low-bit codes plus one scale per group of weights; the
scales cost bits too, so :func:`bits_per_weight` counts them (the NF4 and
Q4_0 figures agree with :data:`frontier.hardware.PRECISIONS`).

Formats (``W`` is ``(out_features, in_features)``; groups run along a row, so
``group_size`` must divide ``in_features``):

* ``"int8"``: symmetric absmax per row: ``s = max|w| / 127``, ``q = round(w / s)``
  in ``[-127, 127]``; the error is at most half a step, ``s / 2``.
* ``"int4"``: the same per group of ``group_size`` weights with 15 levels
  ``[-7, 7]`` and an fp16 scale.
* ``"nf4"``: 4-bit NormalFloat (Dettmers et al. 2023): blocks of 64, an fp32
  absmax per block, each ``w / absmax`` rounded to the nearest of the 16
  :data:`NF4_LEVELS`, quantiles of a normal distribution.
* ``"q4_0"``: ggml's ``block_q4_0``: blocks of 32, ``d = m / -8`` where ``m``
  is the block's value of largest magnitude (with its sign), ``q =
  min(15, trunc(w / d + 8.5))``, dequantised as ``(q - 8) d``; ``d`` in fp16.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .. import hardware
from ..validation import choice, positive_float, positive_int

__all__ = ["FORMATS", "NF4_OFFSET", "nf4_levels", "NF4_LEVELS", "QuantizedTensor", "quantize", "dequantize",
           "quantize_dequantize", "bits_per_weight", "quantize_model", "inject_outlier_features",
           "reconstruction_error", "will_it_fit", "FIT_DEVICES", "format_table"]

FORMATS = ("int8", "int4", "nf4", "q4_0")
_DEFAULT_GROUP = {"int8": None, "int4": 64, "nf4": 64, "q4_0": 32}
_SCALE_BITS = {"int8": 32, "int4": 16, "nf4": 32, "q4_0": 16}
#: QLoRA's offset: the outermost quantile used, ``(1 - 1/(2*15) + 1 - 1/(2*16)) / 2`` (bitsandbytes ``create_normal_map``).
NF4_OFFSET = 0.9677083


def nf4_levels(offset: float = NF4_OFFSET) -> np.ndarray:
    """The 16 NF4 levels: normal quantiles, 8 positive and 7 negative plus an exact zero, scaled to [-1, 1].

    As bitsandbytes' ``create_normal_map(offset, use_extra_value=True)``:
    positives ``Phi^-1(linspace(offset, 0.5, 9)[:-1])``, negatives
    ``-Phi^-1(linspace(offset, 0.5, 8)[:-1])``, then divided by the largest.
    """
    from scipy.stats import norm

    offset = positive_float("offset", offset)
    if not 0.5 < offset < 1:
        raise ValueError(f"offset must lie in (0.5, 1), got {offset}")
    pos = norm.ppf(np.linspace(offset, 0.5, 9)[:-1])
    neg = -norm.ppf(np.linspace(offset, 0.5, 8)[:-1])
    v = np.sort(np.concatenate([pos, [0.0], neg]))
    return v / v.max()


#: ``(16,)`` float64, ascending from -1 to 1 (facts.md section 8).
NF4_LEVELS: np.ndarray = nf4_levels()
NF4_LEVELS.setflags(write=False)


@dataclass(frozen=True)
class QuantizedTensor:
    """Codes and scales of a quantized ``(out, in)`` matrix.

    ``codes`` ``(out, in)`` int8 (signed levels for int8/int4; 0..15 indices
    for nf4 and q4_0); ``scales`` ``(out, in / group)`` float32 (already
    rounded to the stored precision); ``group_size`` weights per scale.
    """

    codes: torch.Tensor
    scales: torch.Tensor
    format: str
    group_size: int
    shape: Tuple[int, int]
    dtype: torch.dtype

    @property
    def bits_per_weight(self) -> float:
        return bits_per_weight(self.format, self.group_size)


def _check_format(fmt: str) -> str:
    if not isinstance(fmt, str):
        raise TypeError(f"format must be a str, one of {list(FORMATS)}, got {type(fmt).__name__}")
    return choice("format", fmt, FORMATS)


def _group(fmt: str, group_size: Optional[int], n_in: int) -> int:
    if fmt in ("nf4", "q4_0"):
        fixed = _DEFAULT_GROUP[fmt]
        if group_size is not None and positive_int("group_size", group_size) != fixed:
            raise ValueError(f"{fmt} uses blocks of {fixed} weights; group_size={group_size} is not allowed")
        g = fixed
    elif fmt == "int8":
        g = n_in if group_size is None else positive_int("group_size", group_size)
    else:
        g = _DEFAULT_GROUP[fmt] if group_size is None else positive_int("group_size", group_size)
    if n_in % g:
        raise ValueError(f"group_size {g} must divide the row length (in_features) {n_in}")
    return g


def bits_per_weight(format: str, group_size: Optional[int] = None, row_length: Optional[int] = None) -> float:
    """Bits per weight with the scales: ``element bits + scale bits / group``.

    NF4 (fp32 absmax per 64) and Q4_0 (fp16 per 32) come from
    :func:`frontier.hardware.bits_per_weight` (4.5 each).  int8 stores one
    fp32 scale per row (``row_length``, default 4096), int4 one fp16 scale per
    ``group_size`` (default 64).
    """
    fmt = _check_format(format)
    if fmt in ("nf4", "q4_0"):
        _group(fmt, group_size, _DEFAULT_GROUP[fmt])
        return hardware.bits_per_weight(fmt)
    if fmt == "int8":
        g = positive_int("row_length", row_length or group_size or 4096)
        return 8.0 + _SCALE_BITS["int8"] / g
    g = positive_int("group_size", group_size or _DEFAULT_GROUP["int4"])
    return 4.0 + _SCALE_BITS["int4"] / g


def quantize(w: torch.Tensor, format: str, group_size: Optional[int] = None) -> QuantizedTensor:
    """Quantize a ``(out, in)`` weight matrix (see the module docstring for each format)."""
    fmt = _check_format(format)
    if not isinstance(w, torch.Tensor) or w.ndim != 2 or not w.is_floating_point():
        raise ValueError("w must be a 2-D floating-point tensor (out_features, in_features)")
    n_out, n_in = w.shape
    g = _group(fmt, group_size, n_in)
    x = w.detach().double().reshape(n_out, n_in // g, g)           # (out, groups, g)
    amax = x.abs().amax(-1)                                        # (out, groups)
    if fmt in ("int8", "int4"):
        qmax = 127 if fmt == "int8" else 7
        scale = amax / qmax
        if fmt == "int4":
            scale = scale.to(torch.float16).double()               # stored in fp16
        scale = scale.to(torch.float32).double()
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        codes = torch.clamp(torch.round(x / safe[..., None]), -qmax, qmax)
    elif fmt == "nf4":
        scale = amax.to(torch.float32).double()
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        mids = torch.tensor((NF4_LEVELS[1:] + NF4_LEVELS[:-1]) / 2)   # nearest level = bucket between midpoints
        codes = torch.bucketize(x / safe[..., None], mids).double()
    else:                                                          # q4_0
        idx = x.abs().argmax(-1, keepdim=True)
        m = x.gather(-1, idx)[..., 0]
        scale = (m / -8.0).to(torch.float16).double()
        inv = torch.where(scale != 0, 1.0 / scale, torch.zeros_like(scale))
        codes = torch.clamp(torch.trunc(x * inv[..., None] + 8.5), 0, 15)
    return QuantizedTensor(codes.reshape(n_out, n_in).to(torch.int8), scale.float(), fmt, g, (n_out, n_in), w.dtype)


def dequantize(qt: QuantizedTensor) -> torch.Tensor:
    """The ``(out, in)`` matrix a :class:`QuantizedTensor` represents, in the original dtype."""
    n_out, n_in = qt.shape
    g = qt.group_size
    c = qt.codes.double().reshape(n_out, n_in // g, g)
    s = qt.scales.double()[..., None]
    if qt.format in ("int8", "int4"):
        x = c * s
    elif qt.format == "nf4":
        x = torch.tensor(NF4_LEVELS)[qt.codes.long().reshape(n_out, n_in // g, g)] * s
    else:
        x = (c - 8.0) * s
    return x.reshape(n_out, n_in).to(qt.dtype)


def quantize_dequantize(w: torch.Tensor, format: str, group_size: Optional[int] = None) -> torch.Tensor:
    """``dequantize(quantize(w, format, group_size))``: the weights a quantized model computes with."""
    return dequantize(quantize(w, format, group_size))


def reconstruction_error(w: torch.Tensor, format: str, group_size: Optional[int] = None) -> Dict[str, float]:
    """``rmse``, ``max_abs`` and ``relative`` (Frobenius ratio) error of quantize-dequantize on ``w``."""
    w64 = w.detach().double()
    err = quantize_dequantize(w, format, group_size).double() - w64
    return {"rmse": float(err.pow(2).mean().sqrt()), "max_abs": float(err.abs().max()),
            "relative": float(err.norm() / w64.norm().clamp_min(1e-30))}


def _linear_names(model: nn.Module, include_embedding: bool, include_head: bool) -> Iterable[str]:
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) and (include_head or name != "head"):
            yield name
        elif isinstance(mod, nn.Embedding) and include_embedding:
            yield name


@torch.no_grad()
def quantize_model(model: nn.Module, format: str, group_size: Optional[int] = None, *,
                   include_embedding: bool = False, include_head: bool = True) -> Tuple[nn.Module, Dict[str, float]]:
    """A copy of ``model`` whose linear weights are replaced by their quantize-dequantize round trip.

    The copy computes exactly what a weight-only quantized model computes
    (dequantise, then multiply in full precision).  Returns ``(model copy,
    {"bits_per_weight": mean over the quantized weights, "n_quantized":
    weights quantized, "relative_error": over all of them})``.
    """
    fmt = _check_format(format)
    out = copy.deepcopy(model)
    total_bits, total_n, err2, norm2 = 0.0, 0, 0.0, 0.0
    for name in _linear_names(out, include_embedding, include_head):
        w = out.get_submodule(name).weight
        qt = quantize(w, fmt, group_size if fmt != "int8" else None)
        w_hat = dequantize(qt)
        err2 += float((w_hat.double() - w.double()).pow(2).sum())
        norm2 += float(w.double().pow(2).sum())
        bpw = bits_per_weight(fmt, qt.group_size, w.shape[1])
        total_bits += bpw * w.numel()
        total_n += w.numel()
        w.copy_(w_hat)
    return out, {"bits_per_weight": total_bits / max(1, total_n), "n_quantized": total_n,
                 "relative_error": (err2 / max(norm2, 1e-30)) ** 0.5}


@torch.no_grad()
def inject_outlier_features(model: nn.Module, n_channels: int = 2, scale: float = 20.0, seed: int = 0) -> nn.Module:
    """A copy of a :class:`~frontier.models.TinyLM` with ``n_channels`` outlier input features, computing the same function.

    In every block, the RMSNorm gain of the chosen residual channels is
    divided by ``scale`` and the matching *columns* of the layers that read
    that norm (``attn.q/k/v`` after ``norm1``, ``ffn.w1/w3`` after ``norm2``)
    are multiplied by it: the outputs are unchanged (up to rounding), but those
    weight columns are now ``scale`` times larger, like the columns that meet
    large-magnitude activation features in big models (Dettmers et al. 2022).
    A per-row absmax scale must now stretch to cover them.
    """
    n = positive_int("n_channels", n_channels)
    s = positive_float("scale", scale)
    out = copy.deepcopy(model)
    d = out.cfg.d_model
    if n > d:
        raise ValueError(f"n_channels ({n}) cannot exceed d_model ({d})")
    ch = torch.as_tensor(np.random.default_rng(seed).choice(d, size=n, replace=False))
    for block in out.blocks:
        block.norm1.weight[ch] /= s
        for lin in (block.attn.q, block.attn.k, block.attn.v):
            lin.weight[:, ch] *= s
        if hasattr(block.ffn, "w1"):
            block.norm2.weight[ch] /= s
            block.ffn.w1.weight[:, ch] *= s
            block.ffn.w3.weight[:, ch] *= s
    return out


#: Devices the "will it fit" calculator compares against (names in :data:`frontier.hardware.ACCELERATORS`).
FIT_DEVICES = ("phone (12 GB)", "Apple M2 laptop (16 GB)", "Apple M3 Max laptop (128 GB)", "RTX 4090", "A100-80GB",
               "H200")


def will_it_fit(cfg, precision: str = "bf16", *, context: int = 4096, batch: int = 1, kv_precision: str = "bf16",
                devices: Tuple[str, ...] = FIT_DEVICES, margin: float = 0.1) -> Dict[str, object]:
    """Weights + KV cache of a :class:`frontier.architecture.params.ModelConfig` against devices' memory.

    Uses :func:`frontier.hardware.memory_required` with all stored parameters
    (every expert) in ``precision`` and a KV cache of ``batch`` sequences of
    ``context`` tokens in ``kv_precision``; ``margin`` of each device's
    memory is held back.  Returns ``{"n_params", "weights_gb", "kv_gb",
    "total_gb", "fits": {device: bool}, "gpus_needed": {device: int}}``
    (decimal GB).  LLaMA-2 70B at 4.5 bits (nf4 or q4_0): 38.8 GB of weights.
    """
    from ..architecture.params import total_parameters

    n = total_parameters(cfg)
    mem = hardware.memory_required(n, precision, n_layers=cfg.n_layers, n_kv_heads=cfg.n_kv_heads,
                                   head_dim=cfg.head_dim, context=context, batch=batch, kv_precision=kv_precision)
    kw = dict(n_layers=cfg.n_layers, n_kv_heads=cfg.n_kv_heads, head_dim=cfg.head_dim, context=context, batch=batch,
              kv_precision=kv_precision)
    return {"n_params": n, "weights_gb": mem.weights / 1e9, "kv_gb": mem.kv_cache / 1e9, "total_gb": mem.total / 1e9,
            "fits": {d: hardware.fits(d, n, precision, margin=margin, **kw) for d in devices},
            "gpus_needed": {d: hardware.gpus_needed(d, n, precision, margin=margin, **kw) for d in devices}}


def format_table(model: nn.Module, score_fn, settings=(("int8", None), ("int4", 64), ("int4", 16),
                                                       ("nf4", None), ("q4_0", None))) -> list:
    """Quantize ``model`` in each ``(format, group_size)`` and score it: one dict per setting.

    ``score_fn``: ``model -> perplexity`` (or any number).  Keys: ``label``,
    ``format``, ``group_size``, ``bits`` (mean bits per quantized weight,
    scales included), ``relative_error`` and ``perplexity``; the first row
    is the unquantized fp32 model (32 bits).
    """
    rows = [{"label": "fp32", "format": "fp32", "group_size": None, "bits": 32.0, "relative_error": 0.0,
             "perplexity": float(score_fn(model))}]
    for fmt, g in settings:
        qm, info = quantize_model(model, fmt, g)
        label = fmt if g is None else f"{fmt} g{g}"
        rows.append({"label": label, "format": fmt, "group_size": g, "bits": info["bits_per_weight"],
                     "relative_error": info["relative_error"], "perplexity": float(score_fn(qm))})
    return rows
