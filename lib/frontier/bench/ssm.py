"""Selective scan and attention, side by side: ``python -m frontier.bench ssm [--smoke]``.

CPU table, one row per sequence length (batch 1, d_inner 256, d_state 16 by
default, with ``D`` and the ``z`` gate): the reference loop
(:func:`~frontier.architecture.ssm.selective_scan_ref`), a plain PyTorch loop,
and the fast path (:func:`~frontier.architecture.ssm.selective_scan`, numba
on the CPU), with the speed-ups, the largest difference from the reference,
and a floor: the number of ``(b, d, l, n)`` elements divided by the rate at
which this CPU does one exp and two multiply-adds per element without the
recurrence (:func:`frontier.kernels.scan_cpu.elementwise_rate`).
Target: the fast path at least 10 times faster than the reference at
seq_len 4096.

GPU section (only with a usable CuPy): the measured copy bandwidth; the fused
scan kernel's achieved bandwidth (bytes it must move / time) as a fraction of
it, timed both the way Mamba calls it (softplus of delta plus a bias) and in
the cheap case (delta as it is), target at least 0.5 at large sizes the Mamba
way; the number of time segments the launch used (the chunked two-pass scan
when batch x channels cannot fill the device); the GPU attention paths against
``torch.nn.functional.scaled_dot_product_attention`` at T = 4096, head 64,
float32, target within 3 times.
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List

import numpy as np

from ..timing import copy_bandwidth, format_table, time_callable

TARGET_CPU_SPEEDUP = 10.0
TARGET_BANDWIDTH_FRACTION = 0.5
TARGET_ATTENTION_RATIO = 3.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m frontier.bench ssm", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, finishes in seconds")
    p.add_argument("--lengths", type=int, nargs="+", help="sequence lengths for the CPU table")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--d-inner", type=int, default=256)
    p.add_argument("--d-state", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per cell (the best is shown)")
    p.add_argument("--cpu-only", action="store_true", help="skip the GPU section")
    p.add_argument("--gpu-only", action="store_true", help="skip the CPU table (scripts/gpu_check.sh)")
    return p


def cpu_rows(lengths: List[int], batch: int, d_inner: int, d_state: int, repeat: int) -> List[Dict]:
    """One record per length: milliseconds of each variant, speed-ups, floor, error."""
    from ..architecture import ssm
    from ..kernels.scan_cpu import elementwise_rate

    rate = elementwise_rate(d_state)
    rows = []
    for L in lengths:
        kw = ssm.random_scan_inputs(batch, d_inner, L, d_state, seed=L)
        ref = ssm.selective_scan_ref(**kw)
        fast = ssm.selective_scan(**kw, backend="cpu")
        err = float(np.max(np.abs(fast - ref)) / max(1e-30, float(np.max(np.abs(ref)))))
        # best of `repeat` runs for every variant: on a shared machine the minimum is
        # the least disturbed estimate of what the code itself costs
        t_ref = time_callable(lambda: ssm.selective_scan_ref(**kw), warmup=0, repeat=repeat).minimum
        t_torch = time_callable(lambda: ssm.selective_scan_torch_loop(**kw), warmup=0,
                                repeat=repeat).minimum
        t_fast = time_callable(lambda: ssm.selective_scan(**kw, backend="cpu"), warmup=1,
                               repeat=3 * repeat).minimum
        floor = batch * d_inner * L * d_state / rate
        rows.append({"seq_len": L, "ref_ms": 1e3 * t_ref, "torch_ms": 1e3 * t_torch, "fast_ms": 1e3 * t_fast,
                     "vs_ref": t_ref / t_fast, "vs_torch": t_torch / t_fast, "floor_ms": 1e3 * floor,
                     "of_floor": t_fast / floor, "rel_err": err})
    return rows


CPU_COLUMNS = [("seq_len", "seq_len", "{:d}"), ("ref_ms", "ref ms", "{:.1f}"),
               ("torch_ms", "torch loop ms", "{:.1f}"), ("fast_ms", "fast ms", "{:.2f}"),
               ("vs_ref", "fast vs ref", "{:.1f}x"), ("vs_torch", "fast vs torch", "{:.1f}x"),
               ("floor_ms", "floor ms", "{:.2f}"), ("of_floor", "fast/floor", "{:.1f}x"),
               ("rel_err", "max rel err", "{:.1e}")]


SCAN_SIZES = [(1, 128, 2048, 16), (1, 1024, 2048, 16), (8, 2048, 2048, 16), (8, 4096, 2048, 16)]
SCAN_SIZES_SMOKE = [(1, 128, 1024, 16), (2, 512, 512, 16)]
SCAN_CASES = {"mamba": {"delta_softplus": True, "with_delta_bias": True},
              "cheap": {"delta_softplus": False, "with_delta_bias": False}}


def scan_rows(smoke: bool, peak: float) -> List[Dict]:
    """Time the fused scan on device arrays, both ways (see :data:`SCAN_CASES`), at each size."""
    import cupy

    from ..architecture import ssm
    from ..kernels.selective_scan import launch_config, selective_scan_cupy

    sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
    rows = []
    for (b, d, L, n) in (SCAN_SIZES_SMOKE if smoke else SCAN_SIZES):
        for case, opts in SCAN_CASES.items():
            kw = ssm.random_scan_inputs(b, d, L, n, groups=1, seed=0, with_delta_bias=opts["with_delta_bias"])
            dev = {k: cupy.asarray(v) for k, v in kw.items()}
            sp = opts["delta_softplus"]

            def run(dev=dev, sp=sp):
                return selective_scan_cupy(dev["u"], dev["delta"], dev["A"], dev["B"], dev["C"], dev["D"],
                                           dev["z"], dev.get("delta_bias"), sp)

            t = time_callable(run, warmup=2, repeat=10, clock="cupy", number=10).median
            nbytes = ssm.scan_work(b, d, L, n)["bytes_fused"] + (4 * d if opts["with_delta_bias"] else 0)
            seg = launch_config(b, d, n, 1, L, softplus=sp, sm_count=sms)["nseg"]
            rows.append({"shape": f"b={b} d={d} l={L} n={n}", "case": case, "segments": seg, "ms": 1e3 * t,
                         "gbs": nbytes / t / 1e9, "frac": nbytes / t / peak})
    return rows


def gpu_report(smoke: bool) -> List[str]:
    """Lines for the GPU section; each measurement says what it measured."""
    import cupy

    from ..kernels.attention import attention_cupy

    lines = []
    bw = copy_bandwidth("gpu", nbytes=(1 << 26) if smoke else (1 << 30))
    peak = bw["bandwidth"]
    lines.append(f"device copy bandwidth (cupy.copyto, read+write): {peak / 1e9:.0f} GB/s on {bw['device']}")
    rows = scan_rows(smoke, peak)
    lines.append(format_table(rows, [("shape", "selective scan (fused kernel)", "{}"), ("case", "case", "{}"),
                                     ("segments", "segments", "{:d}"), ("ms", "ms", "{:.3f}"),
                                     ("gbs", "achieved GB/s", "{:.0f}"), ("frac", "of copy bandwidth", "{:.2f}")]))
    lines.append("cases: 'mamba' = softplus(delta + bias), as Mamba calls it; 'cheap' = delta used as it is. "
                 "Time per call: 10 launches between one pair of CUDA events, divided by 10 (median of 10).")
    frac = min(r["frac"] for r in rows if r["case"] == "mamba" and r["shape"] == rows[-1]["shape"])
    lines.append(f"target: >= {TARGET_BANDWIDTH_FRACTION} of copy bandwidth at the largest size, the Mamba way: "
                 f"{frac:.2f} -> {'met' if frac >= TARGET_BANDWIDTH_FRACTION else 'NOT met'}")

    T, heads = (1024, 4) if smoke else (4096, 16)
    rng = np.random.default_rng(0)
    q, k, v = (cupy.asarray(rng.standard_normal((1, heads, T, 64), dtype=np.float32)) for _ in range(3))
    arows = []
    for causal in (False, True):
        row = {"case": f"T={T} d=64 heads={heads}" + (" causal" if causal else "")}
        for method in ("cublas", "tiled"):
            row[method] = 1e3 * time_callable(lambda: attention_cupy(q, k, v, causal=causal, method=method),
                                              warmup=2, repeat=5, clock="cupy").median
        try:
            import torch
            import torch.nn.functional as F
            if torch.cuda.is_available():
                tq, tk, tv = (torch.from_dlpack(x) for x in (q, k, v))
                row["sdpa"] = 1e3 * time_callable(
                    lambda: F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal),
                    warmup=2, repeat=5, clock="torch").median
        except ImportError:
            pass
        if "sdpa" in row:
            row["ratio"] = min(row["cublas"], row["tiled"]) / row["sdpa"]
        arows.append(row)
    lines.append(format_table(arows, [("case", "attention, float32", "{}"), ("cublas", "cuBLAS+softmax ms", "{:.3f}"),
                                      ("tiled", "tiled kernel ms", "{:.3f}"), ("sdpa", "torch SDPA ms", "{:.3f}"),
                                      ("ratio", "best / SDPA", "{:.2f}x")]))
    if all("ratio" in r for r in arows):
        worst = max(r["ratio"] for r in arows)
        lines.append(f"target: within {TARGET_ATTENTION_RATIO:.0f}x of SDPA: worst {worst:.2f}x -> "
                     f"{'met' if worst <= TARGET_ATTENTION_RATIO else 'NOT met'}")
    else:
        lines.append("torch has no CUDA device here, so SDPA was not timed")
    return lines


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from ..kernels.backend import describe_backend, get_backend

    if args.smoke:
        lengths = args.lengths or [128, 256, 512]
        d_inner = 64 if args.d_inner == 256 else args.d_inner
    else:
        lengths = args.lengths or [512, 1024, 2048, 4096]
        d_inner = args.d_inner
    print(describe_backend())
    if args.cpu_only and args.gpu_only:
        print("--cpu-only and --gpu-only exclude each other")
        return 2
    if not args.gpu_only:
        _cpu_section(args, lengths, d_inner)
    if args.cpu_only:
        print("GPU section skipped: --cpu-only")
        return 0
    be = get_backend()
    if not be.is_gpu:
        print(f"GPU section skipped: {be.reason}")
        return 0
    for line in gpu_report(args.smoke):
        print(line)
    return 0


def _cpu_section(args, lengths: List[int], d_inner: int) -> None:
    print(f"CPU: selective scan, batch {args.batch}, d_inner {d_inner}, d_state {args.d_state}, "
          f"with D and z; float32; best of {args.repeat} runs ({3 * args.repeat} for the fast path); "
          f"{os.cpu_count()} cores")
    rows = cpu_rows(lengths, args.batch, d_inner, args.d_state, args.repeat)
    print(format_table(rows, CPU_COLUMNS))
    print("floor: b*d*l*n elements / (rate of one exp + two multiply-adds per element without the "
          "recurrence, measured on one thread, times the thread count)")
    last = rows[-1]
    if (args.batch, d_inner, args.d_state, last["seq_len"]) == (1, 256, 16, 4096):
        ok = last["vs_ref"] >= TARGET_CPU_SPEEDUP
        print(f"target: fast >= {TARGET_CPU_SPEEDUP:.0f}x the reference at b=1 d=256 n=16 l=4096: "
              f"{last['vs_ref']:.1f}x -> {'met' if ok else 'NOT met'}")
    print()
