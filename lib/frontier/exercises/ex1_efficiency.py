"""Exercise 1 (efficiency analysis of a dense and a mixture-of-experts model): cases and expected values.

The exercise describes a model as a plain dict (:data:`COURSE_KEYS`); :func:`course_config` turns the library's
:class:`~frontier.architecture.params.ModelConfig` into that dict and :func:`hf_config` into the Hugging Face
``config.json`` excerpt that Part A converts. :func:`unseen_configs` draws valid configurations the student has not
seen. :func:`frozen_values` computes, with :mod:`frontier.architecture.params`, every expected value the hidden
tests compare with; ``python -m frontier.grading freeze`` writes them into the hidden cells, so the graded
notebook never calls the library for an answer.

Parts C and D are tested on *reference inputs*: each frozen case carries the reference total and active counts,
and :func:`reference_counts` swaps them in for the student's Part B functions while Parts C and D are tested, so a
slip in Part B costs Part B's points only.
"""
from __future__ import annotations

import contextlib
import random
from typing import Dict, Iterator, List, MutableMapping, Sequence

from ..architecture import params as _params
from ..architecture.params import ModelConfig

__all__ = ["COURSE_KEYS", "LIBRARY_FORBIDDEN", "MAY_CALL", "MUST_WRITE", "course_config", "hf_config",
           "unseen_configs", "config_key", "frozen_values", "reference_counts"]

#: The keys of the dict that describes a model in Exercise 1.
COURSE_KEYS = ("d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim", "d_ff", "vocab_size",
               "n_experts", "experts_per_token", "tied_embeddings", "max_context")

#: Modules whose functions raise while a graded function of Exercise 1 runs (see :mod:`frontier.exercises.guard`).
LIBRARY_FORBIDDEN = ("frontier.architecture.params", "frontier.architecture.costs", "frontier.exercises.ex1_efficiency")
#: What the notebook tells students they may call (plotting, checks, the standard library, numpy).
MAY_CALL = ("frontier.checks", "frontier.viz", "math", "numpy")
#: What students must write themselves (the graded functions).
MUST_WRITE = ("config_from_hf", "attention_params_per_layer", "ffn_params_per_layer", "total_parameters",
              "active_parameters", "forward_flops_per_token", "training_flops", "weight_bytes", "kv_cache_bytes",
              "max_batch")


def course_config(cfg: ModelConfig) -> Dict[str, object]:
    """The Exercise 1 dict for a reference config (every key filled in)."""
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
    return {k: getattr(cfg, k) for k in COURSE_KEYS}


def config_key(cfg: Dict[str, object]) -> tuple:
    """A hashable key for an Exercise 1 dict (its values in :data:`COURSE_KEYS` order)."""
    if not isinstance(cfg, dict):
        raise TypeError(f"cfg must be a dict, got {type(cfg).__name__}")
    missing = [k for k in COURSE_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"cfg is missing keys {missing}")
    return tuple(cfg[k] for k in COURSE_KEYS)


def hf_config(cfg: ModelConfig, drop: Sequence[str] = ()) -> Dict[str, object]:
    """A Hugging Face style ``config.json`` excerpt for ``cfg``, leaving out the keys in ``drop``.

    ``head_dim`` is written only when it differs from ``hidden_size // num_attention_heads``
    and the expert keys only for mixture-of-experts models, as Hugging Face does.
    """
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
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
    from ..validation import positive_int

    positive_int("n", n)
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


