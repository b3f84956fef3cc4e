"""State-space models: the selective scan of Mamba, three ways, and the maths around it.

Shape letters (as in the published Mamba code)::

    b  batch                 d  d_inner, the channels the scan runs over
    l  seq_len (time)        n  d_state, the state size per channel
    g  groups of channels that share one B and C (d must be a multiple of g)

The recurrence, for every batch element and channel, with ``h_0 = 0``::

    delta_t  = softplus(delta_t + delta_bias)          (if asked for)
    h_t      = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t     (n numbers)
    y_t      = <C_t, h_t> + D * u_t
    out_t    = y_t * silu(z_t)                          (if z is given)

``exp(delta*A)`` is the zero-order-hold discretisation of ``A``; ``delta*B`` is
the Euler discretisation of ``B``.  The official code mixes the two this way
(see :func:`discretize`, which also offers pure ZOH and pure Euler).

Implementations, all with the same arguments and the same answer:

* :func:`selective_scan_ref`       the clear reference loop, structured like the
  official ``selective_scan_ref``: it materialises ``exp(delta*A)`` and
  ``delta*B*u`` as ``(b, d, l, n)`` arrays, then steps through time.
* :func:`selective_scan`           the fast path for this machine: a compiled
  (numba) loop over time, parallel over (batch, channel), on the CPU; a fused
  CUDA kernel through CuPy on a GPU.  Neither materialises ``(b, d, l, n)``.
* :func:`selective_scan_parallel`  the same scan as a log-depth associative scan
  (:func:`associative_scan`), the reason the recurrence trains in parallel.
* :func:`selective_scan_torch_loop` a plain PyTorch loop over time
  (differentiable; the baseline a PyTorch user would write first).
* :func:`selective_scan_autograd`  the compiled CPU loop with a hand-written
  backward pass, for training the tiny models quickly.

Inputs may be NumPy arrays or torch tensors (CuPy arrays on a GPU); the result
is of the same kind as ``u``.  Work is done in float32 and ``out`` is cast back
to ``u``'s dtype, as the official reference does; ``last_state`` is float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..validation import choice, positive_int

__all__ = [
    "selective_scan_ref", "selective_scan", "selective_scan_parallel",
    "selective_scan_torch_loop", "selective_scan_autograd", "linear_scan", "associative_scan", "scan_schedule",
    "discretize", "scan_work", "random_scan_inputs",
]

_FLOAT_NUMPY = (np.float16, np.float32, np.float64)
_FLOAT_TORCH = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# --------------------------------------------------------------------------- #
# Input handling
# --------------------------------------------------------------------------- #
def _kind(x) -> str:
    if isinstance(x, np.ndarray):
        return "numpy"
    if isinstance(x, torch.Tensor):
        return "torch"
    if type(x).__module__.split(".")[0] == "cupy":
        return "cupy"
    return "other"


def _check_float(name: str, x) -> None:
    k = _kind(x)
    if k == "numpy":
        if x.dtype.type not in _FLOAT_NUMPY:
            raise TypeError(f"{name} must hold real floating-point numbers (float16/32/64), got dtype {x.dtype}")
    elif k == "torch":
        if x.dtype not in _FLOAT_TORCH:
            raise TypeError(f"{name} must hold real floating-point numbers, got dtype {x.dtype}")
    elif k == "cupy":
        if x.dtype.kind != "f":
            raise TypeError(f"{name} must hold real floating-point numbers, got dtype {x.dtype}")
    else:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")


def _to_numpy32(x) -> np.ndarray:
    k = _kind(x)
    if k == "torch":
        return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
    if k == "cupy":
        return np.ascontiguousarray(x.get().astype(np.float32, copy=False))
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass
class _Scan:
    """Validated inputs, as contiguous float32 NumPy arrays, plus how to give the answer back."""

    u: np.ndarray            # (b, d, l)
    delta: np.ndarray        # (b, d, l)
    A: np.ndarray            # (d, n)
    B: np.ndarray            # (b, g, n, l)
    C: np.ndarray            # (b, g, n, l)
    D: Optional[np.ndarray]  # (d,)
    z: Optional[np.ndarray]  # (b, d, l)
    delta_bias: Optional[np.ndarray]  # (d,)
    kind: str
    dtype: Any
    device: Any

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        b, d, l = self.u.shape
        return b, d, l, self.A.shape[1]

    def delta_eff(self) -> np.ndarray:
        """delta after the bias and the softplus have been applied: ``(b, d, l)``."""
        dt = self.delta if self.delta_bias is None else self.delta + self.delta_bias[:, None]
        return dt

    def give_back(self, out: np.ndarray, last: Optional[np.ndarray], return_last_state: bool):
        out_k = _from_numpy(out, self.kind, self.dtype, self.device)
        if not return_last_state:
            return out_k
        return out_k, _from_numpy(last, self.kind, None, self.device)


def _from_numpy(x: np.ndarray, kind: str, dtype, device):
    if kind == "torch":
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t.to(device=device, dtype=dtype if dtype is not None else torch.float32)
    if kind == "cupy":
        import cupy
        return cupy.asarray(x, dtype=dtype if dtype is not None else np.float32)
    return x.astype(dtype if dtype is not None else np.float32, copy=False)


def _shape(x) -> Tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def _validate(u, delta, A, B, C, D, z, delta_bias) -> Tuple[Tuple[int, int, int, int, int], Dict[str, Any]]:
    """Check kinds, dtypes and shapes; return ``(b, d, l, n, g)`` and the arrays by name."""
    arrays = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z, "delta_bias": delta_bias}
    for name, x in arrays.items():
        if x is not None:
            _check_float(name, x)
    if len(_shape(u)) != 3:
        raise ValueError(f"u must have shape (batch, d_inner, seq_len), got {_shape(u)}")
    b, d, l = _shape(u)
    if min(b, d, l) < 1:
        raise ValueError(f"u must have positive batch, d_inner and seq_len, got {_shape(u)}")
    if _shape(delta) != (b, d, l):
        raise ValueError(f"delta must have the shape of u {(b, d, l)}, got {_shape(delta)}")
    if len(_shape(A)) != 2 or _shape(A)[0] != d:
        raise ValueError(f"A must have shape (d_inner={d}, d_state), got {_shape(A)}")
    n = _shape(A)[1]
    if n < 1:
        raise ValueError("A must have at least one state (d_state >= 1)")
    g = None
    for name, M in (("B", B), ("C", C)):
        s = _shape(M)
        if len(s) == 3 and s == (b, n, l):
            gm = 1
        elif len(s) == 4 and s[0] == b and s[2:] == (n, l) and s[1] >= 1 and d % s[1] == 0:
            gm = s[1]
        else:
            raise ValueError(
                f"{name} must have shape (batch, d_state, seq_len) = {(b, n, l)} or "
                f"(batch, groups, d_state, seq_len) with d_inner={d} divisible by groups, got {s}")
        if g is not None and gm != g:
            raise ValueError(f"B and C must use the same number of groups, got {g} and {gm}")
        g = gm
    for name, x, want in (("D", D, (d,)), ("delta_bias", delta_bias, (d,)), ("z", z, (b, d, l))):
        if x is not None and _shape(x) != want:
            raise ValueError(f"{name} must have shape {want}, got {_shape(x)}")
    return (b, d, l, n, g), arrays


def _prepare(u, delta, A, B, C, D, z, delta_bias) -> _Scan:
    (b, d, l, n, g), _ = _validate(u, delta, A, B, C, D, z, delta_bias)
    kind = _kind(u)
    dtype = u.dtype
    device = u.device if kind in ("torch", "cupy") else None
    B32 = _to_numpy32(B).reshape(b, g, n, l)
    C32 = _to_numpy32(C).reshape(b, g, n, l)
    return _Scan(
        u=_to_numpy32(u), delta=_to_numpy32(delta), A=_to_numpy32(A), B=B32, C=C32,
        D=None if D is None else _to_numpy32(D), z=None if z is None else _to_numpy32(z),
        delta_bias=None if delta_bias is None else _to_numpy32(delta_bias),
        kind=kind, dtype=dtype, device=device)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), computed without overflow, in the dtype of ``x``."""
    return np.logaddexp(np.zeros((), x.dtype), x)


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _finish(s: _Scan, y: np.ndarray) -> np.ndarray:
    """``y + D*u``, then the ``silu(z)`` gate: ``(b, d, l)``."""
    out = y if s.D is None else y + s.u * s.D[:, None]
    if s.z is not None:
        out = out * _silu(s.z)
    return out.astype(np.float32, copy=False)


