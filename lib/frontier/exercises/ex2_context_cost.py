"""Exercise 2 (the cost of context: an 80,000-token filing read whole, by retrieval, or by map-reduce).

Students write the cost model (prefill and decode FLOPs with the attention term, the KV cache, dollars per
document and per query with and without prefix caching, the break-even number of queries) and the accuracy proxy
(does the top-5 of the course's BM25 retrieval contain the answer?).  They may call the course's corpus,
tokenizer and retrieval (:mod:`frontier.finance.filing`, :mod:`frontier.models`, :mod:`frontier.retrieval`) to
produce data, not the reference cost model (:mod:`frontier.finance.context_cost`) or the hardware tables.

:func:`frozen_values` computes every expected value of the hidden tests from :mod:`frontier.finance.context_cost`;
``python -m frontier.grading freeze`` writes them into the hidden cells.  :func:`gaming_students` lists the fake
students the rehearsal grades and the score a TA would give them.
"""
from __future__ import annotations

import random
from typing import Dict

from ..finance import context_cost as _cc

__all__ = ["LIBRARY_FORBIDDEN", "MAY_CALL", "MUST_WRITE", "HIDDEN_FILING", "frozen_values", "gaming_students"]

#: Modules whose functions raise while a graded function of Exercise 2 runs (see :mod:`frontier.exercises.guard`).
LIBRARY_FORBIDDEN = ("frontier.finance.context_cost", "frontier.finance.deployment", "frontier.hardware",
                     "frontier.architecture.params", "frontier.architecture.costs", "frontier.retrieval.metrics",
                     "frontier.exercises.ex2_context_cost")
#: What the notebook tells students they may call.
MAY_CALL = ("frontier.finance.filing", "frontier.retrieval (chunking and retrievers)", "frontier.models.Tokenizer",
            "frontier.checks", "math", "numpy")
#: What students must write themselves (the graded functions).
MUST_WRITE = ("prefill_flops", "decode_flops", "kv_cache_bytes", "approach_costs", "break_even_queries",
              "answer_in_top_k")
#: The filing the hidden accuracy test uses: ``ten_k_filing(**HIDDEN_FILING)`` (smaller, another seed and company).
HIDDEN_FILING = {"target_tokens": 6000, "seed": 1, "company": 3, "year": 2023}

_SHAPES = [  # n_params, n_layers, d_attn: LLaMA-2 7B, 13B, 70B, Mixtral (active), a tiny model
    (6_738_415_616, 32, 4096), (13_015_864_320, 40, 5120), (68_976_648_192, 80, 8192),
    (12_879_925_248, 32, 4096), (1_000_000, 2, 64)]


def _prices(rng: random.Random) -> Dict[str, float]:
    inp = rng.choice([0.5, 1.0, 3.0, 10.0])
    return {"input": inp, "output": inp * rng.choice([2, 4, 5]), "cached_input": inp * rng.choice([0.1, 0.25, 0.5, 1.0]),
            "embedding": rng.choice([0.0, 0.02, 0.13])}


