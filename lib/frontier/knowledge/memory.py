"""Long-term memory for a conversational agent: records in SQLite, vectors in a FAISS index, persisted to disk.

:class:`MemoryStore` has three operations:

* **write** (:meth:`MemoryStore.write`, or :meth:`MemoryStore.observe` to extract facts from a user's message
  with :func:`extract_facts`): a record ``(subject, attribute, value, text)`` with an optional time to live.  A new
  value for the same ``(subject, attribute)`` *overwrites* the old one (a contradiction resolved in favour of the
  newer statement; the old record is kept, marked superseded, for audit).
* **read** (:meth:`MemoryStore.search`): the ``k`` live records most similar to a query, by cosine similarity of
  hashed bag-of-words embeddings (stateless, so a reloaded store embeds exactly as before).
* **forget**: records past their expiry time are not returned and :meth:`MemoryStore.expire` deletes them.

The records live in SQLite (one file); the index is rebuilt from the stored vectors on open, so a restart loses
nothing.  ``index="flat"`` is exact search (``faiss.IndexFlatIP``); ``index="hnsw"`` is approximate
(``faiss.IndexHNSWFlat``, Malkov & Yashunin 2018).  :func:`index_benchmark` measures HNSW's recall against exact
search and the latency of both as the index grows.
"""
from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..validation import choice, positive_int

__all__ = ["MemoryRecord", "MemoryStore", "extract_facts", "embed_texts", "make_index", "index_benchmark",
           "INDEXES", "one_faiss_thread"]

#: Index kinds.
INDEXES = ("flat", "hnsw")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value TEXT NOT NULL,
    text TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    superseded_by INTEGER,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_key ON memories (subject, attribute);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def embed_texts(texts: Sequence[str], dim: int = 256) -> np.ndarray:
    """Unit-norm hashed bag of words and word pairs, ``(len(texts), dim)`` float32 (scikit-learn's
    ``HashingVectorizer``; no fitting, so the same text always gets the same vector)."""
    from sklearn.feature_extraction.text import HashingVectorizer
    v = HashingVectorizer(n_features=positive_int("dim", dim), alternate_sign=False, ngram_range=(1, 2),
                          norm="l2")
    return v.transform(list(texts)).toarray().astype(np.float32)


