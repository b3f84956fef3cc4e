"""On-premises deployment: will a model fit the bank's server, and how fast will it answer?

Everything here is arithmetic over :mod:`frontier.hardware` (memory, roofline time bounds) and the model
shapes of :mod:`frontier.architecture.params`:

* :data:`OPEN_MODELS` open-weight model shapes (Hugging Face ``config.json`` values)
* :func:`size_deployment` model, precision, context, concurrent users, device -> memory (weights + KV cache),
  GPUs needed, time to first token, per-token decode time, per-user and total throughput
* :func:`models_that_fit` which open-weight models fit a given server
* :func:`latency` time to first token (prefill, compute-bound) and per-token decode (memory-bound at batch 1)
* :func:`streaming_budget` news items per second x tokens per item against a deployment's throughput
* :func:`measure_tiny_latency` the same two quantities *measured* on a course TinyLM, to check the shape
  (what a tiny CPU model shows, and where it departs from the bounds)

Several GPUs are treated as one device with their memory, bandwidth and FLOP/s added (ideal tensor
parallelism, communication ignored): a lower bound on time, as the roofline bounds are.  Units: bytes,
seconds, tokens per second.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

from ..architecture.params import LLAMA2_7B, LLAMA2_70B, MIXTRAL_8X7B, ModelConfig, active_parameters, total_parameters
from ..hardware import (Accelerator, accelerator, decode_time_bound, kv_cache_bytes_per_token,
                        memory_required, precision as _precision, prefill_time_bound)
from ..validation import fraction, positive_float, positive_int

__all__ = ["OPEN_MODELS", "model_config", "SizingReport", "size_deployment", "models_that_fit", "Latency",
           "latency", "streaming_budget", "measure_tiny_latency", "gang"]

#: Open-weight model shapes (from each model's Hugging Face ``config.json``).
OPEN_MODELS: Dict[str, ModelConfig] = {c.name: c for c in (
    LLAMA2_7B,
    ModelConfig("Mistral 7B", d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, d_ff=14336, vocab_size=32000,
                max_context=32768),
    ModelConfig("Llama 3 8B", d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, d_ff=14336,
                vocab_size=128256, max_context=8192, rope_theta=500_000.0),
    ModelConfig("LLaMA-2 13B", d_model=5120, n_layers=40, n_heads=40, d_ff=13824, vocab_size=32000,
                max_context=4096),
    MIXTRAL_8X7B,
    LLAMA2_70B,
    ModelConfig("Llama 3 70B", d_model=8192, n_layers=80, n_heads=64, n_kv_heads=8, d_ff=28672,
                vocab_size=128256, max_context=8192, rope_theta=500_000.0),
)}


def model_config(model: Union[str, ModelConfig]) -> ModelConfig:
    """The :class:`ModelConfig` called ``model`` (a config passes through); ValueError lists the names."""
    if isinstance(model, ModelConfig):
        return model
    if not isinstance(model, str):
        raise TypeError(f"model must be a model name or a ModelConfig, got {type(model).__name__}")
    if model not in OPEN_MODELS:
        raise ValueError(f"unknown model {model!r}; known models: {list(OPEN_MODELS)}")
    return OPEN_MODELS[model]


def gang(device: Union[str, Accelerator], n: int) -> Accelerator:
    """``n`` copies of ``device`` as one device: memory, bandwidth and peak FLOP/s multiplied by ``n``."""
    acc = accelerator(device)
    n = positive_int("n_gpus", n)
    if n == 1:
        return acc
    return dataclasses.replace(acc, name=f"{n} x {acc.name}", memory_bytes=acc.memory_bytes * n,
                               memory_bandwidth=acc.memory_bandwidth * n,
                               peak_flops={k: v * n for k, v in acc.peak_flops.items()},
                               sm_count=acc.sm_count * n, board_power_w=acc.board_power_w * n)


def _kv_per_token(cfg: ModelConfig, kv_precision: str) -> float:
    return kv_cache_bytes_per_token(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, kv_precision)


def _params_read(cfg: ModelConfig, batch: int) -> float:
    """Weights one decode step reads: every dense weight, and the experts the batch's tokens reach
    (expected share ``1 - (1 - k/E)^batch`` of each layer's experts, routing taken as uniform)."""
    total = float(total_parameters(cfg))
    if cfg.n_experts == 1:
        return total
    experts = float(cfg.n_layers * cfg.n_experts * 3 * cfg.d_model * cfg.d_ff)
    reached = 1.0 - (1.0 - cfg.experts_per_token / cfg.n_experts) ** batch
    return total - experts + experts * reached


@dataclass(frozen=True)
class Latency:
    """Time to first token (``ttft``, s), per-token decode time (``per_token``, s), total time for the
    output (``total``, s) and what bounds each (``"memory"`` or ``"compute"``)."""

    ttft: float
    per_token: float
    total: float
    prefill_binding: str
    decode_binding: str

    @property
    def tokens_per_second(self) -> float:
        """Decode speed seen by one user (tokens/s)."""
        return 1.0 / self.per_token


def latency(model: Union[str, ModelConfig], precision: str = "bf16", device: Union[str, Accelerator] = "H100-SXM", *,
            prompt_tokens: int = 1000, output_tokens: int = 200, batch: int = 1, n_gpus: int = 1,
            kv_precision: str = "bf16") -> Latency:
    """Roofline lower bounds on latency for ``batch`` concurrent requests.

    Time to first token: prefill of ``prompt_tokens`` for the whole batch (FLOPs ``2 N`` per token plus
    Kaplan's attention term ``2 n_layer n_ctx d_attn`` at the average causal context), usually
    compute-bound.  Per-token decode: one step reads every weight plus each sequence's KV cache (at the
    average context of the generation), usually memory-bound at small batch.
    """
    cfg = model_config(model)
    prompt_tokens = positive_int("prompt_tokens", prompt_tokens)
    output_tokens = positive_int("output_tokens", output_tokens)
    batch = positive_int("batch", batch)
    acc = gang(device, n_gpus)
    kvb = _kv_per_token(cfg, kv_precision)
    n_active = float(active_parameters(cfg))
    fpt_prefill = 2.0 * n_active + 2.0 * cfg.n_layers * (prompt_tokens / 2.0) * cfg.d_attn
    pre = prefill_time_bound(n_active, precision, acc, prompt_tokens, batch=batch, kv_bytes_per_token=kvb,
                             flops_per_token=fpt_prefill)
    ctx = prompt_tokens + output_tokens // 2
    fpt_decode = 2.0 * n_active + 2.0 * cfg.n_layers * ctx * cfg.d_attn
    read = _params_read(cfg, batch)
    dec = decode_time_bound(read, precision, acc, batch=batch, context=ctx, kv_bytes_per_token=kvb,
                            flops_per_token=fpt_decode)
    return Latency(pre.seconds, dec.seconds, pre.seconds + output_tokens * dec.seconds, pre.binding, dec.binding)


@dataclass(frozen=True)
class SizingReport:
    """What :func:`size_deployment` found (bytes, seconds, tokens per second)."""

    model: str
    precision: str
    device: str
    context: int
    users: int
    weights_bytes: float
    kv_bytes: float
    total_bytes: float
    device_bytes: float
    gpus_needed: int
    fits_one: bool
    ttft: float
    per_token: float
    user_tokens_per_s: float
    total_tokens_per_s: float

    def as_dict(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


def size_deployment(model: Union[str, ModelConfig], precision: str = "bf16", *, context: int = 4096,
                    users: int = 1, device: Union[str, Accelerator] = "H100-SXM", kv_precision: str = "bf16",
                    margin: float = 0.1, prompt_tokens: Optional[int] = None, output_tokens: int = 200) -> SizingReport:
    """Memory, GPUs and speed to serve ``users`` concurrent users, each with a ``context``-token KV cache.

    ``margin`` of each device's memory is held back (driver, fragmentation).  Speed is for the smallest
    number of devices that holds the model (:func:`latency` with ``batch = users``, prompt
    ``prompt_tokens``, default ``context - output_tokens``).  70B at 4.5 bits/weight (``"q4_0"``): 38.8 GB
    of weights.
    """
    cfg = model_config(model)
    context = positive_int("context", context)
    users = positive_int("users", users)
    fraction("margin", margin)
    acc = accelerator(device)
    mem = memory_required(total_parameters(cfg), precision, n_layers=cfg.n_layers, n_kv_heads=cfg.n_kv_heads,
                          head_dim=cfg.head_dim, context=context, batch=users, kv_precision=kv_precision)
    usable = acc.memory_bytes * (1.0 - margin)
    n = max(1, math.ceil(mem.total / usable - 1e-12))
    out = positive_int("output_tokens", output_tokens)
    prompt = max(1, context - out) if prompt_tokens is None else positive_int("prompt_tokens", prompt_tokens)
    lat = latency(cfg, precision, acc, prompt_tokens=prompt, output_tokens=out, batch=users, n_gpus=n,
                  kv_precision=kv_precision)
    return SizingReport(cfg.name, _precision(precision).name, acc.name, context, users, mem.weights, mem.kv_cache,
                        mem.total, acc.memory_bytes, n, n == 1, lat.ttft, lat.per_token, 1.0 / lat.per_token,
                        users / lat.per_token)


def models_that_fit(device: Union[str, Accelerator] = "A100-80GB", n_gpus: int = 1, *,
                    precisions: Sequence[str] = ("bf16", "int8", "q4_0"), context: int = 4096, users: int = 1,
                    margin: float = 0.1, kv_precision: str = "bf16") -> List[Dict[str, object]]:
    """One row per (open model, precision): memory needed, whether it fits ``n_gpus`` devices, decode speed.

    Rows: ``model``, ``precision``, ``total_gb``, ``fits``, ``user_tokens_per_s`` (None when it does not fit).
    """
    n_gpus = positive_int("n_gpus", n_gpus)
    context = positive_int("context", context)
    users = positive_int("users", users)
    acc = gang(device, n_gpus)
    rows = []
    for name, cfg in OPEN_MODELS.items():
        for p in precisions:
            mem = memory_required(total_parameters(cfg), p, n_layers=cfg.n_layers, n_kv_heads=cfg.n_kv_heads,
                                  head_dim=cfg.head_dim, context=context, batch=users, kv_precision=kv_precision)
            ok = mem.total <= acc.memory_bytes * (1.0 - fraction("margin", margin))
            speed = None
            if ok:
                lat = latency(cfg, p, acc, prompt_tokens=max(1, context // 2), output_tokens=max(1, context // 4),
                              batch=users, kv_precision=kv_precision)
                speed = 1.0 / lat.per_token
            rows.append({"model": name, "precision": p, "weights_gb": mem.weights / 1e9,
                         "total_gb": mem.total / 1e9, "fits": ok, "user_tokens_per_s": speed})
    return rows


def streaming_budget(items_per_second: float, tokens_per_item: int, *, output_tokens_per_item: int = 20,
                     model: Union[str, ModelConfig] = "Mistral 7B", precision: str = "bf16",
                     device: Union[str, Accelerator] = "H100-SXM", n_gpus: int = 1, batch: int = 32,
                     kv_precision: str = "bf16") -> Dict[str, float]:
    """Can a deployment keep up with a news stream?

    Work per second: ``items_per_second`` items, each a prefill of ``tokens_per_item`` tokens and a decode of
    ``output_tokens_per_item`` tokens, processed ``batch`` items at a time.  Capacity: the time for one batch
    from :func:`latency` (prefill of the whole batch + its decode steps).  Returns ``seconds_per_batch``,
    ``items_per_second_capacity``, ``utilisation`` (demand / capacity; above 1 the queue grows without
    bound), ``latency_per_item`` (seconds from the batch's start to its last token) and
    ``input_tokens_per_second`` (demand).
    """
    rate = positive_float("items_per_second", items_per_second)
    tpi = positive_int("tokens_per_item", tokens_per_item)
    out = positive_int("output_tokens_per_item", output_tokens_per_item)
    batch = positive_int("batch", batch)
    lat = latency(model, precision, device, prompt_tokens=tpi, output_tokens=out, batch=batch, n_gpus=n_gpus,
                  kv_precision=kv_precision)
    capacity = batch / lat.total
    return {"seconds_per_batch": lat.total, "items_per_second_capacity": capacity, "utilisation": rate / capacity,
            "latency_per_item": lat.total, "ttft": lat.ttft, "per_token": lat.per_token,
            "input_tokens_per_second": rate * tpi, "keeps_up": float(rate <= capacity)}


def measure_tiny_latency(model, prompt_lengths: Sequence[int] = (16, 64, 256), *, new_tokens: int = 32,
                         repeat: int = 3, seed: int = 0) -> List[Dict[str, float]]:
    """Measure time to first token and per-token decode time of a course model on this machine (seconds).

    For each prompt length: ``ttft`` is the median time of one forward pass over the prompt with a fresh KV
    cache (the prefill, which also yields the first token); ``per_token`` the median time per step of
    ``new_tokens`` single-token steps with the cache.  ``model`` is a :class:`~frontier.models.TinyLM`
    (or any model with ``new_cache``).  ``ttft`` grows with the prompt, as the bound says; for a model this small
    ``per_token`` can grow with the context too (attending over the cache costs as much as reading its few
    weights), and a cached step can cost more than a short prefill (bookkeeping outweighs arithmetic).  Runs
    with one torch thread; tests never assert on these times.
    """
    from ..env import torch_threads

    new_tokens = positive_int("new_tokens", new_tokens)
    repeat = positive_int("repeat", repeat)
    with torch_threads(1):                               # one thread: steadier timings for tiny tensors
        return _measure(model, prompt_lengths, new_tokens, repeat, seed)


def _measure(model, prompt_lengths, new_tokens: int, repeat: int, seed: int) -> List[Dict[str, float]]:
    import torch

    from ..timing import time_callable

    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():                                # warm up: the first calls pay for allocation and set-up
        warm = model.new_cache(1)
        model(torch.zeros((1, 8), dtype=torch.int64), cache=warm)
        model(torch.zeros((1, 1), dtype=torch.int64), cache=warm)
    rows = []
    for T in prompt_lengths:
        T = positive_int("prompt length", T)
        if T + new_tokens > model.max_seq_len:
            raise ValueError(f"prompt length {T} + new_tokens {new_tokens} exceeds max_seq_len {model.max_seq_len}")
        prompt = torch.randint(0, vocab, (1, T), generator=g)
        step_tok = torch.randint(0, vocab, (1, 1), generator=g)

        def prefill():
            with torch.no_grad():
                return model(prompt, cache=model.new_cache(1))

        def decode():
            with torch.no_grad():
                cache = model.new_cache(1)
                model(prompt, cache=cache)
                t0 = _now()
                for _ in range(new_tokens):
                    model(step_tok, cache=cache)
                return (_now() - t0) / new_tokens

        ttft = time_callable(prefill, warmup=1, repeat=repeat).median
        decode()
        per = sorted(decode() for _ in range(repeat))[repeat // 2]
        rows.append({"prompt_tokens": T, "ttft": ttft, "per_token": per})
    return rows


def _now() -> float:
    import time
    return time.perf_counter()