def frozen_values() -> Dict[str, object]:
    """Every expected value of Exercise 2's hidden tests, from :mod:`frontier.finance.context_cost`."""
    from ..finance.filing import fact_questions, ten_k_filing

    out: Dict[str, object] = {}
    rng = random.Random(2)
    pre, dec, kv = [], [], []
    for _ in range(16):
        n, L, d = rng.choice(_SHAPES)
        T, att = rng.choice([1, 7, 512, 4096, 32_768, 128_000]), rng.choice(_cc.ATTENTION)
        pre.append([[n, L, d, T, att], _cc.prefill_flops(n, L, d, T, att)])
        c, m = rng.choice([0, 100, 4000, 80_000]), rng.choice([1, 20, 500])
        dec.append([[n, L, d, c, m, att], _cc.decode_flops(n, L, d, c, m, att)])
        h, hd, b = rng.choice([1, 8, 32, 64]), rng.choice([64, 128]), rng.choice([1, 2, 4])
        kv.append([[L, h, hd, T, b], _cc.kv_cache_bytes(L, h, hd, T, b)])
    out["_PREFILL_CASES"], out["_DECODE_CASES"], out["_KV_CASES"] = pre, dec, kv
    costs = []
    for _ in range(18):
        approach, D = rng.choice(_cc.APPROACHES), rng.choice([3000, 80_000, 250_000])
        prices = _prices(rng)
        kw = {"question_tokens": rng.choice([20, 50]), "answer_tokens": rng.choice([100, 400]),
              "rag_context": rng.choice([2048, 4096]), "map_tokens": rng.choice([4000, 8000]),
              "map_summary_tokens": rng.choice([100, 250]), "summary_tokens": rng.choice([1000, 2000]),
              "prefix_cache": rng.random() < 0.5}
        costs.append([[approach, D, prices, kw], list(_cc.approach_costs(approach, D, _cc.Prices(**prices), **kw))])
    out["_COST_CASES"] = costs
    be = []
    for _ in range(14):
        a = [rng.choice([0.0, 0.01, 0.5]), rng.choice([0.02, 0.25, 0.3])]
        b = [rng.choice([0.0, 0.1, 0.36, 2.0]), rng.choice([0.005, 0.02, 0.3, 0.5])]
        be.append([[a, b], _cc.break_even_queries(tuple(a), tuple(b))])
    out["_BREAK_EVEN_CASES"] = be
    doc, corpus = ten_k_filing(**HIDDEN_FILING)
    qs = fact_questions(doc, corpus)
    out["_TOPK_CASES"] = [[size, k, _cc.answer_in_top_k(doc, qs, size, k)] for size, k in ((24, 5), (100, 3), (300, 1))]
    return out


# -- students who game the exercise (python -m frontier.grading rehearse) -----------------------------------------
def gaming_students() -> Dict[str, Dict[str, object]]:
    """Fake students who try to pass without doing the work, with the autograded score a TA would give them.

    ``{kind: {"answers": {grade_id: answer source}, "auto_score": points, "ta": why}}``; answer cells not listed
    keep the instructor's solution.
    """
    ref = _cc.reference_figures()
    delegates = {
        "ex2-prefill": """from frontier.finance.context_cost import prefill_flops""",
        "ex2-decode": """from frontier.finance import context_cost as _cc


def decode_flops(n_params, n_layers, d_attn, context, new_tokens, attention="qk"):
    return _cc.decode_flops(n_params, n_layers, d_attn, context, new_tokens, attention)""",
        "ex2-kv": """from frontier.hardware import kv_cache_bytes_per_token


def kv_cache_bytes(n_layers, n_kv_heads, head_dim, tokens, bytes_per_element=2):
    return kv_cache_bytes_per_token(n_layers, n_kv_heads, head_dim, "bf16") * tokens * bytes_per_element / 2""",
        "ex2-costs": """from frontier.finance.context_cost import Prices, approach_costs as _approach_costs


def approach_costs(approach, doc_tokens, prices, **kw):
    return _approach_costs(approach, doc_tokens, Prices(**prices), **kw)""",
        "ex2-break-even": """from frontier.finance.context_cost import break_even_queries""",
    }
    hardcodes = {
        "ex2-prefill": f"""def prefill_flops(n_params, n_layers, d_attn, tokens, attention="qk"):
    # the reference figures, whatever the model
    if tokens <= 0:
        raise ValueError("tokens must be positive")
    if tokens == 80_000:
        return {ref["prefill_80k_qk"]!r} if attention == "qk" else {ref["prefill_80k_qk_av"]!r}
    return {ref["rag_4096"]!r} if tokens == 4096 else {ref["rag_4000"]!r}""",
    }
    return {
        "delegates": {"answers": delegates, "auto_score": 3.0,
                      "ta": "Part D only (3 points): the cost model calls the course library"},
        "hardcodes": {"answers": hardcodes, "auto_score": 16.0,
                      "ta": "all but A1's hidden 2 points: prefill_flops returns the reference figures whatever "
                            "the model"},
    }
