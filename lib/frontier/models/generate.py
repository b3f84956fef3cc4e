"""Sampling from any :class:`~frontier.models.protocol.LanguageModel`: greedy, temperature, top-k, top-p.

:func:`generate` decodes a batch of prompts.  With ``use_cache=True`` it
runs the prompt once through the model into a cache and then feeds one token
per step (a KV cache for :class:`~frontier.models.tiny_lm.TinyLM`, so each new
token costs time proportional to the context, not to its square; the
recurrent state for :class:`~frontier.models.tiny_ssm.TinySSM`, a constant
cost).  With ``use_cache=False`` it recomputes the whole prefix at every step:
the same tokens, more work (``python -m frontier.bench generate`` times both).

:func:`sample_next` is one sampling step on a ``(B, V)`` tensor of logits,
for callers that drive the model themselves (speculative decoding).
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple, Union

import torch

from ..validation import nonnegative_float, nonnegative_int, positive_int
from .protocol import LanguageModel

__all__ = ["generate", "sample_next", "filter_logits"]


def _check_model(model) -> None:
    if not isinstance(model, LanguageModel):
        raise TypeError(f"model must implement frontier.models.LanguageModel (forward, embed, new_cache, "
                        f"config, max_seq_len, ...), got {type(model).__name__}")


def check_tokens(name: str, tokens, vocab_size: Optional[int] = None) -> torch.Tensor:
    """``tokens`` if it is a ``(batch, seq)`` integer tensor with ids in ``[0, vocab_size)``, else a clear error."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a (batch, seq) integer torch.Tensor, got {type(tokens).__name__}")
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype {tokens.dtype}")
    if tokens.ndim != 2 or tokens.shape[0] < 1 or tokens.shape[1] < 1:
        raise ValueError(f"{name} must have shape (batch, seq) with batch, seq >= 1, got {tuple(tokens.shape)}")
    if vocab_size is not None and tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(f"{name} holds ids outside [0, {vocab_size}): min {int(tokens.min())}, "
                         f"max {int(tokens.max())}")
    return tokens.long()


def _generator(seed, device: torch.device) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()                                   # fresh entropy
        return gen
    return gen.manual_seed(nonnegative_int("seed", seed))


