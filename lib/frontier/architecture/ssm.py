"""State-space models: the selective scan of Mamba, three ways, and the maths around it.

Shape letters (local to this module, as in the published Mamba code; the
course-wide names are in ``docs/glossary.md``)::

    b  batch                 d  d_inner, the channels the scan runs over (not d_model)
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

The differentiable ones (:func:`selective_scan_parallel`,
:func:`selective_scan_torch_loop`, :func:`selective_scan_autograd`, and
:func:`associative_scan`) are defined in :mod:`frontier.models.layers`, below
the sections, because the tiny models train through them; they are
re-exported here under the same names.

Inputs may be NumPy arrays or torch tensors (CuPy arrays on a GPU); the result
is of the same kind as ``u``.  Work is done in float32 and ``out`` is cast back
to ``u``'s dtype, as the official reference does; ``last_state`` is float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Dict, List, Tuple

import numpy as np
import torch

from ..models.layers import (  # noqa: F401  (moved below the sections; re-exported here)
    _cat, _check_ab, _finish, _group_expand, _kind, _prepare, _shape, _softplus, _take, _validate,
    associative_scan, selective_scan_autograd, selective_scan_parallel, selective_scan_torch_loop,
)
from ..validation import choice, positive_int
from ..validation import rng as _rng

__all__ = [
    "selective_scan_ref", "selective_scan", "selective_scan_parallel",
    "selective_scan_torch_loop", "selective_scan_autograd", "linear_scan", "associative_scan", "scan_schedule",
    "discretize", "scan_work", "random_scan_inputs", "DISCRETIZATIONS", "simulate_discretizations",
    "MambaBlockWeights", "random_mamba_weights", "mamba_block", "causal_depthwise_conv",
    "lti_kernel", "causal_convolution",
]


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
    rng = _rng(seed)
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


#: The discretisation methods of :func:`discretize`, in the order figures show them.
DISCRETIZATIONS: Tuple[str, ...] = ("zoh", "euler", "mamba")


def _test_input(signal: str, t: np.ndarray) -> np.ndarray:
    return np.ones_like(t) if signal == "step" else np.sin(2.0 * t)


def simulate_discretizations(delta: float = 0.5, a: float = -2.0, signal: str = "step", t_end: float = 6.0,
                             fine_points: int = 400) -> Dict[str, object]:
    """Step the one-state system ``h' = a h + u(t)``, ``h(0) = 0``, with each discretisation and exactly.

    ``signal`` is ``"step"`` (``u = 1``) or ``"sine"`` (``u = sin 2t``).
    The reference path is ZOH with a step ``delta / sub`` (``sub`` chosen so
    that about ``fine_points`` points cover ``t_end``), exact for the step
    input and converged for the sine.  Each method in :data:`DISCRETIZATIONS`
    steps ``h_k = Abar h_{k-1} + Bbar u_k`` at ``t = k * delta``.

    Returns ``t_fine``, ``h_exact`` (the reference path), ``t_k``, ``u_k``,
    ``h`` (method -> ``(steps + 1,)`` samples) and ``errors`` (method ->
    largest ``|h_k - h_exact(t_k)|``).
    """
    delta, a, t_end = float(delta), float(a), float(t_end)
    if not delta > 0 or not a < 0:
        raise ValueError(f"need delta > 0 and a < 0 (a stable system), got delta={delta}, a={a}")
    choice("signal", signal, ("step", "sine"))
    if not t_end > 0:
        raise ValueError(f"t_end must be positive, got {t_end}")
    steps = max(1, int(round(t_end / delta)))
    sub = max(1, int(math.ceil(positive_int("fine_points", fine_points) / steps)))
    t_fine = (delta / sub) * np.arange(steps * sub + 1)
    Af, Bf = discretize(a, 1.0, delta / sub, "zoh")
    h = np.zeros_like(t_fine)
    u_fine = _test_input(signal, t_fine)
    for k in range(1, len(t_fine)):
        h[k] = Af * h[k - 1] + Bf * (1.0 if signal == "step" else u_fine[k])
    t_k = delta * np.arange(steps + 1)
    u_k = _test_input(signal, t_k)
    paths, errors = {}, {}
    for method in DISCRETIZATIONS:
        Abar, Bbar = discretize(a, 1.0, delta, method)
        hk = np.zeros(steps + 1)
        for k in range(1, steps + 1):
            hk[k] = Abar * hk[k - 1] + Bbar * u_k[k]
        paths[method] = hk
        errors[method] = float(np.max(np.abs(hk - h[::sub])))
    return {"t_fine": t_fine, "h_exact": h, "t_k": t_k, "u_k": u_k, "h": paths, "errors": errors}


# --------------------------------------------------------------------------- #
# The Mamba block around the scan
# --------------------------------------------------------------------------- #
@dataclass
class MambaBlockWeights:
    """The weights of one Mamba block (Gu & Dao 2023, Fig. 3; mamba-minimal's names), torch tensors.

    Letters: ``D_m`` d_model, ``E`` d_inner (``expand * D_m``), ``N`` d_state,
    ``R`` dt_rank, ``k`` d_conv.

    * ``in_proj`` ``(2E, D_m)``: the input ``x`` and the gate ``z``;
    * ``conv_weight`` ``(E, k)``, ``conv_bias`` ``(E,)``: the short causal depthwise convolution;
    * ``x_proj`` ``(R + 2N, E)``: reads the low-rank step ``dt``, ``B`` and ``C`` off each token;
    * ``dt_proj`` ``(E, R)``, ``dt_bias`` ``(E,)``: ``delta = softplus(dt_proj(dt) + dt_bias)``;
    * ``A_log`` ``(E, N)``: ``A = -exp(A_log)``; ``D`` ``(E,)``: the skip;
    * ``out_proj`` ``(D_m, E)``.
    """

    in_proj: torch.Tensor
    conv_weight: torch.Tensor
    conv_bias: torch.Tensor
    x_proj: torch.Tensor
    dt_proj: torch.Tensor
    dt_bias: torch.Tensor
    A_log: torch.Tensor
    D: torch.Tensor
    out_proj: torch.Tensor

    @property
    def sizes(self) -> Dict[str, int]:
        """``d_model``, ``d_inner``, ``d_state``, ``dt_rank``, ``d_conv``."""
        E, N = self.A_log.shape
        return {"d_model": int(self.in_proj.shape[1]), "d_inner": int(E), "d_state": int(N),
                "dt_rank": int(self.dt_proj.shape[1]), "d_conv": int(self.conv_weight.shape[1])}

    def n_parameters(self) -> int:
        return int(sum(getattr(self, f.name).numel() for f in fields(self)))

    @classmethod
    def from_module(cls, block) -> "MambaBlockWeights":
        """Copy the weights of a selective block of :class:`frontier.models.TinySSM` (``model.blocks[i]``)."""
        for name in ("in_proj", "conv", "x_proj", "dt_proj", "dt_bias", "A_log", "D", "out_proj"):
            if not hasattr(block, name):
                raise TypeError(f"block must be a selective TinySSM block (model.blocks[i]); it has no {name!r}")
        with torch.no_grad():
            return cls(block.in_proj.weight.clone(), block.conv.weight[:, 0].clone(), block.conv.bias.clone(),
                       block.x_proj.weight.clone(), block.dt_proj.weight.clone(), block.dt_bias.clone(),
                       block.A_log.clone(), block.D.clone(), block.out_proj.weight.clone())


def random_mamba_weights(d_model: int, d_state: int = 16, expand: int = 2, d_conv: int = 4, dt_rank: int = 0,
                         seed: int = 0, dtype=torch.float64) -> MambaBlockWeights:
    """Weights of a Mamba block initialised as mamba-minimal does (``dt_rank = 0``: ``ceil(d_model / 16)``).

    ``A = -(1, ..., N)`` in every channel; ``delta`` starts between 0.001 and
    0.1 (the bias is the inverse softplus of a log-uniform draw); the
    projections are Gaussian with standard deviation ``1/sqrt(fan_in)``.
    """
    Dm = positive_int("d_model", d_model)
    N, k = positive_int("d_state", d_state), positive_int("d_conv", d_conv)
    E = positive_int("expand", expand) * Dm
    R = int(dt_rank) or math.ceil(Dm / 16)
    g = torch.Generator().manual_seed(int(seed))

    def normal(*shape, fan_in):
        return torch.randn(*shape, generator=g, dtype=dtype) / math.sqrt(fan_in)

    dt = torch.exp(torch.rand(E, generator=g, dtype=dtype) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
    return MambaBlockWeights(
        in_proj=normal(2 * E, Dm, fan_in=Dm), conv_weight=normal(E, k, fan_in=k),
        conv_bias=torch.zeros(E, dtype=dtype), x_proj=normal(R + 2 * N, E, fan_in=E),
        dt_proj=normal(E, R, fan_in=R), dt_bias=dt + torch.log(-torch.expm1(-dt)),
        A_log=torch.log(torch.arange(1, N + 1, dtype=dtype)).repeat(E, 1), D=torch.ones(E, dtype=dtype),
        out_proj=normal(Dm, E, fan_in=E))


def causal_depthwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor = None) -> torch.Tensor:
    """``y[b, e, t] = bias[e] + sum_j weight[e, j] * x[b, e, t - (k - 1) + j]`` (zeros before the start).

    ``x`` ``(b, E, l)``, ``weight`` ``(E, k)``, ``bias`` ``(E,)``; returns
    ``(b, E, l)``.  Each channel has its own filter of ``k`` taps that sees
    the current token and the ``k - 1`` before it, as ``nn.Conv1d(E, E, k,
    groups=E, padding=k - 1)`` cut to the first ``l`` outputs computes it.
    """
    if x.ndim != 3 or weight.ndim != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"x must be (b, E, l) and weight (E, k), got {tuple(x.shape)} and {tuple(weight.shape)}")
    k, l = weight.shape[1], x.shape[-1]
    padded = torch.nn.functional.pad(x, (k - 1, 0))
    y = sum(weight[None, :, j, None] * padded[..., j:j + l] for j in range(k))
    return y if bias is None else y + bias[None, :, None]


def mamba_block(x: torch.Tensor, w: MambaBlockWeights, return_parts: bool = False):
    """One Mamba block (no norm, no residual): ``x`` ``(b, l, d_model)`` -> ``(b, l, d_model)``.

    1. ``in_proj`` splits each token into ``u`` and the gate ``z``, ``(b, E, l)`` each;
    2. ``u`` goes through the causal depthwise convolution and SiLU;
    3. ``x_proj`` reads ``dt`` ``(b, R, l)``, ``B`` and ``C`` ``(b, N, l)`` off ``u``;
    4. ``delta = softplus(dt_proj(dt) + dt_bias)`` ``(b, E, l)``, positive;
    5. the selective scan with ``A = -exp(A_log)`` and the skip ``D``, times ``silu(z)``;
    6. ``out_proj`` back to ``d_model``.

    With ``return_parts`` also returns a dict of every intermediate by name
    (``u``, ``z``, ``u_conv``, ``dt``, ``delta``, ``B``, ``C``, ``y``).  The scan
    is :func:`selective_scan_torch_loop`, so this is differentiable.
    """
    if not isinstance(w, MambaBlockWeights):
        raise TypeError(f"w must be MambaBlockWeights, got {type(w).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != w.in_proj.shape[1]:
        raise ValueError(f"x must be a (batch, seq_len, {w.in_proj.shape[1]}) tensor")
    sz = w.sizes
    E, N, R = sz["d_inner"], sz["d_state"], sz["dt_rank"]
    x = x.to(w.in_proj.dtype)
    u, z = (x @ w.in_proj.T).transpose(1, 2).split([E, E], dim=1)                 # (b, E, l) each
    u_conv = torch.nn.functional.silu(causal_depthwise_conv(u, w.conv_weight, w.conv_bias))
    dt, B, C = (w.x_proj @ u_conv).split([R, N, N], dim=1)                       # (b, R|N|N, l)
    delta = torch.nn.functional.softplus(w.dt_proj @ dt + w.dt_bias[None, :, None])   # (b, E, l)
    y = selective_scan_torch_loop(u_conv, delta, -torch.exp(w.A_log), B, C, D=w.D, z=z)
    out = (w.out_proj @ y).transpose(1, 2)                                          # (b, l, d_model)
    if not return_parts:
        return out
    return out, {"u": u, "z": z, "u_conv": u_conv, "dt": dt, "delta": delta, "B": B, "C": C, "y": y}


# --------------------------------------------------------------------------- #
# Time-invariant SSMs are convolutions
# --------------------------------------------------------------------------- #
def lti_kernel(A, B, C, delta, length: int, method: str = "mamba") -> np.ndarray:
    """The convolution kernel of a time-invariant diagonal SSM: ``K[e, j] = sum_n C[e,n] Abar[e,n]^j Bbar[e,n]``.

    ``A``, ``B``, ``C`` ``(E, N)`` (one system per channel, fixed in time),
    ``delta`` ``(E,)`` or a float; discretised by :func:`discretize`.
    Returns ``(E, length)``.  With ``h_t = Abar h_{t-1} + Bbar u_t`` and
    ``y_t = C h_t``, unrolling gives ``y_t = sum_j K[:, j] u_{t-j}``: the whole
    layer is one causal convolution, computable in parallel (by FFT) without a
    scan.  A selective model's ``delta``, ``B`` and ``C`` change with the
    token, so no single kernel exists and it must scan.
    """
    A, B, C = (np.asarray(a, dtype=np.float64) for a in (A, B, C))
    if A.ndim != 2 or B.shape != A.shape or C.shape != A.shape:
        raise ValueError(f"A, B and C must all have shape (E, N), got {A.shape}, {B.shape}, {C.shape}")
    length = positive_int("length", length)
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), A.shape[:1])[:, None]
    Abar, Bbar = discretize(A, B, delta, method)
    powers = Abar[:, :, None] ** np.arange(length)[None, None, :]                 # (E, N, length)
    return np.einsum("en,enj,en->ej", C, powers, Bbar)


def causal_convolution(u, kernel) -> np.ndarray:
    """``y[b, e, t] = sum_{j <= t} kernel[e, j] * u[b, e, t - j]``: ``u`` ``(b, E, l)``, ``kernel`` ``(E, >= l)``."""
    u = np.asarray(u, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if u.ndim != 3 or kernel.ndim != 2 or kernel.shape[0] != u.shape[1] or kernel.shape[1] < u.shape[2]:
        raise ValueError(f"u must be (b, E, l) and kernel (E, >= l), got {u.shape} and {kernel.shape}")
    l = u.shape[2]
    y = np.zeros_like(u)
    for j in range(l):
        y[..., j:] += kernel[None, :, j, None] * u[..., :l - j]
    return y
