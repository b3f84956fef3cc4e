"""LoRA from scratch (Hu et al. 2021), rsLoRA, adapter merging and composition, prompt and prefix tuning.

A LoRA adapter on a linear layer ``W0`` (``(d_out, d_in)``, frozen) adds a
low-rank update::

    h = W0 x + s * B A x,     A: (r, d_in), B: (d_out, r),  s = alpha / r  (rsLoRA: alpha / sqrt(r))

with ``A`` Kaiming-uniform and ``B = 0`` at the start (so the model is
unchanged until training moves ``B``).  Adapters here live *outside* the
model: :class:`LoRA` holds ``A`` and ``B`` for the chosen layers (named as in
``model.weight_matrices()``, e.g. ``"blocks.0.attn.q"``) and adds ``s B A x``
to each layer's output through a forward hook while attached.  The model's
own weights and state dict never change, so a cached base model stays valid
and :func:`frontier.models.train` with ``params=lora.parameters()`` trains
only the adapters.

* :meth:`LoRA.merged` returns a copy of the model with ``W0 + s B A`` folded in (no extra cost at inference).
* :class:`ComposedLoRA` runs a weighted sum of adapters: ``h = W0 x + sum_i w_i s_i B_i A_i x``.
* :class:`PromptTuning` learns ``n_virtual`` input embeddings prepended to every sequence (Lester et al. 2021);
  :class:`PrefixTuning` learns keys and values for ``n_virtual`` positions in every layer (Li & Liang 2021),
  placed in the :class:`~frontier.models.KVCache` ahead of the tokens.
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..validation import positive_float, positive_int

__all__ = ["DEFAULT_TARGETS", "LoRA", "ComposedLoRA", "lora_scale", "lora_parameter_count", "adam_memory_bytes",
           "PromptTuning", "PrefixTuning", "NearestCentroidRouter", "routed_accuracy", "lora_parameters_for",
           "finetune_memory"]

#: The layers LoRA's paper adapted in its GPT-3 runs: the query and value projections.
DEFAULT_TARGETS = ("attn.q", "attn.v")


def lora_scale(rank: int, alpha: Optional[float] = None, rslora: bool = False) -> float:
    """``alpha / rank`` (LoRA) or ``alpha / sqrt(rank)`` (rsLoRA, Kalajdzievski 2023); ``alpha`` defaults to ``rank``."""
    r = positive_int("rank", rank)
    a = float(r) if alpha is None else positive_float("alpha", alpha)
    return a / math.sqrt(r) if rslora else a / r


def _targets(model: nn.Module, targets) -> List[str]:
    mats = model.weight_matrices()
    linear = [n for n in mats if isinstance(model.get_submodule(n), nn.Linear)]
    if targets is None:
        targets = DEFAULT_TARGETS
    if isinstance(targets, str):
        targets = [targets]
    chosen = []
    for name in linear:
        if name in targets or any(name.endswith("." + t) or name == t for t in targets):
            chosen.append(name)
    if not chosen:
        raise ValueError(f"targets {list(targets)} match no linear layer; names look like {linear[:4]}")
    return chosen


def lora_parameter_count(shapes: Dict[str, Sequence[int]], rank: int) -> int:
    """Adapter parameters for layers of ``(d_out, d_in)`` shapes: ``sum r (d_in + d_out)``."""
    r = positive_int("rank", rank)
    return int(sum(r * (int(s[0]) + int(s[1])) for s in shapes.values()))


def adam_memory_bytes(n_trainable: int, bytes_per_param: float = 4.0) -> float:
    """Memory Adam needs for ``n_trainable`` parameters: the gradient plus two moments, ``3 x n x bytes``."""
    return 3.0 * n_trainable * bytes_per_param


class LoRA(nn.Module):
    """Low-rank adapters for some linear layers of a model (see the module docstring).

    Args:
        model: the base model (a :class:`~frontier.models.TinyLM` or anything
            with ``weight_matrices()`` and ``get_submodule``).  The adapter is
            attached to it at construction (``attach=False`` to not).
        rank: ``r >= 1``.
        targets: layer names or suffixes (``"attn.q"``, ``"ffn.w1"``, ``"head"``); default :data:`DEFAULT_TARGETS`.
        alpha: the scale numerator (default ``rank``, so ``s = 1``).
        rslora: use ``alpha / sqrt(rank)``.
        seed: seeds ``A``'s initialisation.
    """

    def __init__(self, model: nn.Module, rank: int, *, targets=None, alpha: Optional[float] = None,
                 rslora: bool = False, seed: int = 0, attach: bool = True):
        super().__init__()
        self.rank = positive_int("rank", rank)
        self.scale = lora_scale(self.rank, alpha, rslora)
        self.names = _targets(model, targets)
        self.A = nn.ParameterDict()
        self.B = nn.ParameterDict()
        gen = torch.Generator().manual_seed(int(seed))
        for name in self.names:
            lin = model.get_submodule(name)
            d_out, d_in = lin.weight.shape
            a = torch.empty(self.rank, d_in, dtype=lin.weight.dtype)
            bound = math.sqrt(6.0 / ((1 + 5.0) * d_in))          # kaiming_uniform_(a=sqrt(5)), as nn.Linear / peft
            a.uniform_(-bound, bound, generator=gen)
            self.A[self._key(name)] = nn.Parameter(a)
            self.B[self._key(name)] = nn.Parameter(torch.zeros(d_out, self.rank, dtype=lin.weight.dtype))
        self._handles: list = []
        self._model = [model]                                     # not a submodule: keep the base out of parameters()
        if attach:
            self.attach(model)

    @staticmethod
    def _key(name: str) -> str:
        return name.replace(".", "__")

    def delta(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``s B A x`` for layer ``name``: ``(..., d_in)`` -> ``(..., d_out)``."""
        k = self._key(name)
        return self.scale * ((x @ self.A[k].T) @ self.B[k].T)

    def delta_weight(self, name: str) -> torch.Tensor:
        """``s B A``, ``(d_out, d_in)``: the update merging adds to ``W0``."""
        k = self._key(name)
        return self.scale * (self.B[k] @ self.A[k])

    def attach(self, model: nn.Module) -> "LoRA":
        """Register the forward hooks on ``model``'s target layers (detaching first if attached)."""
        self.detach()
        for name in self.names:
            lin = model.get_submodule(name)
            self._handles.append(lin.register_forward_hook(self._hook(name)))
        self._model = [model]
        return self

    def _hook(self, name: str):
        def hook(module, inputs, output):
            return output + self.delta(name, inputs[0])
        return hook

    def detach(self) -> "LoRA":
        """Remove the hooks: the model computes ``W0 x`` again."""
        for h in self._handles:
            h.remove()
        self._handles = []
        return self

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    @contextmanager
    def detached(self) -> Iterator[None]:
        """Run the base model without the adapter inside a ``with`` block."""
        was = self.attached
        self.detach()
        try:
            yield
        finally:
            if was:
                self.attach(self._model[0])

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def merged(self, model: Optional[nn.Module] = None) -> nn.Module:
        """A copy of the base model with ``W0 + s B A`` in every target layer and no hooks."""
        base = self._model[0] if model is None else model
        was = self.attached
        self.detach()
        try:
            out = copy.deepcopy(base)
        finally:
            if was:
                self.attach(self._model[0])
        for name in self.names:
            w = out.get_submodule(name).weight
            w.copy_((w.double() + self.delta_weight(name).double()).to(w.dtype))
        return out.eval()