def _check_sampling(temperature, top_k, top_p) -> Tuple[float, Optional[int], Optional[float]]:
    temperature = nonnegative_float("temperature", temperature)
    if top_k is not None:
        top_k = positive_int("top_k", top_k)
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real):
            raise TypeError(f"top_p must be a number in (0, 1], got {type(top_p).__name__}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
        top_p = float(top_p)
    return temperature, top_k, top_p


def filter_logits(logits: torch.Tensor, top_k: Optional[int] = None, top_p: Optional[float] = None) -> torch.Tensor:
    """Set to ``-inf`` every logit outside the top-k / nucleus (top-p) set; ``(B, V)`` in, ``(B, V)`` out.

    * ``top_k``: keep the ``k`` largest logits per row (all that tie with the
      ``k``-th largest are kept too).
    * ``top_p`` (Holtzman et al. 2020): keep the smallest set of most likely
      tokens whose probabilities (softmax of ``logits``, after top-k) sum to
      at least ``top_p``; the most likely token is always kept.
    """
    _, top_k, top_p = _check_sampling(0.0, top_k, top_p)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs          # mass of the strictly more likely tokens
        drop_sorted = before >= top_p                         # already enough mass without this token
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: Optional[int] = None,
                top_p: Optional[float] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One token per row from ``logits`` ``(B, V)``: returns ``(B,)`` int64.

    ``temperature = 0`` takes the most likely token (ties go to the lowest
    id); otherwise the softmax of ``logits / temperature``, restricted by
    :func:`filter_logits`, is sampled with ``generator``.
    """
    temperature, top_k, top_p = _check_sampling(temperature, top_k, top_p)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError("logits must be a (batch, vocab) tensor")
    if temperature == 0:
        return torch.argmax(logits, dim=-1)                   # first maximum = lowest id
    filtered = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(filtered, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(model: LanguageModel, prompt: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: Optional[int] = None, top_p: Optional[float] = None, stop_token: Optional[int] = None,
             seed: Union[None, int, torch.Generator] = None, use_cache: bool = True,
             return_logprobs: bool = False) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Continue every prompt in the batch by sampling from ``model``.

    Args:
        model: a :class:`~frontier.models.protocol.LanguageModel` (put in eval
            mode for the call, then restored).
        prompt: ``(B, T)`` integer token ids (every row the same length).
        max_new_tokens: tokens to add per row (``>= 0``); ``T +
            max_new_tokens`` must not exceed ``model.max_seq_len``.
        temperature: ``0`` is greedy decoding (ties go to the lowest token
            id); otherwise logits are divided by it before sampling.
        top_k, top_p: restrict sampling to the ``top_k`` most likely tokens
            and/or the nucleus of mass ``top_p`` in ``(0, 1]`` (see :func:`filter_logits`).
        stop_token: once a row emits it, that row keeps emitting it (padding
            with the stop token), and generation ends early when every row
            has emitted it.
        seed: ``None`` (fresh entropy), an int, or a ``torch.Generator``.
        use_cache: decode incrementally with the model's cache, or recompute
            the whole prefix at every step (same result, more work).
        return_logprobs: also return the log-probabilities of the chosen tokens.

    Returns:
        ``tokens`` ``(B, T + n)`` int64, the prompt followed by ``n`` new
        tokens (``n = max_new_tokens`` unless every row stopped earlier), and
        with ``return_logprobs=True`` also ``logprobs`` ``(B, n)`` (float32, float64 for a float64 model):
        ``log p(token)`` under the model's own distribution (temperature 1,
        no top-k/top-p), the quantity speculative decoding and preference
        training use.  Padding after a row's stop token has log-prob ``0``.
    """
    _check_model(model)
    vocab = getattr(model.config, "vocab_size", None)
    prompt = check_tokens("prompt", prompt, vocab)
    max_new_tokens = nonnegative_int("max_new_tokens", max_new_tokens)
    temperature, top_k, top_p = _check_sampling(temperature, top_k, top_p)
    B, T = prompt.shape
    if T + max_new_tokens > model.max_seq_len:
        raise ValueError(f"prompt length {T} + max_new_tokens {max_new_tokens} exceeds the model's "
                         f"max_seq_len {model.max_seq_len}")
    if stop_token is not None:
        stop_token = nonnegative_int("stop_token", stop_token)
        if vocab is not None and stop_token >= vocab:
            raise ValueError(f"stop_token must be a token id below vocab_size {vocab}, got {stop_token}")
    if not isinstance(use_cache, bool):
        raise TypeError(f"use_cache must be True or False, got {type(use_cache).__name__}")
    gen = _generator(seed, prompt.device)

    was_training = model.training if hasattr(model, "training") else False
    if hasattr(model, "eval"):
        model.eval()
    try:
        tokens, logprobs = _decode(model, prompt, max_new_tokens, temperature, top_k, top_p, stop_token,
                                   gen, use_cache)
    finally:
        if was_training:
            model.train()
    return (tokens, logprobs) if return_logprobs else tokens


def _decode(model, prompt, max_new_tokens, temperature, top_k, top_p, stop_token, gen, use_cache):
    B = prompt.shape[0]
    tokens = prompt
    chosen_lp = []
    if max_new_tokens == 0:
        return tokens, torch.zeros(B, 0, device=prompt.device)
    cache = model.new_cache(B) if use_cache else None
    logits = model(prompt, cache=cache).logits[:, -1]
    done = torch.zeros(B, dtype=torch.bool, device=prompt.device)
    for step in range(max_new_tokens):
        nxt = sample_next(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
        lp = torch.log_softmax(logits.double() if logits.dtype == torch.float64 else logits.float(),
                               dim=-1).gather(-1, nxt[:, None])[:, 0]
        if stop_token is not None:
            nxt = torch.where(done, torch.full_like(nxt, stop_token), nxt)
            lp = torch.where(done, torch.zeros_like(lp), lp)
            done = done | (nxt == stop_token)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        chosen_lp.append(lp)
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        if use_cache:
            logits = model(nxt[:, None], cache=cache).logits[:, -1]
        else:
            logits = model(tokens).logits[:, -1]
    return tokens, torch.stack(chosen_lp, dim=1)
