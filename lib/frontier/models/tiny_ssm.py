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

Shapes: ``B`` batch, ``T`` positions, ``V`` vocabulary, ``d`` d_model,
``E`` d_inner = expand * d, ``N`` d_state.  The recurrent state per layer is
``E * N`` numbers, whatever ``T`` is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..architecture.ssm import selective_scan_autograd, selective_scan_parallel, selective_scan_torch_loop
from ..validation import choice, positive_int
from .tiny_lm import LMOutput

__all__ = ["TinySSMConfig", "TinySSM", "SCANS"]

#: How a block runs its scan: ``"compiled"`` (numba forward and backward, CPU
#: tensors, fastest here), ``"loop"`` (a PyTorch loop over time), or the
#: log-depth ``"blelloch"`` / ``"hillis_steele"`` associative scans (PyTorch;
#: many more operations, which pays off on a GPU, not on a CPU).
SCANS = ("compiled", "loop", "blelloch", "hillis_steele")


@dataclass(frozen=True)
class TinySSMConfig:
    """Sizes of a :class:`TinySSM`; ``dt_rank = 0`` means ``ceil(d_model / 16)``."""

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int = 0
    selective: bool = True
    scan: str = "compiled"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "d_state", "expand", "d_conv"):
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


class _RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


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


class TinySSM(nn.Module):
    """A tiny Mamba-style language model (see the module docstring).

    ``forward(tokens (B, T), mask=None) -> LMOutput`` with ``logits (B, T, V)``
    and a zero ``aux_loss``, the interface :func:`frontier.models.train.train_lm`
    expects.  ``mask`` exists for that interface and must be ``None``: the
    model is causal by construction.  Parameters are initialised from ``seed``.
    """

    def __init__(self, cfg: TinySSMConfig, seed: int = 0):
        super().__init__()
        if not isinstance(cfg, TinySSMConfig):
            raise TypeError(f"cfg must be a TinySSMConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.norms = nn.ModuleList(_RMSNorm(cfg.d_model) for _ in range(cfg.n_layers))
            self.blocks = nn.ModuleList(_MambaBlock(cfg) for _ in range(cfg.n_layers))
            self.norm = _RMSNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None) -> LMOutput:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
            raise ValueError("tokens must be a (batch, T) integer tensor")
        if mask is not None:
            raise ValueError("TinySSM is causal by construction and takes no attention mask")
        x = self.embed(tokens)
        for norm, block in zip(self.norms, self.blocks):
            x = x + block(norm(x))
        logits = self.head(self.norm(x))
        return LMOutput(logits, logits.new_zeros(()))
