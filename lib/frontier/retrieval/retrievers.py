"""Retrievers with one shape: ``search(query, k) -> [Hit]`` and ``search_many(queries, k) -> (ids, scores)``.

* :class:`BM25Retriever`   sparse lexical retrieval with ``bm25s``, Lucene variant, k1 = 1.5, b = 0.75:
  score(q, d) = Σ_{t ∈ q} idf(t) · tf(t, d) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl)),
  idf(t) = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5)).  (Lucene drops Robertson's (k1 + 1) factor, which does
  not change rankings; its IDF stays positive for a term in half or more of the documents, unlike the
  ``rank_bm25`` Okapi IDF, which is 0 at exactly half.)
* :class:`DenseRetriever`  TF-IDF vectors reduced by truncated SVD (latent semantic analysis) to ``dim``
  dimensions, L2-normalised, ranked by cosine similarity.
* :class:`HybridRetriever` reciprocal rank fusion (Cormack et al. 2009): score = Σ_r 1 / (k_rrf + rank_r).
* :class:`Reranker`        a cross-scoring second stage that reads the query and each candidate together
  (IDF-weighted coverage of the query's terms and bigrams), applied to the first stage's top candidates.

Text is normalised the same way everywhere (:func:`tokenize`): lower case, thousands separators removed from
numbers, ``\\w+`` tokens.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..validation import choice, positive_int

__all__ = ["Hit", "tokenize", "BM25Retriever", "DenseRetriever", "HybridRetriever", "Reranker", "RETRIEVERS",
           "make_retriever"]

#: The names :func:`make_retriever` accepts.
RETRIEVERS = ("bm25", "dense", "hybrid")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")
_WORDS = re.compile(r"\w+")


def tokenize(text: str) -> List[str]:
    """Lower-case ``\\w+`` tokens with thousands separators removed (``"$4,821"`` -> ``["4821"]``)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORDS.findall(_THOUSANDS.sub("", text.lower()))


@dataclass(frozen=True)
class Hit:
    """One retrieved item: its index in the indexed list, its score, its rank (0 = best) and its text."""
    index: int
    score: float
    rank: int
    text: str


