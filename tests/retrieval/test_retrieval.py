"""Retrieval: BM25 against its formula, dense / hybrid / reranker behaviour, chunking, metrics, bad input."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from frontier.retrieval import (BM25Retriever, DenseRetriever, HybridRetriever, Reranker, chunk_documents,
                                chunk_fixed, chunk_sentences, hit_rate_at_k, make_retriever, mrr, recall_at_k,
                                relevant_chunks, tokenize)

DOCS = ["the apple harvest was large this year",
        "apple shares rose after the apple event",
        "a quiet market for pears and plums",
        "plums were cheap and the market was quiet today"]


def direct_bm25(docs, query, k1=1.5, b=0.75):
    """Lucene BM25 written out from the formula (no bm25s)."""
    toks = [tokenize(d) for d in docs]
    n, avgdl = len(toks), np.mean([len(t) for t in toks])
    out = np.zeros(n)
    for term in tokenize(query):
        df = sum(term in t for t in toks)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, t in enumerate(toks):
            tf = t.count(term)
            out[i] += idf * tf / (tf + k1 * (1 - b + b * len(t) / avgdl))
    return out


@pytest.mark.parametrize("query", ["apple", "apple market", "quiet plums", "the", "apple apple event"])
def test_bm25_matches_the_formula(query):
    r = BM25Retriever(DOCS)
    np.testing.assert_allclose(r.scores(query), direct_bm25(DOCS, query), rtol=1e-5, atol=1e-6)


def test_term_in_exactly_half_the_documents_still_counts():
    r = BM25Retriever(DOCS)                       # "apple" is in 2 of 4 documents
    s = r.scores("apple")
    assert s[0] > 0 and s[1] > s[0] and s[2] == s[3] == 0
    assert math.isclose(math.log(1 + (4 - 2 + 0.5) / (2 + 0.5)), math.log(2))


def test_unknown_query_terms_score_zero():
    assert not BM25Retriever(DOCS).scores("zebra").any()


def test_dense_finds_each_document_from_its_own_text():
    r = DenseRetriever(DOCS, dim=3)
    for i, d in enumerate(DOCS):
        assert r.search(d, 1)[0].index == i
    ids, scores = r.search_many(DOCS, 2)
    assert ids.shape == (4, 2) and (np.diff(scores, axis=1) <= 1e-12).all()


def test_hybrid_is_reciprocal_rank_fusion():
    a, d = BM25Retriever(DOCS), DenseRetriever(DOCS, dim=3)
    h = HybridRetriever([a, d], k_rrf=60, depth=4)
    q = "apple market"
    want = np.zeros(4)
    for r in (a, d):
        for rank, hit in enumerate(r.search(q, 4)):
            want[hit.index] += 1 / (60 + rank + 1)
    np.testing.assert_allclose(h.scores(q), want)
    np.testing.assert_array_equal(h.search_many([q], 4)[0][0], [x.index for x in h.search(q, 4)])


def test_reranker_prefers_phrases_over_repetition():
    docs = ["revenue revenue revenue revenue of other things", "net income was 5 and revenue was 7 for acme",
            "acme revenue in q1 2024 was 7", "unrelated text"]
    rr = Reranker(BM25Retriever(docs), candidates=4)
    assert rr.search("acme revenue q1 2024", 1)[0].index == 2
    assert rr.cross_score("acme revenue", "acme revenue") == pytest.approx(1.5)


def test_tokenize_removes_thousands_separators():
    assert tokenize("Revenue was $4,821 million in Q3 2024.") == ["revenue", "was", "4821", "million", "in", "q3",
                                                                 "2024"]


@dataclass
class _Doc:
    doc_id: str
    text: str


TEXT = "One two three. Four five six seven! Eight nine? Ten eleven twelve thirteen fourteen."


@pytest.mark.parametrize("size, overlap", [(1, 0), (3, 1), (4, 3), (5, 0), (100, 10)])
def test_fixed_chunks_cover_the_text_with_the_overlap(size, overlap):
    doc = _Doc("d", TEXT)
    chunks = chunk_fixed(doc, size, overlap)
    toks = [m.group(0) for m in re.finditer(r"\w+|[^\w\s]", TEXT)]
    pieces = [[m.group(0) for m in re.finditer(r"\w+|[^\w\s]", c.text)] for c in chunks]
    assert all(c.text == TEXT[c.start:c.end] for c in chunks)
    assert all(len(p) <= size for p in pieces)
    for p, q in zip(pieces, pieces[1:]):
        assert p[len(p) - overlap:] == q[:overlap] if overlap else True
    rebuilt = pieces[0] + [t for p in pieces[1:] for t in p[overlap:]]
    assert rebuilt == toks


def test_sentence_chunks():
    chunks = chunk_sentences(_Doc("d", TEXT), 2, 1)
    assert [c.text for c in chunks] == ["One two three. Four five six seven!", "Four five six seven! Eight nine?",
                                        "Eight nine? Ten eleven twelve thirteen fourteen."]


def test_relevance_by_containment():
    chunks = chunk_documents([_Doc("a", TEXT), _Doc("b", TEXT)], "sentence", 1)
    start = TEXT.index("Eight")
    assert relevant_chunks(chunks, "b", [(start, start + len("Eight nine?"))]) == [6]
    assert relevant_chunks(chunks, "b", [(0, len(TEXT))]) == []


def test_recall_and_mrr_known_values():
    ranked = [[3, 1, 2], [5, 6, 7]]
    relevant = [{1}, {9, 7}]
    assert recall_at_k(ranked, relevant, 1) == 0
    assert recall_at_k(ranked, relevant, 2) == 0.5
    assert recall_at_k(ranked, relevant, 3) == pytest.approx((1 + 0.5) / 2)
    assert hit_rate_at_k(ranked, relevant, 3) == 1.0
    assert mrr(ranked, relevant) == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert recall_at_k([[1, 2]], [set()], 2) == 0.0            # nothing relevant survived chunking: a miss


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.permutations(list(range(12))), st.sets(st.integers(0, 11), min_size=1)),
                min_size=1, max_size=6))
def test_recall_at_k_is_monotone_in_k(data):
    ranked = [list(r) for r, _ in data]
    relevant = [rel for _, rel in data]
    curve = [recall_at_k(ranked, relevant, k) for k in range(1, 13)]
    assert all(a <= b for a, b in zip(curve, curve[1:])) and curve[-1] == 1.0


def test_recall_rises_with_k_on_the_corpus():
    from frontier.data import generate_corpus
    c = generate_corpus(n_companies=4, n_quarters=2, seed=1, trading_days=False)
    chunks = chunk_documents(c.documents, "sentence", 1)
    facts = c.facts()[::3]
    docs = {(d.company_id, d.period): d for d in c.documents}
    rel = [relevant_chunks(chunks, docs[f.company_id, f.period].doc_id, docs[f.company_id, f.period].fact_spans[f.key])
           for f in facts]
    queries = [f"{f.company} {f.metric} {f.period}" for f in facts]
    for name in ("bm25", "dense", "hybrid"):
        ids, _ = make_retriever(name, chunks, dim=32).search_many(queries, 20)
        curve = [recall_at_k(ids, rel, k) for k in (1, 5, 20)]
        assert curve[0] <= curve[1] <= curve[2] and curve[2] > 0.5, (name, curve)


def test_bad_input():
    with pytest.raises(ValueError, match="k"):
        BM25Retriever(DOCS).search("apple", 0)
    with pytest.raises(ValueError, match="empty"):
        BM25Retriever([])
    with pytest.raises(ValueError, match="empty"):
        chunk_documents([], "fixed")
    with pytest.raises(ValueError, match="overlap"):
        chunk_fixed(_Doc("d", TEXT), 4, 4)
    with pytest.raises(ValueError, match="name"):
        make_retriever("colbert", DOCS)
    with pytest.raises(ValueError, match="method"):
        chunk_documents([_Doc("d", TEXT)], "paragraph")
    with pytest.raises(TypeError):
        BM25Retriever(DOCS).search_many("apple", 2)
    with pytest.raises(ValueError, match="ranked and relevant"):
        recall_at_k([[1]], [], 1)
