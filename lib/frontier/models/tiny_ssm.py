"""A tiny Mamba-style language model, the state-space counterpart of :class:`~frontier.models.tiny_lm.TinyLM`.

Each block (pre-norm, residual) follows mamba-minimal: ``in_proj`` splits
into ``x`` and a gate ``z``; a causal depthwise convolution and SiLU act on
``x``; ``x_proj`` reads ``delta`` (through a rank-``dt_rank`` bottleneck and
``dt_proj``), ``B`` and ``C`` off ``x``; the selective scan
(``cfg.scan``, see :data:`SCANS`) mixes along time; ``out_proj`` maps back.  There is no
feed-forward network and no positional encoding: the convolution and the scan
carry position.

``selective=False`` makes ``delta``, ``B`` and ``C`` learned constants
instead of functions of the input: a linear time-invariant (LTI) SSM, like S4.

It implements :class:`~frontier.models.protocol.LanguageModel`.  With a
:class:`~frontier.models.protocol.RecurrentCache` (:meth:`TinySSM.new_cache`)
``forward`` steps the recurrence one token at a time from the cached state
(convolution window and scan state), so each new token costs the same
whatever the context.  It has no attention, so ``mask`` and ``positions``
are refused.

Shapes: ``B`` batch, ``T`` positions, ``V`` vocabulary, ``d`` d_model,
``E`` d_inner = expand * d, ``N`` d_state.  The recurrent state per layer is
``E * N`` numbers, whatever ``T`` is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import choice, positive_int
from .layers import RMSNorm, selective_scan_autograd, selective_scan_parallel, selective_scan_torch_loop
from .protocol import ModelOutput, RecurrentCache, TokenModelBase

__all__ = ["TinySSMConfig", "TinySSM", "SCANS"]

#: How a block runs its scan: ``"compiled"`` (numba forward and backward, CPU
#: tensors, fastest here), ``"loop"`` (a PyTorch loop over time), or the
#: log-depth ``"blelloch"`` / ``"hillis_steele"`` associative scans (PyTorch;
#: many more operations, which pays off on a GPU, not on a CPU).
SCANS = ("compiled", "loop", "blelloch", "hillis_steele")


@dataclass(frozen=True)
class TinySSMConfig:
    """Sizes of a :class:`TinySSM`; ``dt_rank = 0`` means ``ceil(d_model / 16)``.

    ``max_seq_len`` is the context :func:`frontier.models.generate` allows; the
    recurrence itself has no limit.
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int = 0
    selective: bool = True
    scan: str = "compiled"
    max_seq_len: int = 512

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "d_state", "expand", "d_conv", "max_seq_len"):
            positive_int(name, getattr(self, name))
        if self.dt_rank < 0:
            raise ValueError(f"dt_rank must be >= 0, got {self.dt_rank}")
        choice("scan", self.scan, SCANS)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank or math.ceil(self.d_model / 16)

    @property
    def state_numbers(self) -> int:
        """Numbers in the recurrent state of one layer (``d_inner * d_state``)."""
        return self.d_inner * self.d_state


