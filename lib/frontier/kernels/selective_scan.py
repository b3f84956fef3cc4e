"""The fused selective-scan kernel (``selective_scan.cu``) called through CuPy.

:func:`selective_scan_cupy` takes float32 CuPy arrays and launches the kernel;
nothing of shape ``(b, d, l, n)`` is allocated.  Learners call
:func:`frontier.architecture.ssm.selective_scan`, which checks the inputs and
moves them to the GPU first.

:func:`launch_config` decides everything that does not need a GPU (so it is
tested on the CPU): lanes per channel, channels per block, the compile-time
variant, the one-dimensional grid, and whether the sequence is cut into
segments for the chunked two-pass scan (when ``batch x channel blocks`` alone
cannot fill the device).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from ..validation import positive_int
from .cuda import get_kernel

__all__ = ["selective_scan_cupy", "launch_config", "scan_defines", "TCHUNK", "MAX_DSTATE"]

TCHUNK = 32            # time steps staged in shared memory at once (128-byte rows)
NTHREADS = 64          # threads per block (CH_PER_BLOCK * SPLIT), two warps
MAX_DSTATE = 64        # the shared-memory tiles are sized at compile time
STATIC_SMEM = 48 * 1024  # the limit for static __shared__ arrays
MAX_GRID_X = 2 ** 31 - 1
BLOCKS_PER_SM_TARGET = 2  # the chunked scan is used below this many blocks per SM
MIN_SEGMENT = 4 * TCHUNK  # shortest segment worth a block (steps)
DEFAULT_SM_COUNT = 132    # used when the caller does not know the device (an H100/H200)


def _split(d_state: int) -> int:
    """Lanes per channel: one for ``d_state <= 16``, else the fewest (2 or 4) that leave a lane <= 16 states."""
    for s in (1, 2, 4):
        if -(-d_state // s) <= 16:
            return s
    raise ValueError(f"d_state must be at most {MAX_DSTATE}, got {d_state}")


def _smem_bytes(ch: int, d_state: int, has_z: bool, mode: int) -> int:
    rows = 3 + (1 if has_z and mode == 0 else 0)
    bc = 2 if mode == 0 else 1
    split = _split(d_state)
    padded = -(-d_state // split) * split
    return 4 * (rows * ch * (TCHUNK + 4) + bc * padded * TCHUNK)


def scan_defines(d_state: int, *, softplus: bool = True, has_z: bool = True, vec4: bool = True,
                 mode: int = 0) -> Dict[str, int]:
    """The ``-D`` macros of the kernel variant for these options (see ``selective_scan.cu``)."""
    n = positive_int("d_state", d_state)
    if n > MAX_DSTATE:
        raise ValueError(f"the CUDA selective scan supports d_state <= {MAX_DSTATE}, got {n}")
    split = _split(n)
    ch = NTHREADS // split
    while ch * split > 32 and _smem_bytes(ch, n, has_z, mode) > STATIC_SMEM:
        ch //= 2
    return {"DSTATE": n, "SPLIT": split, "CH_PER_BLOCK": ch, "TCHUNK": TCHUNK,
            "SOFTPLUS": int(bool(softplus)), "HAS_Z": int(bool(has_z)), "VEC4": int(bool(vec4)),
            "MODE": int(mode)}


def launch_config(batch: int, d_inner: int, d_state: int, groups: int, seq_len: int = 1, *,
                  softplus: bool = True, has_z: bool = True, vec4: bool = True,
                  sm_count: Optional[int] = None, chunked: Optional[bool] = None) -> dict:
    """Grid, block, segments and compile-time constants the wrapper uses for these sizes.

    ``sm_count``: the device's streaming multiprocessors (default
    :data:`DEFAULT_SM_COUNT`).  ``chunked``: force (True) or forbid (False) the
    two-pass scan; ``None`` uses it when ``batch * groups * channel blocks``
    is below ``2 * sm_count`` and the sequence is long enough to cut into
    segments of at least :data:`MIN_SEGMENT` steps.

    Returns ``{"grid", "block", "defines", "nseg", "seg_len", "chunked"}``;
    the grid is one-dimensional (below ``2**31``).
    """
    b = positive_int("batch", batch)
    d = positive_int("d_inner", d_inner)
    g = positive_int("groups", groups)
    l = positive_int("seq_len", seq_len)
    if d % g:
        raise ValueError(f"d_inner ({d}) must be a multiple of groups ({g})")
    sms = positive_int("sm_count", DEFAULT_SM_COUNT if sm_count is None else sm_count)
    defines = scan_defines(d_state, softplus=softplus, has_z=has_z, vec4=vec4)
    ch = defines["CH_PER_BLOCK"]
    nchb = -(-(d // g) // ch)
    blocks = b * g * nchb
    want = BLOCKS_PER_SM_TARGET * sms
    nseg = 1
    if chunked is None and blocks < want and l >= 2 * MIN_SEGMENT:
        nseg = min(-(-want // blocks), l // MIN_SEGMENT)
    elif chunked:                      # forced (tests): segments down to one chunk
        nseg = min(max(2, -(-want // blocks)), -(-l // TCHUNK))
    seg_len = -(-l // nseg)
    seg_len = -(-seg_len // TCHUNK) * TCHUNK          # whole chunks, so float4 rows stay aligned
    nseg = -(-l // seg_len)
    if blocks * nseg > MAX_GRID_X:
        raise ValueError(f"{blocks * nseg} thread blocks exceed the grid limit {MAX_GRID_X}")
    return {"grid": (blocks * nseg,), "block": (ch * defines["SPLIT"],), "defines": defines,
            "nseg": nseg, "seg_len": seg_len, "chunked": nseg > 1}


def _aligned(*arrays) -> bool:
    return all(a is None or a.data.ptr % 16 == 0 for a in arrays)


def _prepare(name: str, x, shape: Tuple[int, ...]):
    """A C-contiguous float32 CuPy array of ``shape``; copies when needed (never a misaligned view)."""
    import cupy

    if not isinstance(x, cupy.ndarray):
        raise TypeError(f"{name} must be a CuPy array, got {type(x).__name__}")
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    x = cupy.ascontiguousarray(x, dtype=cupy.float32)
    if x.data.ptr % 16:
        x = x.copy()                        # a view with an odd offset: float4 loads need 16 bytes
    return x


def selective_scan_cupy(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                        delta_softplus: bool = False,
                        return_last_state: bool = False, *,
                        chunked: Optional[bool] = None) -> Tuple[object, Optional[object]]:
    """Run the kernel.  Shapes: ``u``, ``delta``, ``z`` ``(b, d, l)``; ``A`` ``(d, n)``;
    ``B``, ``C`` ``(b, g, n, l)`` (or ``(b, n, l)``, one group); ``D``, ``delta_bias``
    ``(d,)``.  CuPy arrays on the current device (copied to contiguous float32
    if they are not).  ``chunked``: see :func:`launch_config`.

    Returns ``(out, last_state)``: ``(b, d, l)`` and ``(b, d, n)`` (or ``None``).
    Raises ``ValueError`` on shapes that do not fit together, zero-size
    dimensions, or ``d_state > 64``.
    """
    import cupy
    import numpy as np

    if getattr(u, "ndim", None) != 3:
        raise ValueError(f"u must have shape (b, d, l), got {getattr(u, 'shape', None)}")
    b, d, l = (int(s) for s in u.shape)
    if min(b, d, l) == 0:
        raise ValueError(f"u must have no zero-size dimension, got shape {(b, d, l)}")
    if getattr(A, "ndim", None) != 2 or A.shape[0] != d:
        raise ValueError(f"A must have shape (d={d}, n), got {getattr(A, 'shape', None)}")
    n = int(A.shape[1])
    if n == 0:
        raise ValueError("A must have at least one state (d_state >= 1)")
    if getattr(B, "ndim", None) == 3:                 # (b, n, l): one group
        g = 1
    elif getattr(B, "ndim", None) == 4:
        g = int(B.shape[1])
    else:
        raise ValueError(f"B must have shape (b, n, l) or (b, g, n, l), got {getattr(B, 'shape', None)}")
    if g == 0 or d % g:
        raise ValueError(f"the group count {g} must divide d = {d}")
    bc_shape = (b, n, l) if B.ndim == 3 else (b, g, n, l)
    u, delta = _prepare("u", u, (b, d, l)), _prepare("delta", delta, (b, d, l))
    A = _prepare("A", A, (d, n))
    B = _prepare("B", B, bc_shape).reshape(b, g, n, l)
    C = _prepare("C", C, bc_shape).reshape(b, g, n, l)
    D = None if D is None else _prepare("D", D, (d,))
    z = None if z is None else _prepare("z", z, (b, d, l))
    delta_bias = None if delta_bias is None else _prepare("delta_bias", delta_bias, (d,))

    sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
    vec4 = l % 4 == 0 and _aligned(u, delta, B, C, z)
    cfg = launch_config(b, d, n, g, l, softplus=delta_softplus, has_z=z is not None, vec4=vec4,
                        sm_count=sms, chunked=chunked)
    nseg, seg_len = cfg["nseg"], cfg["seg_len"]
    out = cupy.empty((b, d, l), dtype=cupy.float32)
    last = cupy.empty((b, d, n), dtype=cupy.float32) if return_last_state else None
    # a missing optional array is a null pointer: pass an 8-byte zero, never None
    # (None does not become NULL; see cupy/cupy#9046)
    null = np.uint64(0)

    def opt(x):
        return null if x is None else x

    ints = (np.int32(d), np.int32(l), np.int32(g), np.int32(nseg), np.int32(seg_len))
    h0 = None
    if nseg > 1:
        hend = cupy.empty((b, nseg, d, n), dtype=cupy.float32)
        dsum = cupy.empty((b, nseg, d), dtype=cupy.float32)
        pass1 = get_kernel("selective_scan.cu", "selective_scan_fwd", **{**cfg["defines"], "MODE": 1})
        pass1(cfg["grid"], cfg["block"],
              (u, delta, A, B, C, opt(D), opt(z), opt(delta_bias), out, null, null, hend, dsum) + ints)
        h0 = cupy.empty((b, nseg, d, n), dtype=cupy.float32)
        carry = get_kernel("selective_scan.cu", "selective_scan_carry", **cfg["defines"])
        total = b * d * n
        carry((-(-total // 256),), (256,), (A, hend, dsum, h0, opt(last), np.int32(b), np.int32(d),
                                             np.int32(n), np.int32(nseg)))
    kernel = get_kernel("selective_scan.cu", "selective_scan_fwd", **cfg["defines"])
    kernel(cfg["grid"], cfg["block"],
           (u, delta, A, B, C, opt(D), opt(z), opt(delta_bias), out, opt(last), opt(h0), null, null) + ints)
    return out, last
