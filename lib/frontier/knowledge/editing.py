"""Knowledge editing: the rank-one update of ROME (Meng et al. 2022) on a linear associative memory and on a TinyLM.

A linear associative memory stores key -> value pairs in one matrix W ``(d_v, d_k)``: value = W key.  ROME treats
a transformer's feed-forward output matrix as such a memory (keys: the hidden activations entering it; values:
what it writes into the residual stream).  To make key k* return v* while disturbing other keys as little as
possible, with C = E[k kᵀ] the keys' second-moment (covariance) matrix ``(d_k, d_k)``::

    W' = W + (v* − W k*) (C⁻¹ k*)ᵀ / (k*ᵀ C⁻¹ k*)

Then W' k* = v* exactly, and W' k = W k for every key with k*ᵀ C⁻¹ k = 0.  With C = I (no covariance) the update
spares keys orthogonal to k* instead; when keys are correlated, most real keys are not orthogonal to k*, and the
C⁻¹ version disturbs them less on average (it minimises the expected squared change over the key distribution).

:func:`edit_tinylm_fact` applies the same update to one ``blocks.{i}.ffn.w2`` of a trained reader: the key is the
FFN activation at the last question token (averaged over the given phrasings of the question, as ROME averages
over several contexts); v* is found by a few gradient steps so that the *edited* model emits the new answer after
every given phrasing; C is estimated from FFN activations over many prompts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..validation import nonnegative_float, positive_int

__all__ = ["rank_one_edit", "key_covariance", "LinearMemory", "make_linear_memory", "interference",
           "sequential_edits", "ffn_keys", "ffn_key_covariance", "edit_tinylm_fact", "EditResult"]


def _as2d(name: str, x, shape=None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def rank_one_edit(W: np.ndarray, k_star: np.ndarray, v_star: np.ndarray,
                  C: Optional[np.ndarray] = None) -> np.ndarray:
    """``W (d_v, d_k)`` edited so ``k_star (d_k,)`` maps to ``v_star (d_v,)`` (see the module docstring).

    ``C (d_k, d_k)``: the keys' second-moment matrix (symmetric positive definite); ``None`` uses the identity.
    Returns a new array; ``W`` is not changed.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (d_v, d_k), got shape {W.shape}")
    d_v, d_k = W.shape
    k = _as2d("k_star", k_star, (d_k,))
    v = _as2d("v_star", v_star, (d_v,))
    u = k if C is None else np.linalg.solve(_as2d("C", C, (d_k, d_k)), k)      # C⁻¹ k*
    denom = float(k @ u)
    if not abs(denom) > 1e-12:
        raise ValueError("k_star must be non-zero (k*ᵀ C⁻¹ k* = 0)")
    return W + np.outer(v - W @ k, u) / denom


