"""Shared retrieval: chunking, BM25, dense (TF-IDF + SVD), hybrid fusion, reranking, and retrieval metrics.

Every retriever has one shape: ``search(query, k) -> [Hit(index, score, rank, text)]`` and
``search_many(queries, k) -> (ids, scores)``.

* :mod:`frontier.retrieval.chunking`    :func:`chunk_documents` (fixed tokens with overlap, sentences, sections),
  :class:`Chunk` with character offsets, :func:`relevant_chunks`
* :mod:`frontier.retrieval.retrievers`  :class:`BM25Retriever` (``bm25s``, Lucene, k1 = 1.5, b = 0.75),
  :class:`DenseRetriever`, :class:`HybridRetriever` (reciprocal rank fusion), :class:`Reranker`,
  :func:`make_retriever`
* :mod:`frontier.retrieval.metrics`     :func:`recall_at_k`, :func:`hit_rate_at_k`, :func:`mrr`

Used by section 6 (knowledge) and section 8 (finance).  Shared module: it imports no course section
(``tests/test_layering.py``).
"""
from .chunking import METHODS, Chunk, chunk_documents, chunk_fixed, chunk_sections, chunk_sentences, relevant_chunks
from .metrics import hit_rate_at_k, mrr, recall_at_k, recall_curve
from .retrievers import (RETRIEVERS, BM25Retriever, DenseRetriever, Hit, HybridRetriever, Reranker, make_retriever,
                         tokenize)

__all__ = ["METHODS", "Chunk", "chunk_documents", "chunk_fixed", "chunk_sections", "chunk_sentences",
           "relevant_chunks", "hit_rate_at_k", "mrr", "recall_at_k", "recall_curve", "RETRIEVERS", "BM25Retriever",
           "DenseRetriever", "Hit", "HybridRetriever", "Reranker", "make_retriever", "tokenize"]