class _MambaBlock(nn.Module):
    def __init__(self, cfg: TinySSMConfig):
        super().__init__()
        E, N, R = cfg.d_inner, cfg.d_state, cfg.rank
        self.cfg = cfg
        self.in_proj = nn.Linear(cfg.d_model, 2 * E, bias=False)
        self.conv = nn.Conv1d(E, E, cfg.d_conv, groups=E, padding=cfg.d_conv - 1)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))
        self.D = nn.Parameter(torch.ones(E))
        # delta = softplus(dt_proj(.) + bias), the bias set so that delta starts in [0.001, 0.1]
        dt = torch.exp(torch.rand(E) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))       # inverse softplus
        if cfg.selective:
            self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
            self.dt_proj = nn.Linear(R, E, bias=False)
        else:
            self.B = nn.Parameter(torch.randn(E, N) / math.sqrt(N))
            self.C = nn.Parameter(torch.randn(E, N) / math.sqrt(N))
        self.out_proj = nn.Linear(E, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Bsz, T, _ = x.shape
        E, N = self.cfg.d_inner, self.cfg.d_state
        u, z = self.in_proj(x).chunk(2, dim=-1)                                   # (B, T, E) each
        u = F.silu(self.conv(u.transpose(1, 2))[..., :T])                         # (B, E, T), causal
        if self.cfg.selective:
            dbc = self.x_proj(u.transpose(1, 2))                                  # (B, T, R + 2N)
            dt_low, Bm, Cm = dbc.split([self.cfg.rank, N, N], dim=-1)
            delta = self.dt_proj(dt_low).transpose(1, 2)                          # (B, E, T)
            Bm, Cm = Bm.transpose(1, 2), Cm.transpose(1, 2)                       # (B, N, T)
        else:
            delta = u.new_zeros(Bsz, E, T)
            # per-channel constants: one group per channel, broadcast over batch and time
            Bm = self.B[None, :, :, None].expand(Bsz, E, N, T)
            Cm = self.C[None, :, :, None].expand(Bsz, E, N, T)
        args = (u, delta, -torch.exp(self.A_log), Bm, Cm)
        kw = dict(D=self.D, z=z.transpose(1, 2), delta_bias=self.dt_bias, delta_softplus=True)
        if self.cfg.scan == "compiled" and u.device.type == "cpu":
            y = selective_scan_autograd(*args, **kw)
        elif self.cfg.scan in ("loop", "compiled"):
            y = selective_scan_torch_loop(*args, **kw)
        else:
            y = selective_scan_parallel(*args, **kw, method=self.cfg.scan)
        return self.out_proj(y.transpose(1, 2))

    def step(self, x: torch.Tensor, cache: RecurrentCache, layer: int) -> torch.Tensor:
        """One token ``x`` ``(B, d_model)`` through the block, updating ``cache`` (layer ``layer``) in place.

        The recurrence of :func:`~frontier.models.layers.selective_scan_torch_loop`
        for a single time step, started from the cached state.
        """
        N = self.cfg.d_state
        u, z = self.in_proj(x).chunk(2, dim=-1)                                   # (B, E) each
        window = torch.cat([cache.conv[layer], u[:, :, None]], dim=-1)            # (B, E, d_conv)
        cache.conv[layer] = window[:, :, 1:]
        u = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)    # (B, E)
        if self.cfg.selective:
            dt_low, Bm, Cm = self.x_proj(u).split([self.cfg.rank, N, N], dim=-1)  # Bm, Cm (B, N)
            delta = self.dt_proj(dt_low)                                          # (B, E)
            Bm, Cm = Bm[:, None, :], Cm[:, None, :]                               # (B, 1, N)
        else:
            delta = torch.zeros_like(u)
            Bm, Cm = self.B[None], self.C[None]                                   # (1, E, N)
        delta = F.softplus(delta + self.dt_bias)
        h = torch.exp(delta[..., None] * -torch.exp(self.A_log)) * cache.ssm[layer] \
            + (delta * u)[..., None] * Bm                                         # (B, E, N)
        cache.ssm[layer] = h
        y = ((h * Cm).sum(-1) + self.D * u) * F.silu(z)
        return self.out_proj(y)