def key_covariance(keys: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    """``Kᵀ K / N + ridge · I`` for keys ``K (N, d_k)``: the uncentred covariance ROME uses."""
    K = np.asarray(keys, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] == 0:
        raise ValueError(f"keys must be (N, d_k) with N > 0, got shape {K.shape}")
    ridge = nonnegative_float("ridge", ridge)
    return K.T @ K / K.shape[0] + ridge * np.eye(K.shape[1])


@dataclass
class LinearMemory:
    """A linear associative memory W ``(d_v, d_k)`` with the keys it stores ``(n, d_k)``, their values
    ``(n, d_v)``, and the key distribution's covariance ``(d_k, d_k)`` (known here, estimated in a real model)."""
    W: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    covariance: np.ndarray


def make_linear_memory(n_keys: int = 64, d_k: int = 32, d_v: int = 16, *, correlation: float = 0.8,
                       seed: int = 0) -> LinearMemory:
    """Keys drawn from N(0, Σ) with Σ_ij = correlation^|i − j| (correlated features), random values, and W the
    least-squares fit ``V K⁺`` (exact when n_keys <= d_k)."""
    n_keys, d_k, d_v = positive_int("n_keys", n_keys), positive_int("d_k", d_k), positive_int("d_v", d_v)
    if not 0 <= correlation < 1:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    rng = np.random.default_rng(seed)
    idx = np.arange(d_k)
    sigma = correlation ** np.abs(idx[:, None] - idx[None, :])
    keys = rng.multivariate_normal(np.zeros(d_k), sigma, size=n_keys)
    values = rng.normal(size=(n_keys, d_v))
    W = values.T @ np.linalg.pinv(keys.T)
    return LinearMemory(W, keys, values, sigma)


def interference(W_old: np.ndarray, W_new: np.ndarray, keys: np.ndarray) -> float:
    """Mean relative change of the outputs of ``keys (n, d_k)``: mean_i ‖(W_new − W_old) k_i‖ / ‖W_old k_i‖."""
    K = np.asarray(keys, dtype=np.float64)
    old = K @ np.asarray(W_old).T
    diff = K @ (np.asarray(W_new) - np.asarray(W_old)).T
    return float(np.mean(np.linalg.norm(diff, axis=1) / np.maximum(np.linalg.norm(old, axis=1), 1e-12)))


def sequential_edits(memory: LinearMemory, n_edits: int, *, use_covariance: bool = True,
                     seed: int = 0) -> Dict[str, np.ndarray]:
    """Apply ``n_edits`` edits one after another (new random values for the first ``n_edits`` stored keys).

    Returns per step t = 1..n_edits: ``edit_error`` (mean relative error on the keys edited so far: earlier edits
    get overwritten) and ``retained_error`` (mean relative error on the stored keys never edited).
    """
    n_edits = positive_int("n_edits", n_edits)
    if n_edits >= len(memory.keys):
        raise ValueError(f"n_edits must be below the number of stored keys {len(memory.keys)}, got {n_edits}")
    rng = np.random.default_rng(seed)
    W = memory.W.copy()
    C = memory.covariance if use_covariance else None
    targets = rng.normal(size=(n_edits, memory.values.shape[1]))
    keep = memory.keys[n_edits:]
    keep_v = keep @ memory.W.T
    edit_err, kept_err = [], []
    for t in range(n_edits):
        W = rank_one_edit(W, memory.keys[t], targets[t], C)
        done = memory.keys[:t + 1] @ W.T
        edit_err.append(np.mean(np.linalg.norm(done - targets[:t + 1], axis=1) /
                                np.linalg.norm(targets[:t + 1], axis=1)))
        kept_err.append(np.mean(np.linalg.norm(keep @ W.T - keep_v, axis=1) / np.linalg.norm(keep_v, axis=1)))
    return {"step": np.arange(1, n_edits + 1), "edit_error": np.array(edit_err),
            "retained_error": np.array(kept_err)}


# ---------------------------------------------------------------------------------------------- on a TinyLM
def _w2(model, layer: int) -> torch.nn.Linear:
    blocks = getattr(model, "blocks", None)
    if blocks is None or not 0 <= layer < len(blocks) or not hasattr(blocks[layer].ffn, "w2"):
        raise ValueError(f"layer must index a dense FFN block of the model (0..{len(blocks or []) - 1}), got {layer}")
    return blocks[layer].ffn.w2


@torch.no_grad()
def ffn_keys(model, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """The inputs of ``blocks[layer].ffn.w2`` (the keys), ``(B, T, d_ff)``, for ``tokens (B, T)``."""
    store: List[torch.Tensor] = []
    h = _w2(model, layer).register_forward_hook(lambda m, args, out: store.append(args[0].detach()))
    try:
        model(tokens)
    finally:
        h.remove()
    return store[0]


@dataclass
class EditResult:
    """What :func:`edit_tinylm_fact` did: the layer, the key k* ``(d_ff,)`` (mean over the prompts), the target
    output v* ``(d_model,)``, the weight change ``(d_model, d_ff)`` (already added to the model), the per-prompt keys
    ``(n_prompts, d_ff)`` and the final teacher-forced loss of the new answer (nats per token, mean over prompts)."""
    layer: int
    key: np.ndarray
    value: np.ndarray
    delta: np.ndarray
    prompt_keys: Optional[np.ndarray] = None
    loss: float = float("nan")


def _prompt_list(prompt) -> List[torch.Tensor]:
    """One prompt ``(T,)`` or a sequence of prompts ``(T_i,)`` as a list of 1-D int64 tensors."""
    many = isinstance(prompt, (list, tuple)) and len(prompt) > 0 and not isinstance(prompt[0], (int, np.integer))
    out = [torch.as_tensor(p, dtype=torch.int64).reshape(-1) for p in (prompt if many else [prompt])]
    if any(p.numel() == 0 for p in out):
        raise ValueError("prompt must be a non-empty token sequence (or a list of them)")
    return out


def edit_tinylm_fact(model, prompt: Union[torch.Tensor, Sequence[torch.Tensor]], new_answer: torch.Tensor,
                     layer: int, covariance: Optional[np.ndarray] = None, *, steps: int = 100, lr: float = 0.1,
                     seed: int = 0) -> EditResult:
    """Rewrite what ``model`` answers to ``prompt``: edit ``blocks[layer].ffn.w2`` in place (ROME-style).

    ``prompt`` is one prompt ``(T,)`` or a list of prompts ``(T_i,)``, e.g. paraphrases of one question; every one
    should be answered ``new_answer (n,)`` (answer tokens and end token) after the edit.

    1. key k* ``(d_ff,)`` = the mean over the prompts of the w2 input at each prompt's last position;
    2. the edit W' = :func:`rank_one_edit` (W, k*, v*, C) with v* = W k* + δ changes the w2 output of any key k by
       δ · (uᵀk) / (uᵀk*), u = C⁻¹ k* (C = I when ``covariance`` is None).  δ ``(d_model,)`` is found by ``steps``
       Adam steps (learning rate ``lr``) on the mean teacher-forced loss of ``new_answer`` after every prompt,
       with exactly that change applied at every position: the model optimised is the edited model, so each
       prompt's answer flips once the loss is low (with one prompt, its last key is k* and gets δ itself);
    3. W' is written into ``blocks[layer].ffn.w2``.
    """
    w2 = _w2(model, layer)
    prompts = _prompt_list(prompt)
    new_answer = torch.as_tensor(new_answer, dtype=torch.int64).reshape(-1)
    if new_answer.numel() == 0:
        raise ValueError("new_answer must hold at least one token")
    keys = torch.stack([ffn_keys(model, p[None], layer)[0, -1] for p in prompts])      # (n_prompts, d_ff)
    k_star = keys.double().mean(0)
    C = None if covariance is None else _as2d("covariance", covariance, (k_star.numel(),) * 2)
    u = k_star.numpy() if C is None else np.linalg.solve(C, k_star.numpy())            # C⁻¹ k*
    denom = float(u @ k_star.numpy())
    if not abs(denom) > 1e-12:
        raise ValueError("the prompts' mean key is zero (k*ᵀ C⁻¹ k* = 0): edit another layer")
    u_t = torch.from_numpy(u / denom).to(keys.dtype)                                     # uᵀk / uᵀk* = k · u_t
    n = new_answer.numel()
    T_max = max(p.numel() for p in prompts) + n
    seq = torch.zeros((len(prompts), T_max), dtype=torch.int64)                           # right-padded (causal)
    for b, p in enumerate(prompts):
        seq[b, :p.numel() + n] = torch.cat([p, new_answer])
    rows = torch.arange(len(prompts))[:, None]
    pos = torch.tensor([p.numel() - 1 for p in prompts])[:, None] + torch.arange(n)[None]  # (n_prompts, n)
    g = torch.Generator().manual_seed(seed)
    delta = (1e-3 * torch.randn(w2.out_features, generator=g)).requires_grad_(True)

    def edited(module, args, out):                   # the rank-one edit's effect on w2's output, every position
        return out + (args[0] @ u_t)[..., None] * delta

    params = [p for p in model.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    opt = torch.optim.Adam([delta], lr=lr)
    h = w2.register_forward_hook(edited)
    loss = torch.tensor(float("nan"))
    try:
        for _ in range(positive_int("steps", steps)):
            logits = model(seq).logits[rows, pos]                                         # (n_prompts, n, V)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                     new_answer.repeat(len(prompts)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        h.remove()
        for p, f in zip(params, flags):
            p.requires_grad_(f)
    W = w2.weight.detach().double().numpy()
    v_star = W @ k_star.numpy() + delta.detach().double().numpy()
    W_new = rank_one_edit(W, k_star.numpy(), v_star, C)
    with torch.no_grad():
        w2.weight.copy_(torch.from_numpy(W_new).to(w2.weight.dtype))
    return EditResult(layer, k_star.numpy(), v_star, W_new - W, keys.double().numpy(), float(loss.detach()))


@torch.no_grad()
def ffn_key_covariance(model, token_batches: Sequence[torch.Tensor], layer: int, ridge: float = 1e-3) -> np.ndarray:
    """The uncentred covariance ``(d_ff, d_ff)`` of the w2 inputs of ``blocks[layer]`` over every position of
    ``token_batches`` (each ``(B, T)``): the C of :func:`rank_one_edit`, estimated as ROME does from text the
    model reads (plus ``ridge · I`` so it can be inverted)."""
    keys = [ffn_keys(model, t, layer).reshape(-1, _w2(model, layer).in_features) for t in token_batches]
    return key_covariance(torch.cat(keys).double().numpy(), ridge=ridge)
