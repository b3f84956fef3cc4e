"""The selective scan on the CPU: a numba-compiled loop over time, parallel over (batch, channel).

Each (batch, channel) pair is independent, so ``prange`` hands them to the
cores; inside, time runs sequentially with the ``n`` state values of that
channel in a small buffer.  Nothing of size ``(b, d, l, n)`` is ever built.

Two details make it fast:

* ``B`` and ``C`` are transposed once to ``(b, g, l, n)`` so that the inner
  loop over the state reads contiguous memory;
* ``exp`` is :func:`_fast_exp`, plain float32 arithmetic that LLVM vectorises
  (numba's ``math.exp`` is a scalar float64 library call).

:func:`elementwise_rate` measures how fast this machine does the same
arithmetic with no sequential dependency: the floor the benchmark compares to.

:func:`scan_train_forward` and :func:`scan_train_backward` are the same
recurrence with its hand-written backward pass (a second scan, backwards in
time), which :func:`frontier.architecture.ssm.selective_scan_autograd` wraps
for training tiny models on the CPU.

:func:`selective_scan_chunked` is the GPU kernel's chunked two-pass algorithm
(``selective_scan.cu``, sequence parallelism) re-done in NumPy with the same
segment maths, so the algorithm is tested on machines without a GPU.
"""
from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["selective_scan_numba", "fast_exp", "elementwise_rate", "scan_train_forward", "scan_train_backward",
           "selective_scan_chunked"]


@intrinsic
def _int_bits_as_float32(typingctx, x):
    """Reinterpret the 32 bits of an int32 as a float32 (no conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693145751953125)       # ln 2 split in two so k*ln2 is exact
_LN2_LO = np.float32(1.428606765330187e-06)


@njit(inline="always", fastmath=True, cache=True)
def _fast_exp(x):
    """exp(x) for float32 x: 2**k * exp(r) with |r| <= ln2/2 and a degree-7 Taylor polynomial.

    Relative error about 1e-7 for |x| < 80; inputs below -87 give about 1e-38
    instead of 0 (harmless here), inputs above 88 overflow as exp does.
    """
    x = min(max(x, np.float32(-87.0)), np.float32(88.0))
    k = math.floor(x * _LOG2E + np.float32(0.5))
    r = x - np.float32(k) * _LN2_HI - np.float32(k) * _LN2_LO
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    return p * _int_bits_as_float32((np.int32(k) + np.int32(127)) << np.int32(23))


@njit(fastmath=True, cache=True)
def _fast_exp_array(x, out):
    for i in range(x.size):
        out[i] = _fast_exp(x[i])


def fast_exp(x: np.ndarray) -> np.ndarray:
    """:func:`_fast_exp` applied to a float32 array (for tests and curious learners)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    _fast_exp_array(x.reshape(-1), out.reshape(-1))
    return out


@njit(inline="always", fastmath=True, cache=True)
def _scan_channel(b, d, u, delta, A, Bt, Ct, Dv, z, bias, softplus, has_D, has_z, has_bias, out, last):
    """Run the recurrence for one (batch, channel) pair over all time steps."""
    nn = A.shape[1]
    g = d // (u.shape[1] // Bt.shape[1])
    a = A[d]
    h = np.zeros(nn, np.float32)
    e = np.empty(nn, np.float32)
    skip = Dv[d] if has_D else np.float32(0.0)
    off = bias[d] if has_bias else np.float32(0.0)
    for t in range(u.shape[2]):
        dt = delta[b, d, t] + off
        if softplus and dt <= np.float32(20.0):
            dt = np.float32(math.log1p(math.exp(dt)))
        x = dt * u[b, d, t]
        for k in range(nn):                 # independent of each other: vectorised
            e[k] = _fast_exp(dt * a[k])
        bt = Bt[b, g, t]
        ct = Ct[b, g, t]
        y = np.float32(0.0)
        for k in range(nn):
            hk = e[k] * h[k] + x * bt[k]
            h[k] = hk
            y += ct[k] * hk
        y += skip * u[b, d, t]
        if has_z:
            zz = z[b, d, t]
            y *= zz / (np.float32(1.0) + np.float32(math.exp(-zz)))
        out[b, d, t] = y
    for k in range(nn):
        last[b, d, k] = h[k]