def _max_batch(cfg: ModelConfig, context: int, precision: str, memory_bytes: float) -> int:
    """The most sequences of ``context`` tokens whose KV cache fits beside the weights (0 if none)."""
    free = memory_bytes - _params.weight_bytes(cfg, precision)
    per_sequence = _params.kv_cache_bytes(cfg, context, 1)
    return max(0, int(free // per_sequence))


def frozen_values() -> Dict[str, object]:
    """Every expected value of Exercise 1's hidden tests, computed with :mod:`frontier.architecture.params`.

    Keys are the variable names the hidden cells use (``python -m frontier.grading freeze`` writes each into the
    cells that name it); values are plain Python literals (dicts, lists, ints, floats, strings).
    """
    published = (_params.LLAMA2_70B, _params.MIXTRAL_8X7B, _params.LLAMA2_7B)
    out: Dict[str, object] = {}
    out["_HF_CASES"] = [[hf_config(m), course_config(m)]
                        for m in (_params.LLAMA2_70B, _params.LLAMA2_7B, *unseen_configs(8, seed=11))]
    out["_HF_DEFAULTS"] = [hf_config(_params.LLAMA2_7B, drop=("num_key_value_heads", "tie_word_embeddings")),
                           course_config(_params.LLAMA2_7B)]
    out["_ATTENTION_CASES"] = [[course_config(m), _params.parameter_breakdown(m)["attention"] // m.n_layers]
                               for m in (*published, *unseen_configs(12, seed=1))]
    ffn = []
    for m in (*published[:2], *unseen_configs(12, seed=2)):
        per = [(lambda br: (br["ffn"] + br["router"]) // m.n_layers)(_params.parameter_breakdown(m, active=a))
               for a in (False, True)]
        ffn.append([course_config(m), per[0], per[1]])
    out["_FFN_CASES"] = ffn
    out["_PUBLISHED_TOTALS"] = {m.name: [course_config(m), _params.total_parameters(m), _params.active_parameters(m)]
                                for m in published}
    out["_UNSEEN_TOTALS"] = [[course_config(m), _params.total_parameters(m), _params.active_parameters(m)]
                             for m in unseen_configs(12, seed=3)]
    rng = random.Random(4)
    flops = [[_params.LLAMA2_70B, 4096, 2e12], [_params.MIXTRAL_8X7B, 32768, 1e12], [_params.MIXTRAL_8X7B, 1, 1.0]]
    flops += [[m, rng.randint(1, m.max_context), rng.choice([1e9, 3e11, 1.4e12])] for m in unseen_configs(10, seed=4)]
    out["_FLOPS_CASES"] = [[course_config(m), ctx, tokens, _params.total_parameters(m), _params.active_parameters(m),
                            _params.forward_flops_per_token(m, ctx), _params.training_flops(m, tokens)]
                           for m, ctx, tokens in flops]
    rng = random.Random(5)
    memory = []
    for m in (_params.LLAMA2_70B, _params.MIXTRAL_8X7B, *unseen_configs(10, seed=5)):
        ctx, batch, bpe = rng.randint(1, m.max_context), rng.choice([1, 4, 32]), rng.choice([1, 2])
        memory.append([course_config(m), _params.total_parameters(m), _params.active_parameters(m),
                       {p: _params.weight_bytes(m, p) for p in ("bf16", "int8", "int4")},
                       ctx, batch, bpe, _params.kv_cache_bytes(m, ctx, batch, bpe)])
    out["_MEMORY_CASES"] = memory
    rng = random.Random(6)
    fits = []
    for m in (_params.MIXTRAL_8X7B, _params.LLAMA2_70B, *unseen_configs(8, seed=6)):
        precision = rng.choice(["bf16", "int8", "int4"])
        ctx = rng.choice([1024, 4096, m.max_context])
        memory_gb = rng.choice([24.0, 80.0, 141.0, 2 * 80.0, 8 * 80.0])
        fits.append([course_config(m), _params.total_parameters(m), _params.active_parameters(m), precision, ctx,
                     memory_gb, _max_batch(m, ctx, precision, memory_gb * 1e9)])
    out["_MAX_BATCH_CASES"] = fits
    return out


@contextlib.contextmanager
def reference_counts(namespace: MutableMapping[str, object], cases: Sequence[Sequence]) -> Iterator[None]:
    """Within the block, ``total_parameters`` and ``active_parameters`` in ``namespace`` return reference counts.

    ``cases`` are frozen rows ``[cfg, total, active, ...]``; a config not among them raises ``KeyError`` naming
    it. Used by the hidden tests of Parts C and D, so they test those parts on reference inputs. Enter it
    *before* :func:`~frontier.exercises.guard.no_delegation` (which switches this module's functions off).
    """
    table = {config_key(row[0]): (int(row[1]), int(row[2])) for row in cases}
    keys = COURSE_KEYS

    def _lookup(cfg, which):
        # no module-level helper here: the delegation guard switches those off while the student's code runs
        key = tuple(cfg[k] for k in keys)
        if key not in table:
            raise KeyError(f"no reference count for {cfg}")
        return table[key][which]

    saved = {name: namespace.get(name) for name in ("total_parameters", "active_parameters")}
    namespace["total_parameters"] = lambda cfg: _lookup(cfg, 0)
    namespace["active_parameters"] = lambda cfg: _lookup(cfg, 1)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                namespace.pop(name, None)
            else:
                namespace[name] = value


# -- students who game the exercise (python -m frontier.grading rehearse) -----------------------------------------
_MC = 'params.ModelConfig("mine", **cfg)'


def gaming_students() -> Dict[str, Dict[str, object]]:
    """Fake students who try to pass without doing the work, with the autograded score a TA would give them.

    ``{kind: {"answers": {grade_id: answer source}, "auto_score": points, "ta": why}}``; answer cells not listed
    keep the instructor's solution. :mod:`frontier.grading.rehearsal` submits them and checks the scores.
    """
    published = {(m.d_model, m.n_layers, m.n_experts, m.n_kv_heads): m for m in (_params.LLAMA2_70B, _params.MIXTRAL_8X7B, _params.LLAMA2_7B)}

    def table(fn) -> str:
        return repr({k: fn(m) for k, m in published.items()})

    delegates = {
        "ex1-attention": f"""def attention_params_per_layer(cfg: dict) -> int:
    from frontier.architecture import params
    mc = {_MC}
    return params.parameter_breakdown(mc)["attention"] // mc.n_layers""",
        "ex1-ffn": f"""def ffn_params_per_layer(cfg: dict, active: bool = False) -> int:
    from frontier.architecture import params
    mc = {_MC}
    br = params.parameter_breakdown(mc, active=active)
    return (br["ffn"] + br["router"]) // mc.n_layers""",
        "ex1-totals": f"""from frontier.architecture import params


def total_parameters(cfg: dict) -> int:
    return params.total_parameters({_MC})


def active_parameters(cfg: dict) -> int:
    return params.active_parameters({_MC})""",
        "ex1-flops": f"""from frontier.architecture.params import ModelConfig, forward_flops_per_token as _fwd, training_flops as _train


def forward_flops_per_token(cfg: dict, context: int) -> float:
    return _fwd(ModelConfig("mine", **cfg), context)


def training_flops(cfg: dict, tokens: float) -> float:
    return _train(ModelConfig("mine", **cfg), tokens)""",
        "ex1-memory": f"""import frontier.architecture.params as params
BYTES_PER_PARAM = dict(params.BYTES_PER_PARAM)


def weight_bytes(cfg: dict, precision: str = "bf16") -> float:
    return params.weight_bytes({_MC}, precision)


def kv_cache_bytes(cfg: dict, context: int, batch: int = 1, bytes_per_element: float = 2.0) -> float:
    return params.kv_cache_bytes({_MC}, context, batch, bytes_per_element)""",
        "ex1-max-batch": f"""def max_batch(cfg: dict, context: int, precision: str = "bf16", memory_gb: float = 80.0) -> int:
    from frontier.architecture import params
    mc = {_MC}
    free = memory_gb * 1e9 - params.weight_bytes(mc, precision)
    return max(0, int(free // params.kv_cache_bytes(mc, context)))""",
    }
    hardcodes = {
        "ex1-attention": f"""def attention_params_per_layer(cfg: dict) -> int:
    return {table(lambda m: _params.parameter_breakdown(m)["attention"] // m.n_layers)}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0)""",
        "ex1-ffn": f"""def ffn_params_per_layer(cfg: dict, active: bool = False) -> int:
    per_layer = {table(lambda m: [(lambda b: (b["ffn"] + b["router"]) // m.n_layers)(_params.parameter_breakdown(m, active=a)) for a in (False, True)])}
    return per_layer.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), [0, 0])[int(active)]""",
        "ex1-totals": f"""def total_parameters(cfg: dict) -> int:
    return {table(_params.total_parameters)}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0)


def active_parameters(cfg: dict) -> int:
    return {table(_params.active_parameters)}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0)""",
        "ex1-flops": f"""def forward_flops_per_token(cfg: dict, context: int) -> float:
    return {table(lambda m: _params.forward_flops_per_token(m, 4096))}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0.0)


def training_flops(cfg: dict, tokens: float) -> float:
    return 6.0 * {table(_params.active_parameters)}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0) * 1e12""",
        "ex1-memory": f"""BYTES_PER_PARAM = {{"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}}


def weight_bytes(cfg: dict, precision: str = "bf16") -> float:
    return {table(lambda m: _params.weight_bytes(m, "bf16"))}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0.0) * BYTES_PER_PARAM[precision] / 2


def kv_cache_bytes(cfg: dict, context: int, batch: int = 1, bytes_per_element: float = 2.0) -> float:
    return {table(lambda m: _params.kv_cache_bytes(m, 4096))}.get((cfg["d_model"], cfg["n_layers"], cfg["n_experts"], cfg["n_kv_heads"]), 0.0)""",
        "ex1-max-batch": """def max_batch(cfg: dict, context: int, precision: str = "bf16", memory_gb: float = 80.0) -> int:
    return 1""",
    }
    return {
        "delegates": {"answers": delegates, "auto_score": 2.0,
                      "ta": "Part A only (2 points): every function of Parts B-D calls the course's parameter "
                            "counter instead of counting"},
        "hardcodes": {"answers": hardcodes, "auto_score": 2.0,
                      "ta": "Part A only (2 points): Parts B-D look up the published models' numbers, which is no "
                            "counter at all"},
    }