class TinySSM(TokenModelBase, nn.Module):
    """A tiny Mamba-style language model (see the module docstring); a :class:`~frontier.models.LanguageModel`.

    ``forward(tokens=None, *, embeds=None, cache=None, positions=None,
    mask=None, return_hidden=False) -> ModelOutput`` with ``logits (B, T, V)``
    and a zero ``aux_loss``.  ``mask`` and ``positions`` exist for the
    protocol and must be ``None``: the model is causal by construction and
    has no positional encoding.  With a ``cache`` the tokens are run one step
    at a time from the cached state (and the cache is advanced); without one,
    the whole sequence goes through the scan ``cfg.scan``.  Parameters are
    initialised from ``seed``.
    """

    def __init__(self, cfg: TinySSMConfig, seed: int = 0):
        super().__init__()
        if not isinstance(cfg, TinySSMConfig):
            raise TypeError(f"cfg must be a TinySSMConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.norms = nn.ModuleList(RMSNorm(cfg.d_model) for _ in range(cfg.n_layers))
            self.blocks = nn.ModuleList(_MambaBlock(cfg) for _ in range(cfg.n_layers))
            self.norm = RMSNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)


    def new_cache(self, batch_size: int, max_history: int = 64) -> RecurrentCache:
        """An empty :class:`~frontier.models.protocol.RecurrentCache` (zero state) for ``batch_size`` sequences.

        ``max_history``: how many earlier lengths it can :meth:`~RecurrentCache.truncate` back to.
        """
        p = self.head.weight
        return RecurrentCache(self.cfg.n_layers, batch_size, self.cfg.d_inner, self.cfg.d_conv, self.cfg.d_state,
                              max_history=max_history, dtype=p.dtype, device=p.device)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def weight_matrices(self) -> Dict[str, nn.Parameter]:
        """Every weight matrix by module path: ``embedding``, ``blocks.{i}.{in_proj,x_proj,dt_proj,out_proj}``
        (``blocks.{i}.B``/``.C`` ``(d_inner, d_state)`` for an LTI model instead of ``x_proj``/``dt_proj``),
        and ``head``; ``nn.Linear`` weights are ``(out_features, in_features)``.
        """
        out = {name: module.weight for name, module in self.named_modules()
               if isinstance(module, (nn.Linear, nn.Embedding))}
        if not self.cfg.selective:
            for i, block in enumerate(self.blocks):
                out[f"blocks.{i}.B"], out[f"blocks.{i}.C"] = block.B, block.C
        return out

    def forward(self, tokens: Optional[torch.Tensor] = None, *, embeds: Optional[torch.Tensor] = None,
                cache: Optional[RecurrentCache] = None, positions=None, mask: Optional[torch.Tensor] = None,
                return_hidden: bool = False) -> ModelOutput:
        if mask is not None:
            raise ValueError("TinySSM is causal by construction and takes no attention mask")
        if positions is not None:
            raise ValueError("TinySSM has no positional encoding and takes no positions")
        if (tokens is None) == (embeds is None):
            raise ValueError("pass exactly one of tokens (batch, T) and embeds (batch, T, d_model)")
        if tokens is not None:
            if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
                raise ValueError("tokens must be a (batch, T) integer tensor")
            if tokens.is_floating_point() or tokens.dtype == torch.bool:
                raise TypeError(f"tokens must be an integer tensor, got {tokens.dtype}")
            x = self.embedding(tokens)
        else:
            if not isinstance(embeds, torch.Tensor) or embeds.ndim != 3 or embeds.shape[-1] != self.cfg.d_model:
                raise ValueError(f"embeds must be a (batch, T, {self.cfg.d_model}) float tensor")
            x = embeds
        hidden: Optional[List[torch.Tensor]] = [x] if return_hidden else None
        if cache is None:
            for norm, block in zip(self.norms, self.blocks):
                x = x + block(norm(x))
                if hidden is not None:
                    hidden.append(x)
        else:
            x = self._steps(x, cache, hidden)
        logits = self.head(self.norm(x))
        return ModelOutput(logits, logits.new_zeros(()), hidden=hidden, cache=cache)

    def _steps(self, x: torch.Tensor, cache: RecurrentCache, hidden: Optional[List[torch.Tensor]]) -> torch.Tensor:
        """Run ``x`` ``(B, T, d_model)`` one token at a time from ``cache``'s state; returns ``(B, T, d_model)``."""
        if not isinstance(cache, RecurrentCache):
            raise TypeError(f"cache must be a RecurrentCache (from new_cache), got {type(cache).__name__}")
        B, T, _ = x.shape
        if cache.n_layers != self.cfg.n_layers or cache.batch_size != B:
            raise ValueError(f"cache was made for {cache.n_layers} layers and batch {cache.batch_size}, "
                             f"the model has {self.cfg.n_layers} layers and the batch is {B}")
        outs, per_layer = [], [[] for _ in self.blocks]
        for t in range(T):
            h = x[:, t]
            for i, (norm, block) in enumerate(zip(self.norms, self.blocks)):
                h = h + block.step(norm(h), cache, i)
                per_layer[i].append(h)
            outs.append(h)
            cache.length += 1
            cache.advanced()
        if hidden is not None:
            hidden.extend(torch.stack(hs, dim=1) for hs in per_layer)
        return torch.stack(outs, dim=1)