class ComposedLoRA:
    """A weighted sum of adapters on one model: ``h = W0 x + sum_i w_i s_i B_i A_i x``.

    The adapters must have been built for the same model (any ranks and
    targets).  Attach with :meth:`attach` (each adapter's own hooks are
    removed first); with one adapter at weight 1 it computes exactly what
    that adapter does.
    """

    def __init__(self, adapters: Sequence[LoRA], weights: Optional[Sequence[float]] = None):
        if not adapters or not all(isinstance(a, LoRA) for a in adapters):
            raise TypeError("adapters must be a non-empty list of LoRA objects")
        self.adapters = list(adapters)
        w = np.ones(len(adapters)) if weights is None else np.asarray(weights, dtype=float).ravel()
        if w.size != len(adapters) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be {len(adapters)} finite numbers, got {weights!r}")
        self.weights = [float(x) for x in w]
        self._handles: list = []

    def attach(self, model: nn.Module) -> "ComposedLoRA":
        self.detach()
        for a in self.adapters:
            a.detach()
        names = sorted({n for a in self.adapters for n in a.names})
        for name in names:
            users = [(w, a) for w, a in zip(self.weights, self.adapters) if name in a.names]

            def hook(module, inputs, output, users=users, name=name):
                for w, a in users:
                    output = output + w * a.delta(name, inputs[0])
                return output
            self._handles.append(model.get_submodule(name).register_forward_hook(hook))
        return self

    def detach(self) -> "ComposedLoRA":
        for h in self._handles:
            h.remove()
        self._handles = []
        return self


