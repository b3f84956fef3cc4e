"""Support for the hidden tests of Exercise 1 (efficiency analysis).

The hidden tests compare a learner's functions with the library's reference
(:mod:`frontier.architecture.params`) on the published models and on
configurations the learner has not seen.  The exercise describes a model as a
plain dict (see :data:`COURSE_KEYS`); :func:`course_config` turns a reference
:class:`~frontier.architecture.params.ModelConfig` into that dict.
"""
from __future__ import annotations

import random
from typing import Dict, List

from ..architecture.params import ModelConfig

__all__ = ["COURSE_KEYS", "course_config", "unseen_configs", "hf_config"]

#: The keys of the dict that describes a model in Exercise 1.
COURSE_KEYS = ("d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff", "vocab_size",
               "n_experts", "experts_per_token", "tied_embeddings", "max_context")


def course_config(cfg: ModelConfig) -> Dict[str, object]:
    """The Exercise 1 dict for a reference config (every key filled in)."""
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
    return {k: getattr(cfg, k) for k in COURSE_KEYS}


def hf_config(cfg: ModelConfig, drop: tuple = ()) -> Dict[str, object]:
    """A Hugging Face style ``config.json`` excerpt for ``cfg``, leaving out the keys in ``drop``.

    ``head_dim`` is written only when it differs from ``hidden_size // num_attention_heads``
    and the expert keys only for mixture-of-experts models, as Hugging Face does.
    """
    out = {
        "hidden_size": cfg.d_model, "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads, "num_key_value_heads": cfg.n_kv_heads,
        "intermediate_size": cfg.d_ff, "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_context, "tie_word_embeddings": cfg.tied_embeddings,
    }
    if cfg.head_dim * cfg.n_heads != cfg.d_model:
        out["head_dim"] = cfg.head_dim
    if cfg.n_experts > 1:
        out["num_local_experts"] = cfg.n_experts
        out["num_experts_per_tok"] = cfg.experts_per_token
    for key in drop:
        out.pop(key, None)
    return out


def unseen_configs(n: int = 40, seed: int = 0) -> List[ModelConfig]:
    """``n`` random but valid configurations: GQA or not, dense or MoE, tied or not.

    ``head_dim`` is drawn independently of ``d_model``, so ``n_heads * head_dim``
    usually differs from ``d_model`` (a learner who uses ``d_model`` for the
    attention width is caught).
    """
    rng = random.Random(seed)
    out: List[ModelConfig] = []
    for i in range(n):
        n_kv = rng.choice([1, 2, 4, 8])
        n_experts = rng.choice([1, 1, 4, 8, 16])
        out.append(ModelConfig(
            f"unseen-{seed}-{i}", d_model=64 * rng.randint(2, 96), n_layers=rng.randint(1, 64),
            n_heads=n_kv * rng.choice([1, 2, 4, 8]), n_kv_heads=n_kv, head_dim=rng.choice([32, 64, 80, 96, 128]),
            d_ff=rng.randint(128, 30000), vocab_size=rng.randint(1000, 260000), n_experts=n_experts,
            experts_per_token=rng.randint(1, min(n_experts, 4)), tied_embeddings=rng.random() < 0.3,
            max_context=rng.choice([2048, 4096, 8192, 32768, 131072])))
    return out
