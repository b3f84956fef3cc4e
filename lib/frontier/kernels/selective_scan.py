"""The fused selective-scan kernel (``selective_scan.cu``) called through CuPy.

:func:`selective_scan_cupy` takes validated, contiguous float32 CuPy arrays
and launches one kernel; nothing of shape ``(b, d, l, n)`` is allocated.
Learners call :func:`frontier.architecture.ssm.selective_scan`, which checks
the inputs and moves them to the GPU first.
"""
from __future__ import annotations

from typing import Optional, Tuple

from .cuda import get_kernel

__all__ = ["selective_scan_cupy", "launch_config"]

CH_PER_BLOCK = 32   # channels per thread block
TCHUNK = 16         # time steps staged in shared memory at once
MAX_DSTATE = 64     # the shared-memory tiles are sized at compile time


def launch_config(batch: int, d_inner: int, d_state: int, groups: int) -> dict:
    """Grid, block and compile-time constants the wrapper uses for these sizes."""
    if d_state > MAX_DSTATE:
        raise ValueError(f"the CUDA selective scan supports d_state <= {MAX_DSTATE}, got {d_state}")
    split = 1
    for s in (4, 2):                     # lanes that share one channel's state
        if d_state % s == 0:
            split = s
            break
    per_group = d_inner // groups
    grid = (-(-per_group // CH_PER_BLOCK), groups, batch)
    block = (CH_PER_BLOCK * split,)
    return {"grid": grid, "block": block,
            "defines": {"DSTATE": d_state, "SPLIT": split, "CH_PER_BLOCK": CH_PER_BLOCK, "TCHUNK": TCHUNK}}


def selective_scan_cupy(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                        delta_softplus: bool = False,
                        return_last_state: bool = False) -> Tuple[object, Optional[object]]:
    """Run the kernel.  Shapes: ``u``, ``delta``, ``z`` ``(b, d, l)``; ``A`` ``(d, n)``;
    ``B``, ``C`` ``(b, g, n, l)``; ``D``, ``delta_bias`` ``(d,)``.  All float32,
    C-contiguous CuPy arrays on the current device.

    Returns ``(out, last_state)``: ``(b, d, l)`` and ``(b, d, n)`` (or ``None``).
    """
    import cupy
    import numpy as np

    b, d, l = u.shape
    n = A.shape[1]
    g = B.shape[1]
    cfg = launch_config(b, d, n, g)
    kernel = get_kernel("selective_scan.cu", "selective_scan_fwd", **cfg["defines"])
    out = cupy.empty((b, d, l), dtype=cupy.float32)
    last = cupy.empty((b, d, n), dtype=cupy.float32) if return_last_state else None
    # a missing optional array is a null pointer: pass an 8-byte zero, never None
    # (None does not become NULL; see cupy/cupy#9046)
    null = np.uint64(0)
    args = (u, delta, A, B, C,
            null if D is None else D, null if z is None else z,
            null if delta_bias is None else delta_bias,
            out, null if last is None else last,
            np.int32(d), np.int32(l), np.int32(g), np.int32(1 if delta_softplus else 0))
    kernel(cfg["grid"], cfg["block"], args)
    return out, last
