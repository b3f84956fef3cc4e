"""Splitting documents into chunks: fixed windows of tokens with overlap, sentences, or sections.

A :class:`Chunk` keeps the character range it covers in its document, so relevance can be judged by containment:
a chunk is relevant to a fact when it contains the whole sentence that states it (:func:`relevant_chunks`).
Tokens here are words and punctuation marks (``\\w+|[^\\w\\s]``), a stand-in for a model tokenizer that keeps
offsets exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

from ..validation import choice, nonnegative_int, positive_int

__all__ = ["Chunk", "METHODS", "chunk_fixed", "chunk_sentences", "chunk_sections", "chunk_documents",
           "relevant_chunks"]

#: The chunking methods :func:`chunk_documents` knows.
METHODS = ("fixed", "sentence", "section")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENT_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: ``text == document.text[start:end]`` (plus ``title`` when prefixed)."""
    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str

    def contains(self, start: int, end: int) -> bool:
        """Whether the character range ``[start, end)`` of the same document lies inside this chunk."""
        return self.start <= start and end <= self.end


def _doc_fields(doc) -> Tuple[str, str]:
    doc_id, text = getattr(doc, "doc_id", None), getattr(doc, "text", None)
    if not isinstance(doc_id, str) or not isinstance(text, str):
        raise TypeError(f"documents must have str attributes doc_id and text, got {type(doc).__name__}")
    return doc_id, text


def chunk_fixed(doc, size: int, overlap: int = 0, *, first_id: int = 0) -> List[Chunk]:
    """Windows of ``size`` tokens, each starting ``size - overlap`` tokens after the previous one.

    Args:
        doc: anything with ``doc_id`` and ``text`` (a :class:`frontier.data.Document`).
        size: tokens per chunk (> 0).
        overlap: tokens shared by neighbouring chunks (0 <= overlap < size).
        first_id: the ``chunk_id`` of the first chunk.
    """
    size = positive_int("size", size)
    overlap = nonnegative_int("overlap", overlap)
    if overlap >= size:
        raise ValueError(f"overlap must be smaller than size, got overlap={overlap} >= size={size}")
    doc_id, text = _doc_fields(doc)
    return _windows(doc_id, text, [m.span() for m in _TOKEN.finditer(text)], size, overlap, first_id)


def _windows(doc_id: str, text: str, units: List[Tuple[int, int]], size: int, overlap: int,
             first_id: int) -> List[Chunk]:
    """Chunks of ``size`` consecutive ``units`` (character spans of tokens or sentences) of ``text``, each sharing
    ``overlap`` units with the one before; the last window ends at the last unit."""
    out: List[Chunk] = []
    i = 0
    while i < len(units):
        j = min(i + size, len(units))
        s, e = units[i][0], units[j - 1][1]
        out.append(Chunk(first_id + len(out), doc_id, s, e, text[s:e]))
        if j == len(units):
            break
        i += size - overlap
    return out


def _sentences(text: str) -> List[Tuple[int, int]]:
    out, pos = [], 0
    for m in _SENT_END.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def chunk_sentences(doc, sentences_per_chunk: int = 1, overlap: int = 0, *, first_id: int = 0) -> List[Chunk]:
    """Groups of ``sentences_per_chunk`` consecutive sentences (headings count as sentences), sharing ``overlap``."""
    n = positive_int("sentences_per_chunk", sentences_per_chunk)
    overlap = nonnegative_int("overlap", overlap)
    if overlap >= n:
        raise ValueError(f"overlap must be smaller than sentences_per_chunk, got {overlap} >= {n}")
    doc_id, text = _doc_fields(doc)
    return _windows(doc_id, text, _sentences(text), n, overlap, first_id)


def chunk_sections(doc, *, first_id: int = 0) -> List[Chunk]:
    """One chunk per section (``doc.sections``: ``[(heading, start, end)]``); the whole text if there are none."""
    doc_id, text = _doc_fields(doc)
    sections = getattr(doc, "sections", None) or [("", 0, len(text))]
    return [Chunk(first_id + i, doc_id, s, e, text[s:e]) for i, (_, s, e) in enumerate(sections)]


def chunk_documents(documents: Iterable, method: str = "fixed", size: int = 64, overlap: int = 0) -> List[Chunk]:
    """Chunk every document with one method; chunk ids run 0..n-1 over the whole collection.

    Args:
        documents: objects with ``doc_id`` and ``text`` (and ``sections`` for ``"section"``); not empty.
        method: ``"fixed"`` (``size`` tokens, ``overlap`` tokens shared), ``"sentence"`` (``size`` sentences,
            ``overlap`` sentences shared) or ``"section"`` (``size`` and ``overlap`` ignored).
    """
    choice("method", method, METHODS)
    docs = list(documents)
    if not docs:
        raise ValueError("documents must not be empty")
    out: List[Chunk] = []
    for d in docs:
        if method == "fixed":
            out += chunk_fixed(d, size, overlap, first_id=len(out))
        elif method == "sentence":
            out += chunk_sentences(d, size, overlap, first_id=len(out))
        else:
            out += chunk_sections(d, first_id=len(out))
    return out


def relevant_chunks(chunks: Sequence[Chunk], doc_id: str, spans: Sequence[Tuple[int, int]]) -> List[int]:
    """Ids of the chunks of ``doc_id`` that contain at least one of ``spans`` entirely."""
    return [c.chunk_id for c in chunks if c.doc_id == doc_id and any(c.contains(s, e) for s, e in spans)]