def _group_expand(M: np.ndarray, d: int) -> np.ndarray:
    """``(b, g, n, l)`` -> ``(b, d, n, l)`` view: channel ``c`` uses group ``c // (d // g)``."""
    b, g, n, l = M.shape
    return np.broadcast_to(M[:, :, None], (b, g, d // g, n, l)).reshape(b, d, n, l)


# --------------------------------------------------------------------------- #
# The reference
# --------------------------------------------------------------------------- #
def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                       delta_softplus: bool = False, return_last_state: bool = False):
    """The selective scan, written as the plain recurrence (Mamba's reference).

    Arguments (``b`` batch, ``d`` d_inner, ``l`` seq_len, ``n`` d_state, ``g`` groups):

    * ``u``, ``delta``: ``(b, d, l)``, the input and the step size per channel and time.
    * ``A``: ``(d, n)``, the diagonal state matrix (negative entries decay).
    * ``B``, ``C``: ``(b, n, l)`` or ``(b, g, n, l)``, input and output projections
      that change with time (this is what "selective" means).
    * ``D``: optional ``(d,)`` skip connection; ``z``: optional ``(b, d, l)`` gate.
    * ``delta_bias``: optional ``(d,)`` added to ``delta``; ``delta_softplus``
      applies ``softplus`` afterwards.

    Returns ``out`` ``(b, d, l)`` in the dtype and kind (NumPy or torch) of ``u``,
    and with ``return_last_state`` also ``h_l`` ``(b, d, n)`` in float32.

    Like the official reference it first builds ``exp(delta*A)`` and
    ``delta*B*u`` as ``(b, d, l, n)`` arrays (2 * 4*b*d*l*n bytes: the memory
    traffic the fused kernel avoids), then loops over time in float32.
    """
    s = _prepare(u, delta, A, B, C, D, z, delta_bias)
    b, d, l, n = s.shape
    dt = s.delta_eff()
    if delta_softplus:
        dt = _softplus(dt)
    Bd = _group_expand(s.B, d)                                          # (b, d, n, l)
    Cd = _group_expand(s.C, d)
    deltaA = np.exp(dt[..., None] * s.A[None, :, None, :])             # (b, d, l, n)
    deltaB_u = (dt * s.u)[..., None] * Bd.transpose(0, 1, 3, 2)        # (b, d, l, n)
    h = np.zeros((b, d, n), np.float32)
    y = np.empty((b, d, l), np.float32)
    for t in range(l):
        h = deltaA[:, :, t] * h + deltaB_u[:, :, t]
        y[:, :, t] = np.einsum("bdn,bdn->bd", h, Cd[:, :, :, t])
    return s.give_back(_finish(s, y), h, return_last_state)


# --------------------------------------------------------------------------- #
# The fast path
# --------------------------------------------------------------------------- #
def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                   delta_softplus: bool = False, return_last_state: bool = False,
                   *, backend: str = "auto"):
    """The selective scan on the fastest path this machine has; same contract as :func:`selective_scan_ref`.

    ``backend``: ``"auto"`` (CuPy kernel when :func:`frontier.kernels.get_backend`
    finds a usable GPU, else the CPU), ``"cpu"`` or ``"gpu"`` (raises if no GPU).

    * CPU: a numba-compiled loop over time, parallel over (batch, channel), with
      the state of one channel in a length-``n`` buffer.  It never builds
      ``(b, d, l, n)`` arrays.  ``exp`` is a float32 polynomial the compiler can
      vectorise (relative error about 1e-7 for ``|x| < 80``).
    * GPU: the fused kernel in ``frontier/kernels/selective_scan.cu``; inputs on
      the host are copied over and the result copied back, so time it with
      device arrays (CuPy arrays or CUDA tensors) to see the kernel alone.
    """
    from ..kernels.backend import get_backend

    choice("backend", backend, ("auto", "cpu", "gpu"))
    be = get_backend("cpu" if backend == "cpu" else ("gpu" if backend == "gpu" else "auto"))
    if be.name == "cupy":
        return _selective_scan_gpu(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    from ..kernels.scan_cpu import selective_scan_numba

    s = _prepare(u, delta, A, B, C, D, z, delta_bias)
    out, last = selective_scan_numba(s.u, s.delta, s.A, s.B, s.C, s.D, s.z, s.delta_bias,
                                     bool(delta_softplus))
    return s.give_back(out, last, return_last_state)


def _selective_scan_gpu(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    import cupy

    from ..kernels.selective_scan import selective_scan_cupy

    (b, d, l, n, g), arrays = _validate(u, delta, A, B, C, D, z, delta_bias)
    kind = _kind(u)
    dtype = u.dtype

    def dev(x):
        if x is None:
            return None
        if _kind(x) == "torch":
            x = x.detach().float().contiguous()
            x = cupy.from_dlpack(x) if x.is_cuda else cupy.asarray(x.numpy())
        return cupy.ascontiguousarray(cupy.asarray(x), dtype=cupy.float32)

    out, last = selective_scan_cupy(
        dev(u), dev(delta), dev(A), dev(B).reshape(b, g, n, l), dev(C).reshape(b, g, n, l),
        dev(D), dev(z), dev(delta_bias), bool(delta_softplus), bool(return_last_state))
    if kind == "cupy":
        res = out.astype(dtype, copy=False), last
    elif kind == "torch":
        device = u.device
        conv = (lambda x, dt: torch.from_dlpack(x).to(dtype=dt)) if device.type == "cuda" else \
               (lambda x, dt: torch.from_numpy(cupy.asnumpy(x)).to(dtype=dt))
        res = conv(out, dtype), (conv(last, torch.float32) if last is not None else None)
    else:
        res = cupy.asnumpy(out).astype(dtype, copy=False), (cupy.asnumpy(last) if last is not None else None)
    return res if return_last_state else res[0]


# --------------------------------------------------------------------------- #
# Linear recurrences and the associative scan
# --------------------------------------------------------------------------- #
def _take(x, axis: int, sl: slice):
    idx = [slice(None)] * x.ndim
    idx[axis] = sl
    return x[tuple(idx)]


def _cat(xs, axis: int):
    return torch.cat(xs, dim=axis) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs, axis=axis)


def _check_ab(a, b, axis: int) -> int:
    for name, x in (("a", a), ("b", b)):
        if _kind(x) not in ("numpy", "torch"):
            raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")
        _check_float(name, x)
    if _kind(a) != _kind(b):
        raise TypeError("a and b must be of the same kind (both NumPy or both torch)")
    if _shape(a) != _shape(b):
        raise ValueError(f"a and b must have the same shape, got {_shape(a)} and {_shape(b)}")
    if len(_shape(a)) == 0:
        raise ValueError("a and b need at least one dimension (time)")
    nd = len(_shape(a))
    if not -nd <= axis < nd:
        raise ValueError(f"axis {axis} is out of range for arrays with {nd} dimensions")
    return axis % nd


def linear_scan(a, b, axis: int = -1):
    """The sequential solution of ``h_t = a_t * h_{t-1} + b_t`` with ``h_{-1} = 0``.

    ``a`` and ``b`` have the same shape; ``axis`` is time.  Returns ``h`` of that
    shape and kind.  ``len`` steps, one after another: the baseline that
    :func:`associative_scan` parallelises.
    """
    axis = _check_ab(a, b, axis)
    L = _shape(a)[axis]
    hs = []
    h = _take(b, axis, slice(0, 1))
    hs.append(h)
    for t in range(1, L):
        h = _take(a, axis, slice(t, t + 1)) * h + _take(b, axis, slice(t, t + 1))
        hs.append(h)
    return _cat(hs, axis)


def _combine(a1, b1, a2, b2):
    """Compose two steps: first ``(a1, b1)``, then ``(a2, b2)``.  Associative, not commutative."""
    return a2 * a1, a2 * b1 + b2


def associative_scan(a, b, axis: int = -1, method: str = "blelloch"):
    """``h_t = a_t * h_{t-1} + b_t`` (``h_{-1} = 0``) in ``O(log L)`` parallel steps.

    Each step ``x -> a*x + b`` is an affine map; composing two of them,
    ``(a1, b1)`` then ``(a2, b2)``, gives ``(a2*a1, a2*b1 + b2)``, and that
    composition is associative, so prefixes can be combined in a tree.

    * ``"blelloch"``: the work-efficient scan (up-sweep, down-sweep), written
      recursively: combine neighbouring pairs, scan the half-length sequence,
      fill in the other half.  ``O(L)`` work, ``2 log2 L`` levels.
    * ``"hillis_steele"``: at level ``k`` every element absorbs the one ``2**k``
      places before it.  ``O(L log L)`` work, ``log2 L`` levels.

    Every operation is elementwise over the non-time axes and out of place, so
    it works on NumPy arrays and on torch tensors (gradients flow through it).
    Returns ``h``, the shape and kind of ``b``.
    """
    axis = _check_ab(a, b, axis)
    choice("method", method, ("blelloch", "hillis_steele"))
    if method == "hillis_steele":
        return _hillis_steele(a, b, axis)
    return _blelloch(a, b, axis)


def _hillis_steele(a, b, axis):
    L = _shape(a)[axis]
    off = 1
    while off < L:
        a_prev, b_prev = _take(a, axis, slice(0, L - off)), _take(b, axis, slice(0, L - off))
        a_cur, b_cur = _take(a, axis, slice(off, L)), _take(b, axis, slice(off, L))
        a_new, b_new = _combine(a_prev, b_prev, a_cur, b_cur)
        a = _cat([_take(a, axis, slice(0, off)), a_new], axis)
        b = _cat([_take(b, axis, slice(0, off)), b_new], axis)
        off *= 2
    return b


def _interleave(even, odd, axis):
    """Inverse of taking ``[0::2]`` and ``[1::2]``; ``even`` may be one longer than ``odd``."""
    ne, no = _shape(even)[axis], _shape(odd)[axis]
    if isinstance(even, torch.Tensor):
        pair = torch.stack([_take(even, axis, slice(0, no)), odd], dim=axis + 1)
    else:
        pair = np.stack([_take(even, axis, slice(0, no)), odd], axis=axis + 1)
    shape = list(pair.shape)
    merged = pair.reshape(shape[:axis] + [2 * no] + shape[axis + 2:])
    return merged if ne == no else _cat([merged, _take(even, axis, slice(no, ne))], axis)


def _blelloch(a, b, axis):
    L = _shape(a)[axis]
    if L == 1:
        return b
    a_e, b_e = _take(a, axis, slice(0, None, 2)), _take(b, axis, slice(0, None, 2))
    a_o, b_o = _take(a, axis, slice(1, None, 2)), _take(b, axis, slice(1, None, 2))
    n_o = _shape(a_o)[axis]
    # Up-sweep: pair (2i, 2i+1) collapses into one step; scan the half-length sequence.
    a_p, b_p = _combine(_take(a_e, axis, slice(0, n_o)), _take(b_e, axis, slice(0, n_o)), a_o, b_o)
    h_o = _blelloch(a_p, b_p, axis)                       # h at odd times 1, 3, 5, ...
    # Down-sweep: h_{2i} = a_{2i} * h_{2i-1} + b_{2i}, and h_0 = b_0.
    n_e = _shape(a_e)[axis]
    rest = _take(a_e, axis, slice(1, n_e)) * _take(h_o, axis, slice(0, n_e - 1)) + _take(b_e, axis, slice(1, n_e))
    h_e = _cat([_take(b_e, axis, slice(0, 1)), rest], axis)
    return _interleave(h_e, h_o, axis)


def scan_schedule(length: int, method: str = "blelloch") -> List[List[Tuple[int, int]]]:
    """Which positions combine at each level of a parallel scan over ``length`` steps.

    Returns one list per level of ``(src, dst)`` pairs: position ``dst``
    absorbs the partial result held at ``src``.  All pairs in one level are
    independent and run at once.  ``len(result)`` is the depth and the total
    number of pairs the work (combine operations), e.g. for figures.

    ``"blelloch"`` gives the up-sweep levels then the down-sweep levels of the
    work-efficient scan (matching :func:`associative_scan`'s recursion);
    ``"hillis_steele"`` gives the ``log2 L`` doubling levels.
    """
    L = positive_int("length", length)
    choice("method", method, ("blelloch", "hillis_steele"))
    levels: List[List[Tuple[int, int]]] = []
    if method == "hillis_steele":
        off = 1
        while off < L:
            levels.append([(t - off, t) for t in range(off, L)])
            off *= 2
        return levels
    up, down = [], []
    stride = 1
    while stride < L:
        up.append([(t - stride, t) for t in range(2 * stride - 1, L, 2 * stride)])
        stride *= 2
    stride //= 2
    while stride >= 1:
        # After the up-sweep at this stride, fill the positions halfway between.
        lvl = [(t - stride, t) for t in range(3 * stride - 1, L, 2 * stride)]
        if lvl:
            down.append(lvl)
        stride //= 2
    levels = [lv for lv in up if lv] + down
    return levels


def selective_scan_parallel(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                            delta_softplus: bool = False, return_last_state: bool = False,
                            *, method: str = "blelloch"):
    """The selective scan through :func:`associative_scan`; same contract as :func:`selective_scan_ref`.

    Builds ``a = exp(delta*A)`` and ``b = delta*B*u`` as ``(b, d, n, l)`` arrays
    and scans along time in ``O(log l)`` levels.  With torch inputs it runs in
    torch (float32) and stays differentiable, so the tiny models in
    :mod:`frontier.models` train through it.
    """
    (bsz, d, l, n, g), _ = _validate(u, delta, A, B, C, D, z, delta_bias)
    choice("method", method, ("blelloch", "hillis_steele"))
    if _kind(u) == "torch":
        return _parallel_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                               return_last_state, method, (bsz, d, l, n, g))
    s = _prepare(u, delta, A, B, C, D, z, delta_bias)
    dt = s.delta_eff()
    if delta_softplus:
        dt = _softplus(dt)
    a = np.exp(dt[:, :, None, :] * s.A[None, :, :, None])               # (b, d, n, l)
    bb = (dt * s.u)[:, :, None, :] * _group_expand(s.B, d)             # (b, d, n, l)
    h = associative_scan(a, bb, axis=-1, method=method)
    y = np.einsum("bdnl,bdnl->bdl", h, _group_expand(s.C, d))
    return s.give_back(_finish(s, y), np.ascontiguousarray(h[..., -1]), return_last_state)