class PromptTuning(nn.Module):
    """``n_virtual`` trainable input embeddings prepended to every sequence (the model stays frozen).

    ``forward(tokens (B, T)) -> logits (B, T, V)`` for the real positions
    only; ``n_virtual * d_model`` parameters.  Initialised from the
    embeddings of random vocabulary tokens (seeded).
    """

    def __init__(self, model: nn.Module, n_virtual: int, seed: int = 0):
        super().__init__()
        self.n_virtual = positive_int("n_virtual", n_virtual)
        self._model = [model]
        gen = torch.Generator().manual_seed(int(seed))
        idx = torch.randint(0, model.config.vocab_size, (self.n_virtual,), generator=gen)
        self.prompt = nn.Parameter(model.embedding.weight.detach()[idx].clone())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        model = self._model[0]
        emb = model.embed(tokens)
        x = torch.cat([self.prompt.expand(tokens.shape[0], -1, -1), emb], dim=1)
        return model(embeds=x).logits[:, self.n_virtual:]


class PrefixTuning(nn.Module):
    """Trainable keys and values for ``n_virtual`` positions in every layer (Li & Liang 2021).

    ``forward(tokens (B, T)) -> logits (B, T, V)``: the prefixes are put in a
    fresh :class:`~frontier.models.KVCache` and the tokens attend to them
    (positions continue after them).  ``2 * n_layers * n_kv_heads * head_dim *
    n_virtual`` parameters.  (Li & Liang reparameterise the prefix through an
    MLP during training for stability; this keeps the direct form.)
    """

    def __init__(self, model: nn.Module, n_virtual: int, seed: int = 0):
        super().__init__()
        self.n_virtual = positive_int("n_virtual", n_virtual)
        self._model = [model]
        cfg = model.config
        gen = torch.Generator().manual_seed(int(seed))
        shape = (cfg.n_layers, cfg.n_kv_heads, self.n_virtual, cfg.head_dim)
        self.keys = nn.Parameter(0.5 * torch.randn(shape, generator=gen))
        self.values = nn.Parameter(0.5 * torch.randn(shape, generator=gen))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        model = self._model[0]
        B = tokens.shape[0]
        cache = model.new_cache(B)
        for layer in range(model.config.n_layers):
            cache.append(layer, self.keys[layer].expand(B, -1, -1, -1), self.values[layer].expand(B, -1, -1, -1))
        return model(tokens, cache=cache).logits


