"""Time an SSM layer's scan against attention on this machine, and read the scaling off the timings.

The two sequence mixers, forward only, float32, causal:

* ``"ssm"``: the selective scan of a layer with ``d_inner = expand * d_model``
  channels and ``d_state`` states per channel
  (:func:`frontier.architecture.ssm.selective_scan`'s kernels: numba on the
  CPU, the fused CUDA kernel on a GPU).  Work grows like ``T``.
* ``"attention"``: ``softmax(Q K^T / sqrt(64)) V`` over ``d_model / 64``
  heads of size 64 (``torch.nn.functional.scaled_dot_product_attention`` on
  the CPU, :func:`frontier.kernels.attention.attention_cupy` on a GPU).  Work
  grows like ``T**2``.

Projections and everything else in the layers are left out, so this times
only the term whose growth in ``T`` differs.  The projections do *not* cost
the same in both: a Mamba block's in- and out-projections take ``12 d^2``
FLOPs per token (``d_inner = 2 d``) against attention's ``8 d^2``, so whole
blocks are much closer than the mixers alone.  At a 7B-class width and
``T = 100K`` the scan does about 900 times fewer FLOPs than ``Q K^T`` and
``P V``, but a whole Mamba block only about 4.5 times fewer than a whole
attention block (:func:`frontier.architecture.costs.mamba` against
:func:`~frontier.architecture.costs.dense`; lesson 1.3 prints both).  On the CPU both
mixers run on one thread and are timed by that thread's CPU time
(``clock="thread"`` of :func:`frontier.timing.time_callable`): the question
is how cost grows with ``T``, and this keeps the operating system's
scheduling (other programs, waking threads) out of the measurement.  Times
are the best of at least ``repeat`` runs.

Each measured point is cached (per device, sizes and ``T``), so a figure
that asks for a wider range of ``T`` only measures the new lengths.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..env import torch_threads
from ..timing import achieved_rates, copy_bandwidth, crossover_from_fits, fit_power_law, time_callable
from ..validation import choice, positive_int
from .ssm import random_scan_inputs, scan_work

__all__ = ["MIXERS", "time_mixers", "scaling_summary", "attention_work", "attention_heads"]

MIXERS = ("ssm", "attention")
HEAD_DIM = 64
MAX_REPEAT = 25


def attention_heads(d_model: int) -> int:
    """Heads of size 64 for a layer of width ``d_model`` (at least one)."""
    return max(1, int(d_model) // HEAD_DIM)


def attention_work(batch: int, T: int, d_model: int, causal: bool = True) -> Dict[str, float]:
    """FLOPs (``Q K^T`` and ``P V``, 2 per multiply-add; causal halves them) and the
    bytes a fused kernel must move (read ``q, k, v``, write the output), float32,
    for :func:`attention_heads` heads of size 64."""
    width = attention_heads(d_model) * HEAD_DIM
    flops = 4.0 * batch * T * T * width * (0.5 if causal else 1.0)
    return {"flops": flops, "bytes": 4.0 * 4 * batch * T * width}


def _device(device: str) -> str:
    from ..kernels.backend import get_backend

    choice("device", device, ("auto", "cpu", "gpu"))
    return "gpu" if get_backend("cpu" if device == "cpu" else device).is_gpu else "cpu"


@lru_cache(maxsize=512)
def _time_point(mixer: str, device: str, batch: int, T: int, d_model: int, d_state: int, expand: int,
                repeat: int) -> float:
    """Seconds (best of ``repeat``) for one forward pass of ``mixer`` at length ``T``."""
    rng = np.random.default_rng(T)
    gpu = device == "gpu"
    if mixer == "ssm":
        d_inner = expand * d_model
        kw = random_scan_inputs(batch, d_inner, T, d_state, seed=T)
        B4 = kw["B"].reshape(batch, 1, d_state, T)
        C4 = kw["C"].reshape(batch, 1, d_state, T)
        if gpu:
            import cupy

            from ..kernels.selective_scan import selective_scan_cupy

            dev = {k: cupy.asarray(v) for k, v in kw.items()}
            B4, C4 = cupy.asarray(B4), cupy.asarray(C4)

            def fn():
                return selective_scan_cupy(dev["u"], dev["delta"], dev["A"], B4, C4, dev["D"], dev["z"])
        else:
            from ..kernels.scan_cpu import selective_scan_numba

            def fn():
                return selective_scan_numba(kw["u"], kw["delta"], kw["A"], B4, C4, kw["D"], kw["z"], None, False,
                                            parallel=False)
    else:
        shape = (batch, attention_heads(d_model), T, HEAD_DIM)
        q, k, v = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))
        if gpu:
            import cupy

            from ..kernels.attention import attention_cupy

            q, k, v = (cupy.asarray(x) for x in (q, k, v))

            def fn():
                return attention_cupy(q, k, v, causal=True)
        else:
            import torch
            import torch.nn.functional as F

            q, k, v = (torch.from_numpy(x) for x in (q, k, v))

            def fn():
                with torch.no_grad():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if gpu:
        return time_callable(fn, warmup=1, repeat=repeat, clock="cupy").minimum
    with torch_threads(1):
        first = time_callable(fn, warmup=1, repeat=1, clock="thread").minimum
        # cheap points get more runs (up to ~0.2 s in all)
        extra = int(min(MAX_REPEAT, max(repeat, 0.2 / max(first, 1e-6)))) - 1
        if extra > 0:
            return min(first, time_callable(fn, warmup=0, repeat=extra, clock="thread").minimum)
        return first


def time_mixers(T_values: Iterable[int], *, d_model: int = 64, d_state: int = 16, expand: int = 2,
                batch: int = 1, mixers: Iterable[str] = MIXERS, device: str = "auto", repeat: int = 3,
                progress: bool = False) -> List[Dict[str, object]]:
    """A tidy table of timings: one record per mixer and ``T``.

    Records hold ``mixer``, ``T``, ``seconds`` (best of ``repeat``), ``device``
    (``"cpu"`` or ``"gpu"``), the work (``flops``, ``bytes``: see
    :func:`~frontier.architecture.ssm.scan_work` and :func:`attention_work`)
    and the achieved ``bandwidth`` (bytes/s) and ``flop_rate`` (FLOP/s).
    ``d_model`` must be a multiple of 64 for attention heads of size 64
    (smaller widths use one head of 64).
    """
    Ts = [positive_int("T", int(t)) for t in T_values]
    d_model = positive_int("d_model", d_model)
    d_state = positive_int("d_state", d_state)
    expand = positive_int("expand", expand)
    batch = positive_int("batch", batch)
    repeat = positive_int("repeat", repeat)
    mixers = [choice("mixer", m, MIXERS) for m in mixers]
    dev = _device(device)
    jobs = [(m, T) for m in mixers for T in Ts]
    it = jobs
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(jobs, desc="timing", leave=True)
    rows = []
    for m, T in it:
        s = _time_point(m, dev, batch, T, d_model, d_state, expand, repeat)
        if m == "ssm":
            w = scan_work(batch, expand * d_model, T, d_state)
            work = {"flops": w["flops"], "bytes": w["bytes_fused"]}
        else:
            work = attention_work(batch, T, d_model)
        rows.append({"mixer": m, "T": T, "seconds": s, "device": dev,
                     **achieved_rates(s, nbytes=work["bytes"], flops=work["flops"])})
    return rows


def scaling_summary(rows: List[Dict[str, object]], T_min: Optional[int] = None,
                    T_max: Optional[int] = None) -> Dict[str, object]:
    """Fit ``seconds ~ c * T**p`` per mixer over ``T_min <= T <= T_max``; find where they cross.

    Returns ``{"fits": {mixer: (c, p)}, "slopes": {mixer: p}, "crossover": T or None,
    "bandwidth": best achieved bytes/s of the SSM in range, "copy_bandwidth": bytes/s,
    "bandwidth_fraction": their ratio}``.  Mixers with fewer than two points in
    range are left out of the fits.
    """
    lo = T_min if T_min is not None else -np.inf
    hi = T_max if T_max is not None else np.inf
    fits = {}
    for m in MIXERS:
        pts = [(r["T"], r["seconds"]) for r in rows if r["mixer"] == m and lo <= r["T"] <= hi]
        if len({t for t, _ in pts}) >= 2:
            x, y = zip(*pts)
            fits[m] = fit_power_law(x, y)
    cross = crossover_from_fits(fits["ssm"], fits["attention"]) if len(fits) == 2 else None
    out: Dict[str, object] = {"fits": fits, "slopes": {m: p for m, (_, p) in fits.items()}, "crossover": cross}
    ssm_rows = [r for r in rows if r["mixer"] == "ssm" and lo <= r["T"] <= hi]
    if ssm_rows:
        dev = ssm_rows[0]["device"]
        best = max(float(r["bandwidth"]) for r in ssm_rows)
        peak = float(copy_bandwidth(dev, nbytes=(1 << 28) if dev == "gpu" else (1 << 26))["bandwidth"])
        out.update(bandwidth=best, copy_bandwidth=peak, bandwidth_fraction=best / peak)
    return out
