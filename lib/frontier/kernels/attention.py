"""Attention on the GPU through CuPy (``attention.cu``), float32.

Two paths, chosen with ``method``:

* ``"cublas"`` (default): ``S = Q K^T`` and ``O = P V`` are cuBLAS matrix
  products (``cupy.matmul``); the ``softmax_rows`` kernel turns ``S`` into
  ``P = softmax(scale * S)`` in place, with the causal mask, in one pass over
  each row (online max and sum).  Fast, but stores a ``(T, T)`` matrix per head.
* ``"tiled"``: the ``flash_attention_fwd`` kernel, a fused tiled kernel with the
  online softmax (the FlashAttention forward algorithm): keys and values
  stream through shared memory in tiles, each thread keeps one query's running
  max, normaliser and output in registers, and no ``(T, T)`` matrix exists.
  Plain CUDA cores; head size at most 128 (a multiple of 4; of 8 above 64, where two
  lanes share a query row so that nothing spills, see :func:`tiled_config`).

Shapes: ``q`` ``(..., Tq, d)``, ``k`` and ``v`` ``(..., Tk, d)``; returns
``(..., Tq, d)``.  Accepts CuPy arrays or CUDA torch tensors (shared without a
copy through DLPack) and returns the same kind.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..validation import choice
from .cuda import get_kernel

__all__ = ["attention_cupy", "tiled_config"]

BLOCK_M = 128          # query rows per block in the tiled kernel (one thread each)
BLOCK_N = 16           # keys per shared-memory tile (32 compiles 4x slower for little gain)
SOFTMAX_THREADS = 256  # threads per row in the softmax kernel
MAX_TILED_HEAD = 128
MAX_GRID_X = 2 ** 31 - 1


def tiled_config(head_dim: int) -> dict:
    """The ``-D`` macros of the tiled kernel for a head size: up to 64, one thread per query row
    (``BLOCK_M = 128`` rows per block); above 64, two lanes per row (``ROW_SPLIT = 2``) and
    ``BLOCK_M = 64``, so that a thread's query and accumulator fit in registers without spills."""
    if head_dim < 1 or head_dim % 4 or head_dim > MAX_TILED_HEAD or (head_dim > 64 and head_dim % 8):
        raise ValueError(f"the tiled kernel needs a head size that is a multiple of 4 (of 8 above 64) and at "
                         f"most {MAX_TILED_HEAD}, got {head_dim}")
    if head_dim > 64:
        return {"HEAD_DIM": head_dim, "BLOCK_M": 64, "BLOCK_N": BLOCK_N, "ROW_SPLIT": 2}
    return {"HEAD_DIM": head_dim, "BLOCK_M": BLOCK_M, "BLOCK_N": BLOCK_N, "ROW_SPLIT": 1}


def _to_cupy(name, x):
    import cupy

    if type(x).__module__.split(".")[0] == "torch":
        if not x.is_cuda:
            raise TypeError(f"{name} must be on the GPU (a CUDA tensor or a CuPy array)")
        x = cupy.from_dlpack(x.detach().float().contiguous())
    elif not isinstance(x, cupy.ndarray):
        raise TypeError(f"{name} must be a CuPy array or a CUDA torch tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must hold floating-point numbers, got {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (..., T, d), got {x.shape}")
    if 0 in x.shape:
        raise ValueError(f"{name} must have no zero-size dimension, got shape {x.shape}")
    x = cupy.ascontiguousarray(x, dtype=cupy.float32)
    if x.data.ptr % 16:
        x = x.copy()        # a contiguous view at an odd offset: the float4 loads need 16-byte alignment
    return x


def attention_cupy(q, k, v, causal: bool = False, scale: Optional[float] = None,
                   method: str = "cublas"):
    """softmax(q k^T * scale) v on the GPU; see the module docstring for the two ``method`` s.

    ``scale`` defaults to ``1/sqrt(d)`` and must be positive.  ``causal``
    needs ``Tq == Tk``.  Raises ``TypeError``/``ValueError`` on bad inputs,
    including zero-size dimensions (``Tk = 0`` has no softmax).
    """
    import cupy

    choice("method", method, ("cublas", "tiled"))
    kind_torch = type(q).__module__.split(".")[0] == "torch"
    qc, kc, vc = _to_cupy("q", q), _to_cupy("k", k), _to_cupy("v", v)
    *lead, Tq, d = qc.shape
    if kc.shape[:-2] != tuple(lead) or vc.shape[:-2] != tuple(lead):
        raise ValueError(f"q, k and v must share leading dimensions, got {qc.shape}, {kc.shape}, {vc.shape}")
    Tk = kc.shape[-2]
    if kc.shape[-1] != d or vc.shape != kc.shape:
        raise ValueError(f"k and v must both be (..., Tk, d={d}), got {kc.shape} and {vc.shape}")
    if causal and Tq != Tk:
        raise ValueError(f"causal attention needs Tq == Tk, got {Tq} and {Tk}")
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive, finite number, got {scale}")
    bh = int(np.prod(lead)) if lead else 1
    q3, k3, v3 = qc.reshape(bh, Tq, d), kc.reshape(bh, Tk, d), vc.reshape(bh, Tk, d)
    if method == "cublas":
        if bh * Tq > MAX_GRID_X:
            raise ValueError(f"{bh * Tq} score rows exceed the grid limit {MAX_GRID_X}")
        S = cupy.matmul(q3, k3.transpose(0, 2, 1))                       # (bh, Tq, Tk)
        kern = get_kernel("attention.cu", "softmax_rows", SOFTMAX_THREADS=SOFTMAX_THREADS)
        kern((bh * Tq,), (SOFTMAX_THREADS,),
             (S, np.int32(Tq), np.int32(Tk), np.float32(scale), np.int32(bool(causal))))
        out = cupy.matmul(S, v3)
    else:
        cfg = tiled_config(d)
        ntiles = -(-Tq // cfg["BLOCK_M"])
        if bh * ntiles > MAX_GRID_X:
            raise ValueError(f"{bh} heads x {ntiles} query tiles exceed the grid limit {MAX_GRID_X}")
        kern = get_kernel("attention.cu", "flash_attention_fwd", **cfg)
        out = cupy.empty((bh, Tq, d), dtype=cupy.float32)
        kern((bh * ntiles,), (cfg["BLOCK_M"] * cfg["ROW_SPLIT"],),
             (q3, k3, v3, out, np.int32(Tq), np.int32(Tk), np.float32(scale), np.int32(bool(causal))))
    out = out.reshape(*lead, Tq, d)
    if kind_torch:
        import torch
        return torch.from_dlpack(out).to(q.dtype)
    return out
