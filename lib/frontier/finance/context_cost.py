"""Exercise 2's cost model: reading an 80,000-token 10-K whole, by retrieval, or by map-reduce.

The filing and its questions are in :mod:`frontier.finance.filing`.  This module is the reference
implementation of what Exercise 2 asks students to write (the exercise's hidden tests block it):

* :func:`prefill_flops` ``2 N T`` plus the attention term.  Kaplan et al. (2020, Table 1) count
  ``2 n_layer n_ctx d_attn`` forward FLOPs per token for attention: the ``Q K^T`` scores only.  With a causal
  mask token ``t`` attends to ``t`` positions, so over a prompt of ``T`` tokens the average context is ``T / 2``
  and the term is ``n_layer d_attn T^2``; ``attention="qk_av"`` also counts the weighted sum of values, doubling it.
* :func:`decode_flops` ``2 N`` per generated token plus the attention over the cache so far.
* :func:`kv_cache_bytes` ``2 n_layer n_kv_heads head_dim`` elements per token.
* :func:`approach_costs` dollars per document (paid once: embedding the chunks, the map-reduce summary, or the
  price gap of writing a cached prefix) and per query, for the three approaches; :func:`break_even_queries`.

LLaMA-2 70B shapes (:data:`LLAMA2_70B_SHAPES`, with grouped-query attention, and a hypothetical 128K context):
80,000-token prefill 1.52e16 FLOPs (QK^T only) or 1.94e16 (QK^T and AV); a 4,096-token RAG prompt 5.8e14
(about 26x less); KV cache 327,680 bytes per token, 26.2 GB at 80,000 tokens.  ``N`` here is every parameter
(68,976,648,192), the ``2 N`` rule as commonly applied.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..validation import choice, nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = ["LLAMA2_70B_SHAPES", "ATTENTION", "APPROACHES", "prefill_flops", "decode_flops", "kv_cache_bytes",
           "Prices", "approach_costs", "total_cost", "break_even_queries", "cheapest_approach", "reference_figures",
           "answer_in_top_k", "hit_rate_by_chunk_size"]

#: LLaMA-2 70B's shapes (Touvron et al. 2023; Hugging Face config): parameters, layers, attention width, GQA.
LLAMA2_70B_SHAPES = {"n_params": 68_976_648_192, "n_layers": 80, "d_attn": 8192, "n_kv_heads": 8, "head_dim": 128}
#: Attention conventions: ``"qk"`` (Kaplan et al.: scores only) and ``"qk_av"`` (scores and the weighted sum).
ATTENTION = ("qk", "qk_av")
#: The three ways of answering questions about one long document.
APPROACHES = ("whole", "rag", "map_reduce")


# ----------------------------------------------------------------------------- the cost model
def _attn(attention: str) -> float:
    return 2.0 if choice("attention", attention, ATTENTION) == "qk_av" else 1.0


def prefill_flops(n_params: float, n_layers: int, d_attn: int, tokens: int, attention: str = "qk") -> float:
    """Forward FLOPs to read a prompt of ``tokens`` tokens: ``2 N T + f n_layer d_attn T^2`` (``f`` = 1 for
    ``"qk"``, 2 for ``"qk_av"``; causal: the average token attends to ``T / 2`` positions)."""
    n = positive_float("n_params", n_params)
    L, d, T = positive_int("n_layers", n_layers), positive_int("d_attn", d_attn), positive_int("tokens", tokens)
    return 2.0 * n * T + _attn(attention) * L * d * float(T) ** 2


def decode_flops(n_params: float, n_layers: int, d_attn: int, context: int, new_tokens: int,
                 attention: str = "qk") -> float:
    """Forward FLOPs to generate ``new_tokens`` after a ``context``-token prompt: per token ``2 N`` plus
    ``2 f n_layer d_attn`` times the positions it attends to (``context + i`` for the ``i``-th new token)."""
    n = positive_float("n_params", n_params)
    L, d = positive_int("n_layers", n_layers), positive_int("d_attn", d_attn)
    c, m = nonnegative_int("context", context), positive_int("new_tokens", new_tokens)
    attended = m * c + m * (m + 1) / 2.0
    return 2.0 * n * m + 2.0 * _attn(attention) * L * d * attended


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, tokens: int, bytes_per_element: float = 2.0) -> float:
    """KV cache of one sequence: ``2 n_layer n_kv_heads head_dim tokens bytes_per_element`` (bytes)."""
    L, h, d = positive_int("n_layers", n_layers), positive_int("n_kv_heads", n_kv_heads), positive_int("head_dim", head_dim)
    return 2.0 * L * h * d * positive_int("tokens", tokens) * positive_float("bytes_per_element", bytes_per_element)


@dataclass(frozen=True)
class Prices:
    """API prices in dollars per million tokens: ``input``, ``output``, ``cached_input`` (a prompt prefix read
    from the provider's cache; at most ``input``) and ``embedding`` (indexing chunks for RAG)."""

    input: float = 3.0
    output: float = 15.0
    cached_input: float = 0.3
    embedding: float = 0.02

    def __post_init__(self) -> None:
        for k in ("input", "output", "cached_input", "embedding"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"price {k} must be a non-negative number of dollars per million tokens, got {v!r}")
        if self.cached_input > self.input:
            raise ValueError(f"cached_input ({self.cached_input}) cannot exceed input ({self.input})")

    def as_dict(self) -> Dict[str, float]:
        return asdict(self)


def approach_costs(approach: str, doc_tokens: int, prices: Prices = Prices(), *, question_tokens: int = 50,
                   answer_tokens: int = 200, rag_context: int = 4096, map_tokens: int = 4000,
                   map_summary_tokens: int = 250, summary_tokens: int = 2000,
                   prefix_cache: bool = False) -> Tuple[float, float]:
    """``(per_document, per_query)`` dollars for one approach to questions about one document.

    * ``"whole"``: each query sends the document and the question.  With ``prefix_cache`` the first query writes
      the document at the input price and later ones read it at ``cached_input``: per document
      ``doc (input - cached_input)``, per query ``doc cached_input + question input + answer output``.
    * ``"rag"``: the document is embedded once (``doc embedding``); each query sends ``rag_context`` tokens
      (the question and its top chunks).
    * ``"map_reduce"``: once per document, ``ceil(doc / map_tokens)`` map calls each read a part and write
      ``map_summary_tokens``; a reduce call reads those and writes a ``summary_tokens`` summary; each query
      sends the summary and the question.

    Every query is answered in ``answer_tokens`` output tokens.
    """
    choice("approach", approach, APPROACHES)
    if not isinstance(prices, Prices):
        raise TypeError(f"prices must be a Prices, got {type(prices).__name__}")
    D = positive_int("doc_tokens", doc_tokens)
    q, a = positive_int("question_tokens", question_tokens), positive_int("answer_tokens", answer_tokens)
    pin, pout, pc, pe = (prices.input / 1e6, prices.output / 1e6, prices.cached_input / 1e6, prices.embedding / 1e6)
    answer = a * pout
    if approach == "whole":
        if prefix_cache:
            return D * (pin - pc), D * pc + q * pin + answer
        return 0.0, (D + q) * pin + answer
    if approach == "rag":
        return D * pe, positive_int("rag_context", rag_context) * pin + answer
    m, s, S = (positive_int("map_tokens", map_tokens), positive_int("map_summary_tokens", map_summary_tokens),
               positive_int("summary_tokens", summary_tokens))
    n_maps = math.ceil(D / m)
    per_doc = D * pin + n_maps * s * pout + n_maps * s * pin + S * pout
    return per_doc, (S + q) * pin + answer


def total_cost(per_document: float, per_query: float, n_queries: int) -> float:
    """Dollars for ``n_queries`` questions about one document."""
    return nonnegative_float("per_document", per_document) + nonnegative_float("per_query", per_query) * \
        nonnegative_int("n_queries", n_queries)


def break_even_queries(a: Tuple[float, float], b: Tuple[float, float]) -> Optional[int]:
    """The fewest queries (>= 1) at which approach ``b`` costs no more than ``a`` (each ``(per_document,
    per_query)``); ``None`` if it never does.  ``b`` must pay more up front to win only later."""
    (fa, qa), (fb, qb) = a, b
    for v, n in ((fa, "a per_document"), (qa, "a per_query"), (fb, "b per_document"), (qb, "b per_query")):
        nonnegative_float(n, v)
    if fb <= fa and qb <= qa:
        return 1
    if qb >= qa:
        return 1 if fb + qb <= fa + qa else None
    return max(1, math.ceil((fb - fa) / (qa - qb) - 1e-12))


def cheapest_approach(costs: Dict[str, Tuple[float, float]], n_queries: int) -> str:
    """The approach with the lowest total at ``n_queries`` (ties: the first in ``costs``)."""
    n = positive_int("n_queries", n_queries)
    return min(costs, key=lambda k: total_cost(*costs[k], n))


def reference_figures(shapes: Dict[str, int] = LLAMA2_70B_SHAPES) -> Dict[str, float]:
    """facts.md section 13's Exercise 2 figures, computed: prefill of 80,000 tokens (two conventions), RAG at
    4,096 and 4,000 tokens and the ratios, map-reduce (20 maps of 4,000 + a 5,000-token reduce), KV cache."""
    N, L, d = shapes["n_params"], shapes["n_layers"], shapes["d_attn"]
    whole_qk, whole_qkav = prefill_flops(N, L, d, 80_000, "qk"), prefill_flops(N, L, d, 80_000, "qk_av")
    rag4096, rag4000 = prefill_flops(N, L, d, 4096), prefill_flops(N, L, d, 4000)
    kv = kv_cache_bytes(L, shapes["n_kv_heads"], shapes["head_dim"], 1)
    return {"prefill_80k_qk": whole_qk, "prefill_80k_qk_av": whole_qkav, "rag_4096": rag4096, "rag_4000": rag4000,
            "ratio_4096": whole_qk / rag4096, "ratio_4000": whole_qk / rag4000,
            "map_reduce": 20 * prefill_flops(N, L, d, 4000) + prefill_flops(N, L, d, 5000),
            "kv_bytes_per_token": kv, "kv_bytes_80k": kv * 80_000}


# ----------------------------------------------------------------------------- the accuracy proxy
def answer_in_top_k(doc, questions: Sequence[Tuple[str, Tuple[int, int]]], chunk_size: int, k: int = 5,
                    retriever: str = "bm25") -> List[bool]:
    """For each ``(question, (start, end))`` (see :func:`frontier.finance.filing.fact_questions`): does one of
    the top-``k`` chunks (fixed windows of ``chunk_size`` word tokens, no overlap, ranked by ``retriever``)
    contain the whole answering sentence ``doc.text[start:end]``?"""
    from ..retrieval import chunk_fixed, make_retriever, relevant_chunks

    chunks = chunk_fixed(doc, positive_int("chunk_size", chunk_size))
    r = make_retriever(retriever, [c.text for c in chunks])
    ids, _ = r.search_many([q for q, _ in questions], k=positive_int("k", k))
    out = []
    for (_, span), row in zip(questions, ids):
        rel = set(relevant_chunks(chunks, doc.doc_id, [tuple(span)]))
        out.append(bool(rel & {int(i) for i in row}))
    return out


def hit_rate_by_chunk_size(doc, questions, sizes: Sequence[int] = (32, 64, 128, 256, 512), k: int = 5) -> Dict[int, float]:
    """Share of questions whose answer sentence is in the top ``k``, per chunk size."""
    return {int(s): float(np.mean(answer_in_top_k(doc, questions, s, k))) for s in sizes}
