"""Decoding with and without the KV cache, side by side: ``python -m frontier.bench generate [--smoke]``.

One :class:`~frontier.models.tiny_lm.TinyLM` (width 128, 4 layers, 4 heads,
d_ff 512 by default; random weights, which do not change the cost), greedy
:func:`~frontier.models.generate` of ``--new`` tokens after prompts of each
context length, batch 1, one torch thread, float32.  For each context and
each mode (``use_cache=True``: prompt once, then one token per step through
the :class:`~frontier.models.protocol.KVCache`; ``use_cache=False``: the
whole prefix recomputed at every step) it reports

* tokens per second of the whole :func:`~frontier.models.generate` call
  (prefill included), and
* the time per new token at that context, measured on the decode step
  itself: with the cache, one forward pass of one token against a cache
  holding the context (rolled back with ``KVCache.truncate`` between runs);
  without it, one forward pass over the context plus the new token, which is
  what ``use_cache=False`` does at every step.  (Subtracting two timings of
  whole calls would bury a 1 ms step under the noise of a 100 ms prefill.)

Each time is the best of ``--repeat`` runs on the calling thread's CPU clock
(:func:`frontier.timing.time_callable` with ``clock="thread"``), which leaves
out moments when other programs hold the core.

Targets: with the cache, the time per token at the longest context is within
2x of that at the shortest (64 -> 1024), and at context 512 cached decoding
is at least 5x faster per token than recomputing the prefix.
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List, Sequence

import torch

from ..timing import format_table, time_callable

TARGET_FLATNESS = 2.0        # cached time per token, longest / shortest context, at most
TARGET_SPEEDUP = 5.0         # recompute / cached time per token at context 512, at least
SPEEDUP_CONTEXT = 512


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m frontier.bench generate", description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, finishes in seconds")
    p.add_argument("--contexts", type=int, nargs="+", help="prompt lengths (default 64 128 256 512 1024)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--new", type=int, default=16, help="new tokens per call")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per cell (the best is kept)")
    return p


def generate_rows(contexts: Sequence[int], *, d_model: int = 128, n_layers: int = 4, n_heads: int = 4,
                  new_tokens: int = 16, repeat: int = 3, vocab_size: int = 256, seed: int = 0) -> List[Dict]:
    """One record per context length: seconds per call and per new token with and without the cache.

    Keys: ``context``, ``cached_tok_s`` / ``recompute_tok_s`` (new tokens per
    second of the whole ``generate`` call), ``cached_ms`` / ``recompute_ms``
    (milliseconds of one decode step at that context), ``speedup``
    (``recompute_ms / cached_ms``), and
    ``same_tokens`` (both modes produced identical greedy tokens).
    """
    from ..models.generate import generate
    from ..models.tiny_lm import TinyLM, TinyLMConfig

    if new_tokens < 1:
        raise ValueError(f"new_tokens must be >= 1, got {new_tokens}")
    cfg = TinyLMConfig(vocab_size=vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                       d_ff=4 * d_model, max_seq_len=max(contexts) + new_tokens)
    model = TinyLM(cfg, seed=seed).eval()
    g = torch.Generator().manual_seed(seed)
    rows = []
    for c in contexts:
        prompt = torch.randint(0, vocab_size, (1, c), generator=g)
        nxt = torch.randint(0, vocab_size, (1, 1), generator=g)
        row: Dict = {"context": c}
        outs = {}
        for name, use_cache in (("cached", True), ("recompute", False)):
            def call(use_cache=use_cache):
                return generate(model, prompt, new_tokens, temperature=0, use_cache=use_cache)

            outs[name] = call()
            t_call = time_callable(call, warmup=0, repeat=repeat, clock="thread").minimum
            row[f"{name}_tok_s"] = new_tokens / t_call
        with torch.no_grad():
            cache = model.new_cache(1)
            model(prompt, cache=cache)

            def cached_step():
                model(nxt, cache=cache.truncate(c))

            def recompute_step():
                model(torch.cat([prompt, nxt], dim=1))

            row["cached_ms"] = 1e3 * time_callable(cached_step, warmup=2, repeat=10 * repeat,
                                                   clock="thread").minimum
            row["recompute_ms"] = 1e3 * time_callable(recompute_step, warmup=1, repeat=repeat,
                                                      clock="thread").minimum
        row["speedup"] = row["recompute_ms"] / max(row["cached_ms"], 1e-12)
        row["same_tokens"] = bool(torch.equal(outs["cached"], outs["recompute"]))
        rows.append(row)
    return rows


COLUMNS = [("context", "context", "{:d}"),
           ("cached_tok_s", "cached tok/s", "{:.0f}"), ("recompute_tok_s", "recompute tok/s", "{:.0f}"),
           ("cached_ms", "cached ms/token", "{:.3f}"), ("recompute_ms", "recompute ms/token", "{:.3f}"),
           ("speedup", "recompute / cached", "{:.1f}x"), ("same_tokens", "same tokens", "{}")]


def verdicts(rows: List[Dict]) -> List[str]:
    """The target lines for ``rows`` (each says met / NOT met, or why it was not checked)."""
    lines = []
    first, last = rows[0], rows[-1]
    flat = last["cached_ms"] / max(first["cached_ms"], 1e-12)
    ok = flat <= TARGET_FLATNESS
    lines.append(f"cached time per token, context {last['context']} / context {first['context']}: {flat:.2f}x "
                 f"(target <= {TARGET_FLATNESS:.0f}x from 64 to 1024) -> {'met' if ok else 'NOT met'}")
    at = [r for r in rows if r["context"] == SPEEDUP_CONTEXT]
    if at:
        s = at[0]["speedup"]
        lines.append(f"at context {SPEEDUP_CONTEXT}, cached decoding is {s:.1f}x faster per token than "
                     f"recomputing (target >= {TARGET_SPEEDUP:.0f}x) -> {'met' if s >= TARGET_SPEEDUP else 'NOT met'}")
    else:
        lines.append(f"context {SPEEDUP_CONTEXT} not measured: speed-up target not checked")
    if not all(r["same_tokens"] for r in rows):
        lines.append("WARNING: cached and recomputed greedy decoding produced different tokens")
    return lines


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.smoke:
        contexts = args.contexts or [16, 32, 64]
        d_model, n_layers, new, repeat = 32, 2, 6, 1
    else:
        contexts = args.contexts or [64, 128, 256, 512, 1024]
        d_model, n_layers, new, repeat = args.d_model, args.n_layers, args.new, args.repeat
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        print(f"TinyLM d_model {d_model}, {n_layers} layers, {args.n_heads} heads, d_ff {4 * d_model}, float32, "
              f"batch 1, greedy, {new} new tokens per call; best of {repeat} runs, thread CPU clock; "
              f"1 torch thread; {os.cpu_count()} cores; torch {torch.__version__}")
        rows = generate_rows(contexts, d_model=d_model, n_layers=n_layers, n_heads=args.n_heads,
                             new_tokens=new, repeat=repeat)
    finally:
        torch.set_num_threads(before)
    print(format_table(rows, COLUMNS))
    print("tok/s: new tokens / time of the whole generate call (prefill included); ms/token: one decode step "
          "at that context (cached: 1 token against the cache; recompute: a pass over context + 1 tokens)")
    for line in verdicts(rows):
        print(line)
    return 0
