"""Parameter counts, FLOPs per token and memory of decoder-only transformers.

This is the course's *reference* implementation: lessons import it, tests pin
it to published totals, and Exercise 1 asks learners to write their own.

Conventions (the short letters of Exercise 1, local to this module; the
course-wide names, used by :class:`ModelConfig`, are in ``docs/glossary.md``):

* ``h``   model width (``d_model``)
* ``L``   number of layers (``n_layers``)
* ``n_h`` query heads, ``n_kv`` key/value heads (grouped-query attention when
  ``n_kv < n_h``), ``d_h`` head size
* ``ff``  hidden size of one SwiGLU feed-forward network (three matrices)
* ``E``   experts per layer, ``k`` experts active per token
* ``V``   vocabulary size

Per layer: ``h*n_h*d_h + 2*h*n_kv*d_h + n_h*d_h*h`` (Q, K, V, O, no biases)
``+ E*3*h*ff`` (experts) ``+ h*E`` (router, only when ``E > 1``) ``+ 2*h``
(two RMSNorms).  The model adds ``V*h`` (embedding), ``V*h`` (untied output
head) and ``h`` (final norm).  Source: the released Hugging Face configs of
LLaMA-2 and Mixtral; see ``shared/reference/facts.md`` section 1.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict

from .. import hardware as _hardware
from ..validation import positive_int as _positive_int

__all__ = [
    "ModelConfig",
    "LLAMA2_7B",
    "LLAMA2_70B",
    "MIXTRAL_8X7B",
    "PRESETS",
    "parameter_breakdown",
    "total_parameters",
    "active_parameters",
    "matmul_parameters",
    "forward_flops_per_token",
    "training_flops",
    "weight_bytes",
    "kv_cache_bytes",
    "BYTES_PER_PARAM",
]

#: Bytes per stored weight for the precisions the lessons compare (derived from
#: :data:`frontier.hardware.PRECISIONS`, which also has NF4 and GGUF formats with their scales).
BYTES_PER_PARAM: Dict[str, float] = {
    name: _hardware.bytes_per_param(name) for name in ("fp32", "bf16", "fp16", "int8", "int4")}


@dataclass(frozen=True)
class ModelConfig:
    """The numbers of a decoder-only transformer that set its size and cost.

    All sizes are counts (not bytes).  ``head_dim`` defaults to
    ``d_model // n_heads``; ``n_kv_heads`` defaults to ``n_heads`` (plain
    multi-head attention).  ``n_experts == 1`` means a dense feed-forward.
    """

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    vocab_size: int
    n_kv_heads: int | None = None
    head_dim: int | None = None
    n_experts: int = 1
    experts_per_token: int = 1
    tied_embeddings: bool = False
    max_context: int = 4096
    rope_theta: float = 10_000.0

    def __post_init__(self) -> None:
        for field in ("d_model", "n_layers", "n_heads", "d_ff", "vocab_size", "n_experts",
                      "experts_per_token", "max_context"):
            _positive_int(field, getattr(self, field))
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        _positive_int("n_kv_heads", self.n_kv_heads)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.head_dim is None:
            if self.d_model % self.n_heads:
                raise ValueError(f"d_model ({self.d_model}) is not divisible by n_heads "
                                 f"({self.n_heads}); pass head_dim explicitly")
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
        _positive_int("head_dim", self.head_dim)
        if self.experts_per_token > self.n_experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) cannot exceed "
                             f"n_experts ({self.n_experts})")

    @property
    def d_attn(self) -> int:
        """Width of the concatenated query heads, ``n_heads * head_dim``."""
        return self.n_heads * self.head_dim

    @property
    def d_kv(self) -> int:
        """Width of the concatenated key (or value) heads, ``n_kv_heads * head_dim``."""
        return self.n_kv_heads * self.head_dim

    def with_(self, **changes) -> "ModelConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


LLAMA2_7B = ModelConfig("LLaMA-2 7B", d_model=4096, n_layers=32, n_heads=32, d_ff=11008,
                        vocab_size=32000, max_context=4096)
LLAMA2_70B = ModelConfig("LLaMA-2 70B", d_model=8192, n_layers=80, n_heads=64, n_kv_heads=8,
                         d_ff=28672, vocab_size=32000, max_context=4096)
MIXTRAL_8X7B = ModelConfig("Mixtral 8x7B", d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8,
                           d_ff=14336, vocab_size=32000, n_experts=8, experts_per_token=2,
                           max_context=32768, rope_theta=1e6)
PRESETS: Dict[str, ModelConfig] = {c.name: c for c in (LLAMA2_7B, LLAMA2_70B, MIXTRAL_8X7B)}


def parameter_breakdown(cfg: ModelConfig, active: bool = False) -> Dict[str, int]:
    """Parameters by component (counts).

    With ``active=True`` only ``experts_per_token`` experts per layer are
    counted: the parameters one token actually touches.  The router, the
    embedding and the output head count as active.
    """
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
    h, L = cfg.d_model, cfg.n_layers
    experts = cfg.experts_per_token if active else cfg.n_experts
    attention = h * cfg.d_attn + 2 * h * cfg.d_kv + cfg.d_attn * h
    out = {
        "attention": L * attention,
        "ffn": L * experts * 3 * h * cfg.d_ff,
        "router": L * h * cfg.n_experts if cfg.n_experts > 1 else 0,
        "norms": L * 2 * h + h,
        "embedding": cfg.vocab_size * h,
        "lm_head": 0 if cfg.tied_embeddings else cfg.vocab_size * h,
    }
    out["total"] = sum(out.values())
    return out


def total_parameters(cfg: ModelConfig) -> int:
    """All parameters stored (count).  LLaMA-2 70B: 68,976,648,192."""
    return parameter_breakdown(cfg)["total"]


def active_parameters(cfg: ModelConfig) -> int:
    """Parameters used per token (count).  Mixtral 8x7B: 12,879,925,248."""
    return parameter_breakdown(cfg, active=True)["total"]


def matmul_parameters(cfg: ModelConfig) -> int:
    """Active parameters that take part in a matrix product for each token (count).

    The active parameters without the input embedding: looking up a token's
    row is a gather (a memory read), not a multiply.  The output head stays,
    tied or not: it is a real ``(h, V)`` matrix product.  LLaMA-2 7B:
    6,607,343,616; Mixtral 8x7B: 12,748,853,248.
    """
    b = parameter_breakdown(cfg, active=True)
    head = cfg.vocab_size * cfg.d_model if cfg.tied_embeddings else 0
    return b["total"] - b["embedding"] + head


def forward_flops_per_token(cfg: ModelConfig, context: int) -> float:
    """Forward FLOPs for one token at a given context length (FLOPs).

    Kaplan et al. 2020, Table 1: ``2*N + 2*n_layer*n_ctx*d_attn``, with
    ``N`` = :func:`matmul_parameters`: every active weight that multiplies,
    the untied output head included (``2 V h``), the embedding lookup not
    (it is a gather, no FLOPs).  Kaplan's own ``N`` also leaves out the
    embedding parameters.  Mixtral 8x7B at context 1: about 2.55e10; counting
    the lookup as a matmul would add ``2 V h`` = 2.6e8, about 1.0% of that
    (1.9% for LLaMA-2 7B).
    """
    _positive_int("context", context)
    return 2.0 * matmul_parameters(cfg) + 2.0 * cfg.n_layers * context * cfg.d_attn


def training_flops(cfg: ModelConfig, tokens: float) -> float:
    """Training FLOPs for ``tokens`` tokens by the ``6 * N * D`` rule (FLOPs).

    ``N`` is *all* active parameters, embedding included: the convention of
    published ``6ND`` estimates (LLaMA-2 70B on 2T tokens: 8.28e23).  It
    treats the embedding lookup like a matmul, an overcount of ``6 V h D``
    (0.4% for LLaMA-2 70B, 1.9% for LLaMA-2 7B), and leaves out attention's
    ``T``-dependent term; use ``3 * forward_flops_per_token`` for the count
    without the lookup.
    """
    if tokens <= 0:
        raise ValueError(f"tokens must be positive, got {tokens}")
    return 6.0 * active_parameters(cfg) * float(tokens)


def weight_bytes(cfg: ModelConfig, precision: str = "bf16") -> float:
    """Memory to hold every weight (bytes): all experts, active or not."""
    if precision not in BYTES_PER_PARAM:
        raise ValueError(f"precision must be one of {sorted(BYTES_PER_PARAM)}, got {precision!r}")
    return total_parameters(cfg) * BYTES_PER_PARAM[precision]


def kv_cache_bytes(cfg: ModelConfig, context: int, batch: int = 1, bytes_per_element: float = 2.0) -> float:
    """Key/value cache for ``batch`` sequences of ``context`` tokens (bytes).

    ``2 (K and V) * n_layers * n_kv_heads * head_dim * context * batch * bytes``.
    LLaMA-2 70B, one 4,096-token sequence in 16-bit: 1,342,177,280 bytes.
    """
    _positive_int("context", context)
    _positive_int("batch", batch)
    if bytes_per_element <= 0:
        raise ValueError(f"bytes_per_element must be positive, got {bytes_per_element}")
    return 2.0 * cfg.n_layers * cfg.d_kv * context * batch * bytes_per_element