class NearestCentroidRouter:
    """Pick an adapter per input: the nearest class centroid of the base model's mean final hidden state.

    ``fit(model, tokens_per_task)`` takes one ``(n, T)`` token tensor per
    task (adapter); ``route(model, tokens) -> (B,)`` adapter indices.
    """

    def __init__(self):
        self.centroids: Optional[torch.Tensor] = None

    @staticmethod
    @torch.no_grad()
    def features(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, d_model)``: the mean over positions of the final block's output (normalised)."""
        h = model(tokens, return_hidden=True).hidden[-1]
        return model.norm(h).mean(1)

    def fit(self, model: nn.Module, tokens_per_task: Sequence[torch.Tensor]) -> "NearestCentroidRouter":
        if len(tokens_per_task) < 2:
            raise ValueError("a router needs at least two tasks")
        self.centroids = torch.stack([self.features(model, t).mean(0) for t in tokens_per_task])
        return self

    def route(self, model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        if self.centroids is None:
            raise ValueError("call fit() before route()")
        f = self.features(model, tokens)
        return torch.cdist(f, self.centroids).argmin(-1)


@torch.no_grad()
def routed_accuracy(model: nn.Module, adapters: Sequence[LoRA], router: NearestCentroidRouter,
                    tokens_per_task: Sequence[torch.Tensor]) -> Dict[str, float]:
    """Route every sequence to an adapter and score next-token accuracy with the chosen one.

    ``tokens_per_task[t]`` ``(n_t, T)`` are sequences of task ``t`` (whose
    right adapter is ``adapters[t]``).  Returns ``routing_accuracy`` (share
    sent to the right adapter), ``accuracy`` (next-token accuracy with the
    routed adapters) and ``oracle_accuracy`` (with the right adapter always).
    """
    tokens = torch.cat(list(tokens_per_task))
    truth = torch.cat([torch.full((t.shape[0],), i) for i, t in enumerate(tokens_per_task)])
    route = router.route(model, tokens)
    correct = []                                           # (n_adapters, n) correct predictions per sequence
    for a in adapters:
        a.attach(model)
        try:
            logits = model(tokens).logits[:, :-1]
        finally:
            a.detach()
        correct.append((logits.argmax(-1) == tokens[:, 1:]).double().mean(-1))
    correct = torch.stack(correct)
    n = torch.arange(tokens.shape[0])
    return {"routing_accuracy": float((route == truth).double().mean()),
            "accuracy": float(correct[route, n].mean()), "oracle_accuracy": float(correct[truth, n].mean())}


def lora_parameters_for(cfg, rank: int, targets: Sequence[str] = ("q", "v")) -> int:
    """LoRA parameters for a :class:`frontier.architecture.params.ModelConfig` (dense layers; per layer, per target).

    Targets among ``q, k, v, o`` (attention) and ``w1, w2, w3`` (the SwiGLU
    feed-forward of every expert): ``rank * (d_in + d_out)`` each.
    """
    r = positive_int("rank", rank)
    d, da, dkv, ff = cfg.d_model, cfg.d_attn, cfg.d_kv, cfg.d_ff
    shapes = {"q": (d, da), "k": (d, dkv), "v": (d, dkv), "o": (da, d), "w1": (d, ff), "w3": (d, ff), "w2": (ff, d)}
    per_layer = 0
    for t in targets:
        if t not in shapes:
            raise ValueError(f"targets must be among {list(shapes)}, got {t!r}")
        n = r * sum(shapes[t])
        per_layer += n * (cfg.n_experts if t in ("w1", "w2", "w3") else 1)
    return per_layer * cfg.n_layers


def finetune_memory(cfg, rank: int = 16, targets: Sequence[str] = ("q", "k", "v", "o"), *,
                    base_precision_lora: str = "bf16", base_precision_qlora: str = "nf4-dq") -> Dict[str, Dict[str, float]]:
    """Memory (bytes) to fine-tune ``cfg`` three ways, weights + gradients + Adam states (activations excluded).

    * full fine-tuning, mixed precision: bf16 weights and gradients, fp32 master weights and two fp32 Adam
      moments = 2 + 2 + 4 + 8 = 16 bytes per parameter;
    * LoRA: the frozen base in ``base_precision_lora`` + 16 bytes per adapter parameter;
    * QLoRA: the frozen base in ``base_precision_qlora`` (NF4 with double quantization, 4.127 bits) + the same adapters.

    Returns ``{method: {"trainable", "weights", "optimizer", "total"}}``.
    """
    from .. import hardware
    from ..architecture.params import total_parameters

    n = total_parameters(cfg)
    n_lora = lora_parameters_for(cfg, rank, targets)
    out = {"full": {"trainable": float(n), "weights": 2.0 * n, "optimizer": 14.0 * n}}
    for name, prec in (("lora", base_precision_lora), ("qlora", base_precision_qlora)):
        out[name] = {"trainable": float(n_lora), "weights": n * hardware.bytes_per_param(prec) + 2.0 * n_lora,
                     "optimizer": 14.0 * n_lora}
    for v in out.values():
        v["total"] = v["weights"] + v["optimizer"]
    return out
