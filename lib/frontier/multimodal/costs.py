"""What visual tokens cost the language model that reads them: KV-cache memory and prefill time.

Once an image is a sequence of visual tokens, the decoder pays for them like
any other prompt tokens: each adds ``2 * n_layers * n_kv_heads * head_dim``
elements to the KV cache, and the prefill does ``forward_flops_per_token``
work per token (section 1's :mod:`frontier.architecture.params`, Kaplan et
al.'s count with the attention term averaged over a causal prefix).  The time
is the roofline lower bound of :func:`frontier.hardware.prefill_time_bound`.
"""
from __future__ import annotations

from typing import Dict, Union

from .. import hardware
from ..architecture.params import ModelConfig, forward_flops_per_token, kv_cache_bytes, matmul_parameters
from ..validation import nonnegative_int

__all__ = ["prompt_cost"]


def prompt_cost(cfg: ModelConfig, text_tokens: int, visual_tokens: int = 0, *,
                accelerator: Union[str, hardware.Accelerator] = "A100-80GB",
                precision: str = "bf16") -> Dict[str, float]:
    """KV cache (bytes) and a prefill time bound (seconds) for one prompt of ``text_tokens + visual_tokens`` tokens.

    Returns ``{"tokens", "visual_share", "kv_bytes", "prefill_flops", "prefill_seconds", "binding"}``:
    ``visual_share`` is the fraction of tokens (and so of KV memory) that the
    image takes; the prefill FLOPs sum ``forward_flops_per_token`` over
    positions ``1..T`` (each token attends to the ones before it).
    """
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a frontier.architecture.params.ModelConfig, got {type(cfg).__name__}")
    text_tokens = nonnegative_int("text_tokens", text_tokens)
    visual_tokens = nonnegative_int("visual_tokens", visual_tokens)
    T = text_tokens + visual_tokens
    if T == 0:
        raise ValueError("the prompt needs at least one token (text_tokens + visual_tokens > 0)")
    # sum over t = 1..T of 2N + 2 L t d_attn, written in closed form
    flops = T * forward_flops_per_token(cfg, 1) + cfg.n_layers * cfg.d_attn * (T * (T + 1) - 2 * T)
    kv_per_token = hardware.kv_cache_bytes_per_token(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, precision)
    bound = hardware.prefill_time_bound(matmul_parameters(cfg), precision, accelerator, T,
                                        kv_bytes_per_token=kv_per_token, flops_per_token=flops / T)
    return {"tokens": T, "visual_share": visual_tokens / T, "kv_bytes": kv_cache_bytes(cfg, T),
            "prefill_flops": flops, "prefill_seconds": bound.seconds, "binding": bound.binding}
