"""Shared retrieval (filled by section 6, knowledge; used by finance and reasoning).

What will live here: BM25 (``bm25s``), dense retrieval (``faiss-cpu``), hybrid fusion and reranking, with one
``search(query, k) -> hits`` shape.  Shared module: it imports no course section (``tests/test_layering.py``).
"""