# u, delta, z, out: (b, d, l); A: (d, n); Bt, Ct: (b, g, l, n); Dv, bias: (d,); last: (b, d, n)
@njit(parallel=True, fastmath=True, cache=True)
def _scan_parallel(u, delta, A, Bt, Ct, Dv, z, bias, softplus, has_D, has_z, has_bias, out, last):
    nd = u.shape[1]
    for job in prange(u.shape[0] * nd):
        _scan_channel(job // nd, job % nd, u, delta, A, Bt, Ct, Dv, z, bias, softplus,
                      has_D, has_z, has_bias, out, last)


@njit(fastmath=True, cache=True)
def _scan_serial(u, delta, A, Bt, Ct, Dv, z, bias, softplus, has_D, has_z, has_bias, out, last):
    nd = u.shape[1]
    for job in range(u.shape[0] * nd):
        _scan_channel(job // nd, job % nd, u, delta, A, Bt, Ct, Dv, z, bias, softplus,
                      has_D, has_z, has_bias, out, last)


#: Below this many (b, d, l, n) elements one thread is used: waking the other
#: threads costs more than it saves, and much more on a busy machine, where a
#: parallel region waits for the slowest thread to be scheduled.
PARALLEL_THRESHOLD = 1 << 20


def selective_scan_numba(u: np.ndarray, delta: np.ndarray, A: np.ndarray, B: np.ndarray,
                         C: np.ndarray, D: Optional[np.ndarray], z: Optional[np.ndarray],
                         delta_bias: Optional[np.ndarray],
                         delta_softplus: bool,
                         parallel: Optional[bool] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Run the compiled scan on validated float32 arrays.

    ``u``, ``delta``, ``z``: ``(b, d, l)``; ``A``: ``(d, n)``; ``B``, ``C``:
    ``(b, g, n, l)``; ``D``, ``delta_bias``: ``(d,)`` or ``None``.  Returns
    ``out`` ``(b, d, l)`` and ``last_state`` ``(b, d, n)``, both float32.
    ``parallel``: use all numba threads (True), one (False), or decide by size
    (None: parallel from :data:`PARALLEL_THRESHOLD` elements).
    Callers validate; use :func:`frontier.architecture.ssm.selective_scan`.
    """
    b, d, l = u.shape
    n = A.shape[1]
    Bt = np.ascontiguousarray(B.transpose(0, 1, 3, 2))
    Ct = np.ascontiguousarray(C.transpose(0, 1, 3, 2))
    empty = np.zeros(1, np.float32)
    out = np.empty((b, d, l), np.float32)
    last = np.empty((b, d, n), np.float32)
    if parallel is None:
        parallel = b * d * l * n >= PARALLEL_THRESHOLD
    kernel = _scan_parallel if parallel else _scan_serial
    kernel(u, delta, A, Bt, Ct,
                 empty if D is None else D, u if z is None else z,
                 empty if delta_bias is None else delta_bias,
                 bool(delta_softplus), D is not None, z is not None, delta_bias is not None,
                 out, last)
    return out, last


@njit(fastmath=True, cache=True)
def _elementwise_kernel(x, a, c, out):
    # the scan's arithmetic per element (one exp, two multiply-adds) without the recurrence;
    # every task sweeps the same small, cache-resident block x
    rows, nn = x.shape
    for r in range(out.size):
        acc = np.float32(0.0)
        for i in range(rows):
            for k in range(nn):
                acc += _fast_exp(x[i, k] * a[k]) * c[k] + x[i, k]
        out[r] = acc


@lru_cache(maxsize=4)
def elementwise_rate(d_state: int = 16, elements: int = 1 << 21, repeat: int = 5) -> float:
    """Elements per second this CPU could sustain for ``exp(x*a)*c + x``, one per state element.

    Measures one thread (best of ``repeat`` runs over ``elements``, on a small
    block that stays in cache, with no sequential dependency) and multiplies by
    numba's thread count: an optimistic, contention-free estimate, so
    ``elements / rate`` is a floor for a selective scan over that many
    ``(b, d, l, n)`` elements.  Cached per argument set; takes a few ms.
    """
    import numba

    rows = 256
    tasks = max(1, elements // (rows * d_state))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.001, 0.1, (rows, d_state)).astype(np.float32)
    a = -np.arange(1, d_state + 1, dtype=np.float32)
    c = rng.standard_normal(d_state).astype(np.float32)
    out = np.empty(tasks, np.float32)
    _elementwise_kernel(x, a, c, out)   # compile / warm up
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        _elementwise_kernel(x, a, c, out)
        best = min(best, time.perf_counter() - t0)
    return numba.get_num_threads() * tasks * rows * d_state / best


# --------------------------------------------------------------------------- training: forward + backward
# Elementwise pieces (softplus of delta, the silu gate and their derivatives) are computed
# with NumPy before and after the kernels; the kernels only run the recurrence.  One thread,
# like the tiny models' training (see frontier.models.training.torch_threads), so contributions
# shared across channels (dA, dB, dC, dD) are accumulated in place without races.

@njit(fastmath=True, cache=True)
def _train_fwd(u, dt, A, Bt, Ct, Dv, y, states):
    # y (b, d, l): <C_t, h_t> + D u_t, before the gate; states (b, d, l, n): every h_t
    nb, nd, nl = u.shape
    nn = A.shape[1]
    per_group = nd // Bt.shape[1]
    a = np.empty(nn, np.float32)
    for job in range(nb * nd):
        b = job // nd
        d = job % nd
        g = d // per_group
        Ad = A[d]
        h = np.zeros(nn, np.float32)
        for t in range(nl):
            dtt = dt[b, d, t]
            x = dtt * u[b, d, t]
            for k in range(nn):
                a[k] = _fast_exp(dtt * Ad[k])
            b_t, c_t, s_t = Bt[b, g, t], Ct[b, g, t], states[b, d, t]
            acc = np.float32(0.0)
            for k in range(nn):
                hk = a[k] * h[k] + x * b_t[k]
                h[k] = hk
                s_t[k] = hk
                acc += c_t[k] * hk
            y[b, d, t] = acc + Dv[d] * u[b, d, t]


@njit(fastmath=True, cache=True)
def _train_bwd(dy, u, dt, A, Bt, Ct, Dv, states, du, ddt, dA, dBt, dCt, dD):
    # reverse-time pass per (b, d), carrying dL/dh_t; dy is the gradient of y (before the gate)
    nb, nd, nl = u.shape
    nn = A.shape[1]
    per_group = nd // Bt.shape[1]
    zeros = np.zeros(nn, np.float32)
    a = np.empty(nn, np.float32)
    for job in range(nb * nd):
        b = job // nd
        d = job % nd
        g = d // per_group
        Ad = A[d]
        dAd = dA[d]
        dh = np.zeros(nn, np.float32)
        for t in range(nl - 1, -1, -1):
            dtt = dt[b, d, t]
            uu = u[b, d, t]
            dyt = dy[b, d, t]
            dD[d] += dyt * uu
            h_t = states[b, d, t]
            h_prev = states[b, d, t - 1] if t > 0 else zeros
            b_t, c_t = Bt[b, g, t], Ct[b, g, t]
            db_t, dc_t = dBt[b, g, t], dCt[b, g, t]
            for k in range(nn):
                a[k] = _fast_exp(dtt * Ad[k])
            g_dt = np.float32(0.0)
            g_ub = np.float32(0.0)
            x = dtt * uu
            for k in range(nn):
                dc_t[k] += dyt * h_t[k]
                g_h = dh[k] + dyt * c_t[k]            # total gradient reaching h_t
                da = g_h * h_prev[k] * a[k]           # through a_t = exp(dt A): d a / d(dt A) = a
                g_dt += da * Ad[k] + g_h * b_t[k] * uu
                dAd[k] += da * dtt
                g_ub += g_h * b_t[k]
                db_t[k] += g_h * x
                dh[k] = g_h * a[k]                    # on to h_{t-1}
            du[b, d, t] = dyt * Dv[d] + g_ub * dtt
            ddt[b, d, t] = g_dt


def _softplus_and_slope(raw: np.ndarray, softplus: bool):
    """``(softplus(raw), d softplus / d raw)``; identity above 20 as in the official kernel."""
    if not softplus:
        return raw, None
    big = raw > 20.0
    sp = np.where(big, raw, np.logaddexp(np.float32(0.0), np.minimum(raw, 20.0))).astype(np.float32)
    slope = np.where(big, 1.0, 1.0 / (1.0 + np.exp(-raw))).astype(np.float32)
    return sp, slope


def scan_train_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """Forward pass that keeps what :func:`scan_train_backward` needs.

    Same float32 array conventions as :func:`selective_scan_numba`
    (``B``, ``C``: ``(b, g, n, l)``).  Returns ``out`` and a ``saved`` tuple.
    States are stored for every step, ``4*b*d*l*n`` bytes: fine for the tiny
    models trained in the lessons, not for long sequences.
    """
    b, d, l = u.shape
    n = A.shape[1]
    Bt = np.ascontiguousarray(B.transpose(0, 1, 3, 2))
    Ct = np.ascontiguousarray(C.transpose(0, 1, 3, 2))
    Dv = np.zeros(d, np.float32) if D is None else D
    raw = delta if delta_bias is None else delta + delta_bias[:, None]
    dt, dt_slope = _softplus_and_slope(np.ascontiguousarray(raw, dtype=np.float32), delta_softplus)
    y = np.empty((b, d, l), np.float32)
    states = np.empty((b, d, l, n), np.float32)
    _train_fwd(u, np.ascontiguousarray(dt), A, Bt, Ct, Dv, y, states)
    if z is None:
        out, sig = y, None
    else:
        sig = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        out = y * z * sig
    return out, (u, dt, dt_slope, A, Bt, Ct, Dv, z, sig, y, states, B.shape[1])


def scan_train_backward(dout, saved):
    """Gradients of the loss with respect to every input, given ``dout`` ``(b, d, l)``.

    Returns ``(du, ddelta, dA, dB, dC, dD, dz, ddelta_bias)`` as float32 arrays,
    ``dB`` and ``dC`` as ``(b, g, n, l)``; ``dz`` is ``None`` without a gate.
    All are returned even for inputs that were absent; the caller drops those.
    """
    (u, dt, dt_slope, A, Bt, Ct, Dv, z, sig, y, states, g) = saved
    b, d, l = u.shape
    n = A.shape[1]
    dout = np.asarray(dout, dtype=np.float32)
    if z is None:
        dy, dz = dout, None
    else:
        dy = dout * z * sig                                     # silu(z) = z * sigmoid(z)
        dz = dout * y * sig * (1.0 + z * (1.0 - sig))
    du = np.empty((b, d, l), np.float32)
    ddt = np.empty((b, d, l), np.float32)
    dA = np.zeros((d, n), np.float32)
    dBt = np.zeros((b, g, l, n), np.float32)
    dCt = np.zeros((b, g, l, n), np.float32)
    dD = np.zeros(d, np.float32)
    _train_bwd(np.ascontiguousarray(dy, dtype=np.float32), u, dt, A, Bt, Ct, Dv, states, du, ddt, dA, dBt, dCt, dD)
    ddelta = ddt if dt_slope is None else ddt * dt_slope
    return (du, ddelta, dA, np.ascontiguousarray(dBt.transpose(0, 1, 3, 2)),
            np.ascontiguousarray(dCt.transpose(0, 1, 3, 2)), dD, dz, ddelta.sum(axis=(0, 2)))


# --------------------------------------------------------------------------- the chunked two-pass scan
def _segment_scan(dt, du, A, Bt, Ct=None, h0=None):
    """Scan every segment at once. ``dt``, ``du``: ``(b, d, s, L)``; ``Bt``, ``Ct``: ``(b, d, s, L, n)``;
    ``h0``: ``(b, d, s, n)`` or ``None`` (zeros).  Returns ``(y, h_end)``; ``y`` is ``None`` without ``Ct``."""
    b, d, nseg, L = dt.shape
    n = A.shape[1]
    h = np.zeros((b, d, nseg, n), np.float32) if h0 is None else h0.astype(np.float32, copy=True)
    y = None if Ct is None else np.empty((b, d, nseg, L), np.float32)
    a = A[None, :, None, :]                                           # (1, d, 1, n)
    for t in range(L):
        h = np.exp(dt[..., t, None] * a) * h + du[..., t, None] * Bt[..., t, :]
        if y is not None:
            y[..., t] = np.einsum("bdsn,bdsn->bds", h, Ct[..., t, :])
    return y, h


def selective_scan_chunked(u: np.ndarray, delta: np.ndarray, A: np.ndarray, B: np.ndarray, C: np.ndarray,
                           D: Optional[np.ndarray] = None, z: Optional[np.ndarray] = None,
                           delta_bias: Optional[np.ndarray] = None, delta_softplus: bool = False,
                           seg_len: int = 32) -> Tuple[np.ndarray, np.ndarray]:
    """The selective scan by the chunked two-pass algorithm of the CUDA kernel, in float32 NumPy.

    Shapes as :func:`selective_scan_numba` (``B``, ``C``: ``(b, g, n, l)``).
    Time is cut into ``nseg = ceil(l / seg_len)`` segments; the last is padded
    with ``dt = 0`` steps, which leave the state unchanged.

    1. every segment ``s`` is scanned from ``h = 0``: its end state ``hend[s]``
       and its summed step ``S[s] = sum(dt)`` (the segment's cumulative decay of
       state ``k`` is ``exp(A[:, k] * S[s])``);
    2. the carry: ``h0[0] = 0``, ``h0[s] = exp(A * S[s-1]) * h0[s-1] + hend[s-1]``;
    3. every segment is scanned again from ``h0[s]`` and writes its outputs.

    Returns ``(out, last_state)``: ``(b, d, l)`` and ``(b, d, n)``.  Equal to
    the recurrence up to float32 rounding, for any ``seg_len >= 1``.
    """
    from ..validation import positive_int

    seg_len = positive_int("seg_len", seg_len)
    b, d, l = u.shape
    n = A.shape[1]
    g = B.shape[1]
    raw = delta if delta_bias is None else delta + delta_bias[:, None]
    dt, _ = _softplus_and_slope(np.asarray(raw, np.float32), delta_softplus)
    nseg = -(-l // seg_len)
    pad = nseg * seg_len - l

    def cut(x):                                                       # (b, d, l) -> (b, d, s, L)
        return np.pad(x, ((0, 0), (0, 0), (0, pad))).reshape(b, d, nseg, seg_len).astype(np.float32)

    def cut_bc(M):                                                    # (b, g, n, l) -> (b, d, s, L, n)
        Md = np.repeat(M, d // g, axis=1)                             # (b, d, n, l)
        Md = np.pad(Md, ((0, 0), (0, 0), (0, 0), (0, pad)))
        return Md.reshape(b, d, n, nseg, seg_len).transpose(0, 1, 3, 4, 2).astype(np.float32)

    dts = cut(dt)
    dus = cut(dt * u)
    Bt, Ct = cut_bc(B), cut_bc(C)
    A32 = np.asarray(A, np.float32)
    _, hend = _segment_scan(dts, dus, A32, Bt)                       # pass 1
    S = dts.sum(axis=-1)                                              # (b, d, s)
    h0 = np.zeros_like(hend)
    carry = np.zeros((b, d, n), np.float32)
    for s in range(nseg):                                             # the carry
        h0[:, :, s] = carry
        carry = np.exp(A32[None] * S[:, :, s, None]) * carry + hend[:, :, s]
    y, _ = _segment_scan(dts, dus, A32, Bt, Ct, h0)                   # pass 2
    y = y.reshape(b, d, nseg * seg_len)[..., :l]
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * (z / (1.0 + np.exp(-z)))
    return y.astype(np.float32), carry
