"""Serving costs side by side: ``python -m frontier.bench serving [--smoke]``.

Two tables in one run, one torch thread, times on the calling thread's CPU
clock (other programs on a shared machine do not count):

1. **Speculative decoding** with section 5's cached target (d_model 64, 2
   layers) and draft (d_model 16, 1 layer) :class:`~frontier.models.TinyLM` s
   (trained in seconds on first use): for each ``gamma``, the measured
   acceptance ``alpha``, tokens per target call against the formula
   ``(1 - alpha**(gamma+1)) / (1 - alpha)``, and the time against plain
   decoding of the same number of tokens with the target, beside the
   formula's speedup with ``c = t_draft / t_target`` measured.  On a CPU
   with models this small a forward pass costs mostly fixed overhead, so
   ``c`` is large and the speedup is below 1: the table says so rather than
   hiding it.
2. **Quantized matrix products** ``y = x W^T`` (``W`` ``(n, n)`` Gaussian,
   ``x`` ``(batch, n)``): fp32, weight-only formats from
   :mod:`frontier.efficiency.quantization` (int8, int4 group 64, NF4, Q4_0;
   dequantize then fp32 matmul, so they cost more time, not less, on a CPU:
   their saving is memory and bandwidth), and torch's dynamically quantized
   int8 ``Linear`` (fbgemm/qnnpack int8 kernels) where this build has it.
   Relative output error against fp32 and time per product.

No speed targets are asserted (none are meaningful for these sizes on a
shared CPU); the rows are for reading side by side.
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List

import torch

from ..timing import format_table, time_callable

__all__ = ["speculative_rows", "matmul_rows", "main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m frontier.bench serving", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="small sizes, finishes in seconds")
    p.add_argument("--gammas", type=int, nargs="+", help="draft lengths (default 1 2 4 8)")
    p.add_argument("--new", type=int, default=128, help="new tokens per prompt")
    p.add_argument("--prompts", type=int, default=4, help="prompts per gamma")
    p.add_argument("--size", type=int, default=1024, help="matrix size n for the matmul table")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per matmul (the best is kept)")
    return p


def speculative_rows(gammas, n_new: int, n_prompts: int, seed: int = 0) -> List[Dict]:
    """One row per gamma (see the module docstring): alpha, tokens/call measured and predicted, speedups."""
    from ..efficiency import experiments as ex
    from ..efficiency import speculative as sp
    from ..efficiency.distillation import held_out_tokens

    target, _ = ex.target_model(seed)
    draft, _ = ex.draft_model(seed)
    prompts = held_out_tokens(ex.corpus(), n_prompts, seed=40_000 + seed)[:, :8]
    c = sp.decode_step_seconds(draft) / sp.decode_step_seconds(target)
    sweep = sp.gamma_sweep(target, draft, prompts, list(gammas), n_new, seed=seed, clock="thread")
    rows = []
    for i, g in enumerate(sweep["gamma"]):
        a = min(sweep["alpha"][i], 1.0)
        rows.append({"gamma": g, "alpha": sweep["alpha"][i], "tpc": sweep["tokens_per_call"][i],
                     "tpc_formula": sweep["formula"][i], "c": c, "speedup": sweep["speedup"][i],
                     "speedup_formula": sp.expected_speedup(a, g, c),
                     "ms_per_token": 1e3 * sweep["seconds"][i] / (n_new * n_prompts),
                     "plain_ms_per_token": 1e3 * sweep["baseline_seconds"][i] / (n_new * n_prompts)})
    return rows


def matmul_rows(n: int, batch: int = 8, repeat: int = 5, seed: int = 0) -> List[Dict]:
    """One row per format: relative output error against fp32 and milliseconds per ``(batch, n) x (n, n)`` product."""
    from ..efficiency import quantization as q

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, generator=g) / n ** 0.5
    x = torch.randn(batch, n, generator=g)
    ref = x @ w.T
    rows = []

    def add(name, fn, bits):
        out = fn()
        err = float((out.double() - ref.double()).norm() / ref.double().norm())
        ms = 1e3 * time_callable(fn, warmup=1, repeat=repeat, clock="thread").minimum
        rows.append({"format": name, "bits": bits, "rel_error": err, "ms": ms})

    add("fp32", lambda: x @ w.T, 32.0)
    for fmt, gs in (("int8", None), ("int4", 64), ("nf4", None), ("q4_0", None)):
        qt = q.quantize(w, fmt, gs)
        add(f"{fmt} (dequantize + fp32)", lambda qt=qt: x @ q.dequantize(qt).T, q.bits_per_weight(fmt, gs, n))
    try:
        import warnings

        from torch.ao.quantization import quantize_dynamic

        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated", category=UserWarning)
        lin = torch.nn.Linear(n, n, bias=False)
        with torch.no_grad():
            lin.weight.copy_(w)
        qlin = quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)
        with torch.no_grad():
            add("torch dynamic int8 Linear", lambda: qlin(x), 8.0)
    except Exception as exc:                      # a build without quantized kernels
        rows.append({"format": f"torch dynamic int8: unavailable ({type(exc).__name__})", "bits": 8.0,
                     "rel_error": float("nan"), "ms": float("nan")})
    return rows


SPEC_COLUMNS = [("gamma", "gamma", "{:d}"), ("alpha", "alpha", "{:.3f}"), ("tpc", "tokens/call", "{:.2f}"),
                ("tpc_formula", "formula", "{:.2f}"), ("ms_per_token", "ms/token", "{:.3f}"),
                ("plain_ms_per_token", "plain ms/token", "{:.3f}"), ("speedup", "speedup", "{:.2f}x"),
                ("speedup_formula", "formula speedup (c measured)", "{:.2f}x")]
MATMUL_COLUMNS = [("format", "format", "{}"), ("bits", "bits/weight", "{:.3g}"), ("rel_error", "rel. error", "{:.2e}"),
                  ("ms", "ms per product", "{:.3f}")]


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    gammas = args.gammas or ([1, 4] if args.smoke else [1, 2, 4, 8])
    n_new, n_prompts = (24, 1) if args.smoke else (args.new, args.prompts)
    size, repeat = (256, 2) if args.smoke else (args.size, args.repeat)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        print(f"1 torch thread; {os.cpu_count()} cores; torch {torch.__version__}; thread CPU clock")
        rows = speculative_rows(gammas, n_new, n_prompts)
        print(f"\nSpeculative sampling (temperature 1), {n_prompts} prompt(s) x {n_new} new tokens; "
              f"c = t_draft / t_target = {rows[0]['c']:.2f} measured")
        print(format_table(rows, SPEC_COLUMNS))
        below = [r["gamma"] for r in rows if r["speedup"] < 1]
        if below:
            print(f"speedup below 1 at gamma {below}: with models this small a forward pass is mostly fixed "
                  "overhead, so the draft is not much cheaper than the target (c is large) and the accept/reject "
                  "bookkeeping runs in Python; the method pays when the target pass is expensive and memory-bound")
        mrows = matmul_rows(size, repeat=repeat)
        print(f"\nQuantized matrix products, ({8}, {size}) x ({size}, {size})")
        print(format_table(mrows, MATMUL_COLUMNS))
        print("weight-only formats dequantize before an fp32 product here (slower on a CPU); their saving is the "
              "memory and bandwidth of the stored weights")
    finally:
        torch.set_num_threads(before)
    return 0