@contextlib.contextmanager
def one_faiss_thread() -> Iterator[None]:
    """Run FAISS on one OpenMP thread inside the block (per-query latencies of small batches are then steady,
    not dominated by thread start-up on a busy machine); the previous setting is restored."""
    import faiss
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def make_index(dim: int, kind: str = "flat", *, M: int = 16, ef_search: int = 32, ef_construction: int = 40):
    """A FAISS inner-product index: exact (``"flat"``) or HNSW (``"hnsw"``, ``M`` links per node)."""
    import faiss
    choice("kind", kind, INDEXES)
    if kind == "flat":
        return faiss.IndexFlatIP(positive_int("dim", dim))
    idx = faiss.IndexHNSWFlat(positive_int("dim", dim), positive_int("M", M), faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efSearch = positive_int("ef_search", ef_search)
    idx.hnsw.efConstruction = positive_int("ef_construction", ef_construction)
    return idx


@dataclass(frozen=True)
class MemoryRecord:
    """One remembered fact; ``score`` is the cosine similarity to the query when it comes from a search."""
    id: int
    subject: str
    attribute: str
    value: str
    text: str
    created: float
    expires: Optional[float]
    score: float = float("nan")


_VAL = r"(?P<val>[^.,;!?]+?)(?=\s+(?:and|but|so)\s|[.,;!?]|$)"
_PATTERNS = [
    (re.compile(r"\bmy (?P<attr>[a-z ]+?) is " + _VAL, re.I), None),
    (re.compile(r"\bi live in " + _VAL, re.I), "home city"),
    (re.compile(r"\bi (?:work at|work for) " + _VAL, re.I), "employer"),
    (re.compile(r"\bi (?:like|love|prefer) " + _VAL, re.I), "preference"),
    (re.compile(r"\bi(?: am|'m) allergic to " + _VAL, re.I), "allergy"),
]


def extract_facts(message: str, subject: str = "user") -> List[Tuple[str, str, str]]:
    """``(subject, attribute, value)`` facts stated in a message, by simple patterns ("my X is Y", "I live in Y",
    "I work at Y", "I like Y", "I'm allergic to Y").  A stand-in for an LLM extraction step."""
    if not isinstance(message, str):
        raise TypeError(f"message must be a str, got {type(message).__name__}")
    out = []
    for pat, attr in _PATTERNS:
        for m in pat.finditer(message):
            a = (attr or m.group("attr")).strip().lower()
            out.append((subject, a, m.group("val").strip()))
    return out


class MemoryStore:
    """A persistent memory store (see the module docstring).

    Args:
        path: the SQLite file (created if missing); reopening it restores every record and rebuilds the index.
        dim: embedding size (fixed when the file is created).
        index: ``"flat"`` (exact) or ``"hnsw"`` (approximate).
        clock: ``() -> seconds``; default ``time.time`` (tests pass a fake clock to check expiry).
    """

    def __init__(self, path: Union[str, os.PathLike], *, dim: int = 256, index: str = "flat", clock=time.time):
        self.path = Path(path)
        self.kind = choice("index", index, INDEXES)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path)
        self._con.execute("PRAGMA journal_mode=WAL")       # commits append to a log: fast, still crash-safe
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.executescript(_SCHEMA)
        row = self._con.execute("SELECT value FROM meta WHERE name = 'dim'").fetchone()
        if row is None:
            self.dim = positive_int("dim", dim)
            self._con.execute("INSERT INTO meta VALUES ('dim', ?)", (str(self.dim),))
            self._con.commit()
        else:
            self.dim = int(row[0])
        self._rebuild()

    # -- index ---------------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        rows = self._con.execute("SELECT id, vector FROM memories WHERE superseded_by IS NULL ORDER BY id").fetchall()
        self._index = make_index(self.dim, self.kind)
        self._ids: List[int] = [r[0] for r in rows]
        if rows:
            self._index.add(np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]))

    def close(self) -> None:
        """Close the database (records are committed on every write)."""
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        """Live (not superseded) records, expired ones included until :meth:`expire` runs."""
        return len(self._ids)

    # -- write ---------------------------------------------------------------------------------------------
    def write(self, subject: str, attribute: str, value: str, text: Optional[str] = None, *,
              ttl: Optional[float] = None) -> int:
        """Store a fact; an older live record with the same ``(subject, attribute)`` is superseded.  Returns the id.

        ``ttl``: seconds until the record expires (None: never).
        """
        for name, v in (("subject", subject), ("attribute", attribute), ("value", value)):
            if not isinstance(v, str) or not v.strip():
                raise ValueError(f"{name} must be a non-empty string, got {v!r}")
        if ttl is not None and not ttl > 0:
            raise ValueError(f"ttl must be positive seconds or None, got {ttl}")
        text = text or f"{subject} {attribute} is {value}"
        now = self.clock()
        vec = embed_texts([text], self.dim)[0]
        cur = self._con.execute(
            "INSERT INTO memories (subject, attribute, value, text, created, expires, vector) VALUES (?,?,?,?,?,?,?)",
            (subject, attribute, value, text, now, None if ttl is None else now + ttl, vec.tobytes()))
        new_id = int(cur.lastrowid)
        old = self._con.execute("SELECT id FROM memories WHERE subject = ? AND attribute = ? AND id != ? "
                                "AND superseded_by IS NULL", (subject, attribute, new_id)).fetchall()
        self._con.execute(f"UPDATE memories SET superseded_by = ? WHERE id IN ({','.join('?' * len(old))})",
                          (new_id, *[o[0] for o in old])) if old else None
        self._con.commit()
        if old:
            self._rebuild()              # HNSW cannot delete: rebuild from the live records
        else:
            self._index.add(vec[None])
            self._ids.append(new_id)
        return new_id

    def observe(self, message: str, subject: str = "user", *, ttl: Optional[float] = None) -> List[int]:
        """Extract facts from ``message`` (:func:`extract_facts`) and write each, its text being the fact followed
        by the message it came from (so both can be searched); returns their ids."""
        return [self.write(s, a, v, f"{s} {a}: {v}. (said: {message})", ttl=ttl)
                for s, a, v in extract_facts(message, subject)]

    # -- read ----------------------------------------------------------------------------------------------
    def _record(self, rid: int, score: float = float("nan")) -> MemoryRecord:
        r = self._con.execute("SELECT id, subject, attribute, value, text, created, expires FROM memories "
                              "WHERE id = ?", (rid,)).fetchone()
        return MemoryRecord(*r, score=score)

    def search(self, query: str, k: int = 3) -> List[MemoryRecord]:
        """The ``k`` most similar live, unexpired records, best first."""
        k = positive_int("k", k)
        if not self._ids:
            return []
        now = self.clock()
        q = embed_texts([query], self.dim)
        fetch = min(len(self._ids), max(4 * k, k + 8))
        while True:
            scores, pos = self._index.search(q, fetch)
            out = []
            for s, p in zip(scores[0], pos[0]):
                if p < 0:
                    continue
                rec = self._record(self._ids[int(p)], float(s))
                if rec.expires is None or rec.expires > now:
                    out.append(rec)
            if len(out) >= k or fetch >= len(self._ids):
                return out[:k]
            fetch = min(len(self._ids), 2 * fetch)

    def get(self, subject: str, attribute: str) -> Optional[MemoryRecord]:
        """The live, unexpired record for ``(subject, attribute)``, if any."""
        row = self._con.execute("SELECT id, expires FROM memories WHERE subject = ? AND attribute = ? "
                                "AND superseded_by IS NULL", (subject, attribute)).fetchone()
        if row is None or (row[1] is not None and row[1] <= self.clock()):
            return None
        return self._record(row[0])

    def records(self, include_superseded: bool = False) -> List[MemoryRecord]:
        """Every record in id order (live ones only unless ``include_superseded``)."""
        sql = "SELECT id FROM memories" + ("" if include_superseded else " WHERE superseded_by IS NULL")
        return [self._record(r[0]) for r in self._con.execute(sql + " ORDER BY id").fetchall()]

    # -- forget --------------------------------------------------------------------------------------------
    def expire(self) -> int:
        """Delete records whose time to live has passed; returns how many."""
        n = self._con.execute("DELETE FROM memories WHERE expires IS NOT NULL AND expires <= ?",
                              (self.clock(),)).rowcount
        self._con.commit()
        if n:
            self._rebuild()
        return int(n)