def _to_torch32(x, device):
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def _torch_scan_terms(u, delta, A, B, C, D, z, delta_bias, delta_softplus, dims):
    bsz, d, l, n, g = dims
    dev = u.device
    u32, dt = _to_torch32(u, dev), _to_torch32(delta, dev)
    A32 = _to_torch32(A, dev)
    B32 = _to_torch32(B, dev).reshape(bsz, g, 1, n, l).expand(bsz, g, d // g, n, l).reshape(bsz, d, n, l)
    C32 = _to_torch32(C, dev).reshape(bsz, g, 1, n, l).expand(bsz, g, d // g, n, l).reshape(bsz, d, n, l)
    if delta_bias is not None:
        dt = dt + _to_torch32(delta_bias, dev)[:, None]
    if delta_softplus:
        dt = torch.nn.functional.softplus(dt)
    return u32, dt, A32, B32, C32


def _torch_finish(u, y, u32, D, z):
    out = y if D is None else y + u32 * _to_torch32(D, u.device)[:, None]
    if z is not None:
        out = out * torch.nn.functional.silu(_to_torch32(z, u.device))
    return out.to(u.dtype)


def _parallel_torch(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, method, dims):
    u32, dt, A32, B32, C32 = _torch_scan_terms(u, delta, A, B, C, D, z, delta_bias, delta_softplus, dims)
    a = torch.exp(dt[:, :, None, :] * A32[None, :, :, None])            # (b, d, n, l)
    bb = (dt * u32)[:, :, None, :] * B32
    h = associative_scan(a, bb, axis=-1, method=method)
    y = (h * C32).sum(dim=2)
    out = _torch_finish(u, y, u32, D, z)
    return (out, h[..., -1]) if return_last_state else out


def selective_scan_torch_loop(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                              delta_softplus: bool = False, return_last_state: bool = False):
    """A plain PyTorch loop over time; same contract as :func:`selective_scan_ref`.

    Each of the ``l`` steps is a handful of small tensor operations on
    ``(b, d, n)``, so Python and dispatch overhead dominate at small widths.
    Differentiable.  NumPy inputs are converted and the result converted back.
    """
    dims = _validate(u, delta, A, B, C, D, z, delta_bias)[0]
    kind = _kind(u)
    ut = torch.from_numpy(np.ascontiguousarray(u)) if kind == "numpy" else u
    bsz, d, l, n, g = dims
    dev = ut.device
    u32, dt = _to_torch32(ut, dev), _to_torch32(delta, dev)
    if delta_bias is not None:
        dt = dt + _to_torch32(delta_bias, dev)[:, None]
    if delta_softplus:
        dt = torch.nn.functional.softplus(dt)
    # time-major copies, so that step t reads contiguous memory; channels as (g, d/g)
    dt_l = dt.reshape(bsz, g, d // g, l).movedim(-1, 0).contiguous()           # (l, b, g, d/g)
    du_l = (dt * u32).reshape(bsz, g, d // g, l).movedim(-1, 0).contiguous()
    B_l = _to_torch32(B, dev).reshape(bsz, g, 1, n, l).movedim(-1, 0).contiguous()  # (l, b, g, 1, n)
    C_l = _to_torch32(C, dev).reshape(bsz, g, 1, n, l).movedim(-1, 0).contiguous()
    A32 = _to_torch32(A, dev).reshape(g, d // g, n)
    h = torch.zeros(bsz, g, d // g, n, dtype=torch.float32, device=dev)
    ys = []
    # unbind once: indexing [t] inside the loop would make autograd build (and fill)
    # a full-size gradient for every single step
    for dt_t, du_t, B_t, C_t in zip(dt_l.unbind(0), du_l.unbind(0), B_l.unbind(0), C_l.unbind(0)):
        h = torch.exp(dt_t[..., None] * A32) * h + du_t[..., None] * B_t
        ys.append((h * C_t).sum(-1).reshape(bsz, d))
    out = _torch_finish(ut, torch.stack(ys, dim=-1), u32, D, z)
    h = h.reshape(bsz, d, n)
    if kind == "numpy":
        out, h = out.detach().numpy(), h.detach().numpy()
    return (out, h) if return_last_state else out


class _ScanFunction(torch.autograd.Function):
    """Autograd wrapper of the compiled CPU scan and its hand-written backward pass."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, groups):
        from ..kernels.scan_cpu import scan_train_forward

        b, d, l = u.shape
        n = A.shape[1]

        def np32(x):
            return None if x is None else np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())

        out, saved = scan_train_forward(np32(u), np32(delta), np32(A), np32(B).reshape(b, groups, n, l),
                                        np32(C).reshape(b, groups, n, l), np32(D), np32(z), np32(delta_bias),
                                        delta_softplus)
        ctx.saved = saved
        ctx.meta = (u.dtype, B.shape, C.shape, D is not None, z is not None, delta_bias is not None)
        return torch.from_numpy(out).to(u.dtype)

    @staticmethod
    def backward(ctx, dout):
        from ..kernels.scan_cpu import scan_train_backward

        dtype, B_shape, C_shape, has_D, has_z, has_bias = ctx.meta
        du, ddelta, dA, dB, dC, dD, dz, dbias = scan_train_backward(dout.detach().float().numpy(), ctx.saved)
        t = torch.from_numpy
        return (t(du), t(ddelta), t(dA), t(dB).reshape(B_shape), t(dC).reshape(C_shape),
                t(dD) if has_D else None, t(dz) if has_z else None, t(dbias) if has_bias else None, None, None)


def selective_scan_autograd(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                            delta_softplus: bool = False):
    """The compiled CPU scan with gradients: torch tensors in, ``out`` ``(b, d, l)`` out.

    Same arguments as :func:`selective_scan_ref` (torch tensors on the CPU).
    The forward pass is the numba loop of :func:`selective_scan` (keeping every
    state, ``4*b*d*l*n`` bytes); the backward pass is a second compiled loop
    that runs backwards in time, carrying ``dL/dh``.  Gradients agree with
    autograd through :func:`selective_scan_torch_loop` to float32 precision,
    an order of magnitude faster for the tiny models of the lessons.
    """
    (b, d, l, n, g), _ = _validate(u, delta, A, B, C, D, z, delta_bias)
    for name, x in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z),
                    ("delta_bias", delta_bias)):
        if x is not None and (not isinstance(x, torch.Tensor) or x.device.type != "cpu"):
            raise TypeError(f"{name} must be a torch tensor on the CPU")
    return _ScanFunction.apply(u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus), g)


# --------------------------------------------------------------------------- #
# Discretisation
# --------------------------------------------------------------------------- #
def discretize(A, B, delta, method: str = "mamba"):
    """Turn the continuous system ``h'(t) = A h(t) + B u(t)`` into a step ``h_t = Abar h_{t-1} + Bbar u_t``.

    ``A`` is diagonal (given by its diagonal), so everything is elementwise;
    ``A``, ``B`` and ``delta`` broadcast against each other (NumPy arrays or
    floats).  Returns ``(Abar, Bbar)``.

    * ``"zoh"`` (zero-order hold, Mamba paper Eq. 4): exact when ``u`` is
      constant over each step.  ``Abar = exp(delta*A)``,
      ``Bbar = (exp(delta*A) - 1) / A * B`` (-> ``delta*B`` as ``A -> 0``).
    * ``"euler"`` (forward Euler): ``Abar = 1 + delta*A``, ``Bbar = delta*B``;
      unstable once ``delta > 2/|A|``.
    * ``"mamba"`` (what the official code computes): ZOH for ``A``, Euler for
      ``B``: ``Abar = exp(delta*A)``, ``Bbar = delta*B``.
    """
    choice("method", method, ("zoh", "euler", "mamba"))
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    for name, x in (("A", A), ("B", B), ("delta", delta)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be finite")
    if np.any(delta <= 0):
        raise ValueError("delta (the step size) must be positive")
    dA = delta * A
    if method == "euler":
        return 1.0 + dA, delta * B
    Abar = np.exp(dA)
    if method == "mamba":
        return Abar, delta * B
    # (exp(dA) - 1) / dA * delta * B, with the ratio -> 1 as dA -> 0
    small = np.abs(dA) < 1e-8
    ratio = np.where(small, 1.0 + dA / 2, np.expm1(dA) / np.where(small, 1.0, dA))
    return Abar, ratio * delta * B


# --------------------------------------------------------------------------- #
# Work counts and inputs
# --------------------------------------------------------------------------- #
def scan_work(batch: int, d_inner: int, seq_len: int, d_state: int, groups: int = 1,
              has_D: bool = True, has_z: bool = True, bytes_per_elem: int = 4) -> Dict[str, float]:
    """What one selective scan must do, for rooflines and floors.

    Returns a dict with

    * ``elements``: ``b*d*l*n``, state updates;
    * ``exps``: one ``exp`` per element; ``flops``: 7 per element (the multiply
      ``delta*A``, the exp counted as one, the multiply ``(delta*u)*B`` and the
      multiply-add of the update, the multiply-add of ``<C, h>``) plus
      ``2*b*d*l`` for the skip and the gate;
    * ``bytes_fused`` (bytes): what a fused kernel must move: read ``u``,
      ``delta`` (and ``z``), ``B`` and ``C`` once, ``A``, ``D``, and write ``out``;
    * ``bytes_unfused``: additionally writes and reads back the two
      ``(b, d, l, n)`` arrays ``exp(delta*A)`` and ``delta*B*u``.
    """
    b = positive_int("batch", batch)
    d = positive_int("d_inner", d_inner)
    l = positive_int("seq_len", seq_len)
    n = positive_int("d_state", d_state)
    g = positive_int("groups", groups)
    e = bytes_per_elem
    elements = b * d * l * n
    per_channel_arrays = 3 + (1 if has_z else 0)                 # u, delta, (z), out
    fused = e * (per_channel_arrays * b * d * l + 2 * b * g * n * l + d * n + (d if has_D else 0))
    return {
        "elements": float(elements),
        "exps": float(elements),
        "flops": float(7 * elements + 2 * b * d * l),
        "bytes_fused": float(fused),
        "bytes_unfused": float(fused + 2 * 2 * e * elements),
    }


def random_scan_inputs(batch: int, d_inner: int, seq_len: int, d_state: int, groups: int = 0,
                       seed: int = 0, with_D: bool = True, with_z: bool = True,
                       with_delta_bias: bool = False) -> Dict[str, np.ndarray]:
    """Random float32 inputs shaped like a Mamba layer's, as keyword arguments.

    ``A = -(1, 2, ..., n)`` per channel (mamba-minimal's initialisation),
    ``delta`` in (0.001, 0.1), ``u``, ``B``, ``C``, ``z`` standard normal.
    ``groups=0`` gives ``B``/``C`` of shape ``(b, n, l)``; ``groups>0`` gives
    ``(b, groups, n, l)``.  ``seed`` (int) fixes everything.
    """
    b = positive_int("batch", batch)
    d = positive_int("d_inner", d_inner)
    l = positive_int("seq_len", seq_len)
    n = positive_int("d_state", d_state)
    rng = np.random.default_rng(seed)
    bc_shape = (b, n, l) if groups == 0 else (b, positive_int("groups", groups), n, l)
    out = {
        "u": rng.standard_normal((b, d, l), dtype=np.float32),
        "delta": rng.uniform(0.001, 0.1, (b, d, l)).astype(np.float32),
        "A": -np.tile(np.arange(1, n + 1, dtype=np.float32), (d, 1)),
        "B": rng.standard_normal(bc_shape, dtype=np.float32),
        "C": rng.standard_normal(bc_shape, dtype=np.float32),
    }
    if with_D:
        out["D"] = rng.standard_normal(d, dtype=np.float32)
    if with_z:
        out["z"] = rng.standard_normal((b, d, l), dtype=np.float32)
    if with_delta_bias:
        out["delta_bias"] = rng.uniform(-1, 1, d).astype(np.float32)
    return out