def _texts(texts) -> List[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings (or chunks), not one string")
    out = [t if isinstance(t, str) else getattr(t, "text", None) for t in texts]
    if not out:
        raise ValueError("cannot index an empty corpus: texts must not be empty")
    if not all(isinstance(t, str) for t in out):
        raise TypeError("texts must be strings or objects with a str .text (chunks)")
    return out


def _top(scores: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Top-``k`` ids and scores per row of ``scores (n_queries, n_texts)``, ties broken by the lower index."""
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)
    return ids, np.take_along_axis(scores, ids, axis=1)


def _one_blas_thread():
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1)


def _k(k, n: int) -> int:
    return min(positive_int("k", k), n)


class _Base:
    texts: List[str]

    def scores(self, query: str) -> np.ndarray:
        """Scores of every indexed text for ``query``, shape ``(n_texts,)``; higher is better."""
        raise NotImplementedError

    def search(self, query: str, k: int = 5) -> List[Hit]:
        """The ``k`` best texts for ``query``, best first (ties broken by index)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        k = _k(k, len(self.texts))
        s = self.scores(query)
        order = np.lexsort((np.arange(len(s)), -s))[:k]
        return [Hit(int(i), float(s[i]), r, self.texts[int(i)]) for r, i in enumerate(order)]

    def search_many(self, queries: Sequence[str], k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids (n_queries, k) int, scores (n_queries, k) float)`` of the top ``k`` for each query."""
        if isinstance(queries, str):
            raise TypeError("queries must be a sequence of strings, not one string")
        hits = [self.search(q, k) for q in queries]
        k = _k(k, len(self.texts))
        return (np.array([[h.index for h in hs] for hs in hits], dtype=np.int64).reshape(len(hits), k),
                np.array([[h.score for h in hs] for hs in hits], dtype=np.float64).reshape(len(hits), k))


class BM25Retriever(_Base):
    """BM25 (Lucene variant, via ``bm25s``) over ``texts``; see the module docstring for the formula.

    Args:
        texts: strings or chunks (objects with ``.text``); not empty.
        k1: term-frequency saturation (default 1.5).
        b: length normalisation (default 0.75).
    """

    name = "bm25"

    def __init__(self, texts, *, k1: float = 1.5, b: float = 0.75):
        import bm25s
        self.texts = _texts(texts)
        self.k1, self.b = float(k1), float(b)
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        self._bm25.index([tokenize(t) or [""] for t in self.texts], show_progress=False)
        self._vocab = self._bm25.vocab_dict

    def scores(self, query: str) -> np.ndarray:
        toks = [t for t in tokenize(query) if t in self._vocab]
        if not toks:
            return np.zeros(len(self.texts))
        return np.asarray(self._bm25.get_scores(toks), dtype=np.float64)


class DenseRetriever(_Base):
    """Latent semantic retrieval: TF-IDF (sublinear tf, unigrams and bigrams) -> truncated SVD -> cosine.

    Args:
        texts: strings or chunks; not empty.
        dim: SVD dimensions (capped at the rank the data allows).
        seed: seeds the randomized SVD.
    """

    name = "dense"

    def __init__(self, texts, *, dim: int = 128, seed: int = 0):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        self.texts = _texts(texts)
        dim = positive_int("dim", dim)
        self._tfidf = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None,
                                      sublinear_tf=True, ngram_range=(1, 2))
        x = self._tfidf.fit_transform(self.texts)
        dim = max(1, min(dim, x.shape[0] - 1, x.shape[1] - 1))
        self._svd = TruncatedSVD(n_components=dim, random_state=seed)
        with _one_blas_thread():                       # small matrices: threads only oversubscribe the cores
            self.vectors = self._normalise(self._svd.fit_transform(x))    # (n_texts, dim)

    @staticmethod
    def _normalise(v: np.ndarray) -> np.ndarray:
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(n == 0, 1.0, n)

    def embed(self, queries: Sequence[str]) -> np.ndarray:
        """Unit vectors ``(n_queries, dim)`` for ``queries`` in the indexed space."""
        return self._normalise(self._tfidf.transform(list(queries)) @ self._svd.components_.T)

    def scores(self, query: str) -> np.ndarray:
        return self.vectors @ self.embed([query])[0]

    def search_many(self, queries: Sequence[str], k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
        if isinstance(queries, str):
            raise TypeError("queries must be a sequence of strings, not one string")
        return _top(self.embed(list(queries)) @ self.vectors.T, _k(k, len(self.texts)))   # (n_queries, n_texts)


class HybridRetriever(_Base):
    """Reciprocal rank fusion of several retrievers over the same texts: Σ_r 1 / (k_rrf + rank_r), rank from 1.

    Each member contributes its top ``depth`` texts; a text outside a member's top ``depth`` gets nothing from it.
    """

    name = "hybrid"

    def __init__(self, retrievers: Sequence[_Base], *, k_rrf: int = 60, depth: int = 100):
        if not retrievers:
            raise ValueError("retrievers must not be empty")
        n = {len(r.texts) for r in retrievers}
        if len(n) != 1:
            raise ValueError(f"retrievers must index the same texts, got sizes {sorted(n)}")
        self.retrievers = list(retrievers)
        self.texts = self.retrievers[0].texts
        self.k_rrf = positive_int("k_rrf", k_rrf)
        self.depth = positive_int("depth", depth)

    def scores(self, query: str) -> np.ndarray:
        return self._fuse([query])[0]

    def _fuse(self, queries: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(queries), len(self.texts)))
        rows = np.arange(len(queries))[:, None]
        for r in self.retrievers:
            ids, _ = r.search_many(queries, self.depth)                   # (n_queries, depth)
            out[rows, ids] += 1.0 / (self.k_rrf + np.arange(1, ids.shape[1] + 1))[None, :]
        return out

    def search_many(self, queries: Sequence[str], k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
        if isinstance(queries, str):
            raise TypeError("queries must be a sequence of strings, not one string")
        return _top(self._fuse(list(queries)), _k(k, len(self.texts)))


class Reranker(_Base):
    """A second stage that re-scores a first stage's top ``candidates`` by reading query and text together.

    Cross score = IDF-weighted share of the query's distinct terms found in the text + 0.5 × the share of the
    query's adjacent term pairs (bigrams) found in the text as adjacent pairs.  Unlike BM25 it ignores how often a
    term repeats and rewards phrases, so a chunk that names the asked company, metric and period together wins
    over one that repeats one of them.  Only the candidates get a score; the rest keep −inf.
    """

    def __init__(self, first_stage: _Base, *, candidates: int = 20):
        self.first = first_stage
        self.texts = first_stage.texts
        self.candidates = positive_int("candidates", candidates)
        self.name = f"{first_stage.name}+rerank"
        toks = [set(tokenize(t)) for t in self.texts]
        df: Dict[str, int] = {}
        for ts in toks:
            for t in ts:
                df[t] = df.get(t, 0) + 1
        n = len(self.texts)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._default_idf = math.log(1 + (n + 0.5) / 0.5)

    def cross_score(self, query: str, text: str) -> float:
        """The cross score of one (query, text) pair (see the class docstring)."""
        q, t = tokenize(query), tokenize(text)
        qs, ts = list(dict.fromkeys(q)), set(t)
        if not qs:
            return 0.0
        w = np.array([self._idf.get(x, self._default_idf) for x in qs])
        unigram = float(w[[x in ts for x in qs]].sum() / w.sum())
        qb = set(zip(q, q[1:]))
        bigram = len(qb & set(zip(t, t[1:]))) / len(qb) if qb else 0.0
        return unigram + 0.5 * bigram

    def scores(self, query: str) -> np.ndarray:
        return self._rescore([query])[0]

    def _rescore(self, queries: Sequence[str]) -> np.ndarray:
        out = np.full((len(queries), len(self.texts)), -np.inf)
        ids, _ = self.first.search_many(queries, self.candidates)
        for qi, q in enumerate(queries):
            for i in ids[qi]:
                out[qi, i] = self.cross_score(q, self.texts[int(i)])
        return out

    def search_many(self, queries: Sequence[str], k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
        if isinstance(queries, str):
            raise TypeError("queries must be a sequence of strings, not one string")
        return _top(self._rescore(list(queries)), _k(k, len(self.texts)))


def make_retriever(name: str, texts, *, rerank: bool = False, dim: int = 128, candidates: int = 20,
                   seed: int = 0) -> _Base:
    """A retriever by name (``"bm25"``, ``"dense"`` or ``"hybrid"`` = RRF of the two), optionally reranked."""
    choice("name", name, RETRIEVERS)
    if name == "bm25":
        r: _Base = BM25Retriever(texts)
    elif name == "dense":
        r = DenseRetriever(texts, dim=dim, seed=seed)
    else:
        r = HybridRetriever([BM25Retriever(texts), DenseRetriever(texts, dim=dim, seed=seed)])
    return Reranker(r, candidates=candidates) if rerank else r