def index_benchmark(sizes: Sequence[int], *, dim: int = 64, k: int = 10, n_queries: int = 200, M: int = 16,
                    ef_search: int = 32, seed: int = 0, clustered: bool = True) -> Dict[str, np.ndarray]:
    """HNSW against exact search as the index grows: recall@k of HNSW (the share of the exact top-``k`` it finds),
    and seconds per query for both, measured here.

    Vectors are unit-norm ``dim``-dimensional, drawn around 100 random centres when ``clustered`` (closer to real
    embeddings than isotropic noise); queries are fresh draws.  Returns arrays over ``sizes``: ``size``,
    ``recall``, ``exact_s``, ``hnsw_s`` (per query, FAISS on one thread) and ``build_s`` (HNSW construction).
    """
    sizes = [positive_int("sizes", s) for s in sizes]
    k = positive_int("k", k)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, dim)).astype(np.float32)

    def draw(n):
        x = rng.normal(size=(n, dim)).astype(np.float32)
        if clustered:
            x = centres[rng.integers(100, size=n)] + 0.35 * x
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    data = draw(max(sizes))
    queries = draw(n_queries)
    out = {"size": [], "recall": [], "exact_s": [], "hnsw_s": [], "build_s": []}
    with one_faiss_thread():
        for n in sizes:
            _bench_one(n, data, queries, dim, k, M, ef_search, out)
    return {key: np.array(v) for key, v in out.items()}


def _bench_one(n: int, data: np.ndarray, queries: np.ndarray, dim: int, k: int, M: int, ef_search: int,
               out: Dict[str, list]) -> None:
    """One size of :func:`index_benchmark`: exact and HNSW search of ``queries`` over ``data[:n]``."""
    flat = make_index(dim, "flat")
    flat.add(data[:n])
    t = time.perf_counter()
    _, exact = flat.search(queries, min(k, n))
    out["exact_s"].append((time.perf_counter() - t) / len(queries))
    t = time.perf_counter()
    hnsw = make_index(dim, "hnsw", M=M, ef_search=ef_search)
    hnsw.add(data[:n])
    out["build_s"].append(time.perf_counter() - t)
    t = time.perf_counter()
    _, approx = hnsw.search(queries, min(k, n))
    out["hnsw_s"].append((time.perf_counter() - t) / len(queries))
    out["recall"].append(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))
    out["size"].append(n)
