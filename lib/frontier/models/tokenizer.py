"""Tokenizers for the course's small models: character-level, word-level and byte-pair encoding (BPE).

All three share five special tokens with fixed ids, so a model, a task and a
padded batch agree on them whichever tokenizer made the data:

====  ===========  ==========================================
 id    token        use
====  ===========  ==========================================
 0    ``<|pad|>``   padding (masked out of losses and attention)
 1    ``<|bos|>``   beginning of a sequence
 2    ``<|eos|>``   end of a sequence
 3    ``<|sep|>``   separator (prompt / answer, question / passage)
 4    ``<|unk|>``   a character or word the tokenizer never saw
====  ===========  ==========================================

* :meth:`Tokenizer.char_level` gives one id per character of the training text.
* :meth:`Tokenizer.word_level` gives one id per word or punctuation mark (whitespace is
  dropped, so decoding puts single spaces back; it is lossy).
* :meth:`Tokenizer.bpe` trains a byte-level BPE, as GPT-2 and its successors use,
  with the Hugging Face ``tokenizers`` library, offline, on the texts passed
  in: it starts from the 256 bytes (so every string encodes, nothing is
  unknown) and merges the most frequent adjacent pair until ``vocab_size``
  is reached.  Token counts then mean what they mean for real models:
  frequent words are one token, rare ones several.

``decode(encode(text)) == text`` for the character tokenizer whenever every
character of ``text`` was in its training text, and for BPE on any text.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

from ..validation import choice, positive_int

__all__ = ["Tokenizer", "SPECIAL_TOKENS", "PAD", "BOS", "EOS", "SEP", "UNK", "KINDS"]

#: The special tokens, in id order.
SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|eos|>", "<|sep|>", "<|unk|>")
PAD, BOS, EOS, SEP, UNK = range(5)
#: The kinds of tokenizer.
KINDS = ("char", "word", "bpe")
_FORMAT = "frontier-tokenizer/1"
_WORD = re.compile(r"\w+|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?)]}'\"%")


def _texts(texts: Union[str, Iterable[str]]) -> List[str]:
    if isinstance(texts, str):
        texts = [texts]
    try:
        out = list(texts)
    except TypeError:
        raise TypeError(f"texts must be a string or an iterable of strings, got {type(texts).__name__}") from None
    if not out or not all(isinstance(t, str) for t in out):
        raise TypeError("texts must be a non-empty string or iterable of strings")
    return out


class Tokenizer:
    """Text to token ids and back (see the module docstring); build one with
    :meth:`char_level`, :meth:`word_level`, :meth:`bpe` or :meth:`load`.

    Attributes:
        kind: ``"char"``, ``"word"`` or ``"bpe"``.
        vocab_size: number of ids, special tokens included.
    """

    PAD, BOS, EOS, SEP, UNK = PAD, BOS, EOS, SEP, UNK

    def __init__(self, kind: str, vocab: Optional[Sequence[str]] = None, hf=None):
        self.kind = choice("kind", kind, KINDS)
        if kind == "bpe":
            if hf is None:
                raise ValueError("a BPE tokenizer needs its trained `tokenizers.Tokenizer` (hf)")
            self._hf = hf
            if hasattr(hf, "encode_special_tokens"):     # text that spells "<|bos|>" stays text
                hf.encode_special_tokens = True
            for i, tok in enumerate(SPECIAL_TOKENS):
                if hf.token_to_id(tok) != i:
                    raise ValueError(f"special token {tok} must have id {i}")
            self._vocab: List[str] = []
        else:
            vocab = list(vocab or [])
            if tuple(vocab[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
                raise ValueError(f"vocab must start with the special tokens {SPECIAL_TOKENS}")
            if len(set(vocab)) != len(vocab):
                raise ValueError("vocab has duplicate entries")
            self._vocab = vocab
            self._ids: Dict[str, int] = {t: i for i, t in enumerate(vocab)}
            self._hf = None

    # -- construction -----------------------------------------------------------------------------------------
    @classmethod
    def char_level(cls, texts: Union[str, Iterable[str]]) -> "Tokenizer":
        """One id per distinct character of ``texts`` (sorted by code point), after the special tokens."""
        chars = sorted(set("".join(_texts(texts))))
        return cls("char", list(SPECIAL_TOKENS) + chars)

    @classmethod
    def word_level(cls, texts: Union[str, Iterable[str]], max_words: Optional[int] = None) -> "Tokenizer":
        """One id per word (``\\w+``) or punctuation mark of ``texts``, the most frequent first.

        ``max_words`` keeps only that many (ties broken alphabetically); the
        others encode as ``<|unk|>``.
        """
        counts = Counter(w for t in _texts(texts) for w in _WORD.findall(t))
        words = sorted(counts, key=lambda w: (-counts[w], w))
        if max_words is not None:
            words = words[:positive_int("max_words", max_words)]
        return cls("word", list(SPECIAL_TOKENS) + words)

    @classmethod
    def bpe(cls, texts: Union[str, Iterable[str]], vocab_size: int = 512, *, min_frequency: int = 2) -> "Tokenizer":
        """Train a byte-level BPE with ``vocab_size`` ids (at least 5 special + 256 bytes + 1 merge) on ``texts``.

        Runs offline with the ``tokenizers`` library; deterministic for the
        same texts.  ``min_frequency``: a pair must occur this often to be merged.
        """
        vocab_size = positive_int("vocab_size", vocab_size)
        if vocab_size <= len(SPECIAL_TOKENS) + 256:
            raise ValueError(f"vocab_size must exceed {len(SPECIAL_TOKENS) + 256} (special tokens + 256 bytes), "
                             f"got {vocab_size}")
        positive_int("min_frequency", min_frequency)
        texts = _texts(texts)
        try:
            from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers, trainers
        except ImportError as exc:                       # pragma: no cover - tokenizers is a base requirement
            raise ImportError("byte-pair tokenizers need the `tokenizers` package: pip install tokenizers") from exc
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        hf.train_from_iterator(texts, trainer)
        return cls("bpe", hf=hf)

    # -- vocabulary -------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._hf.get_vocab_size() if self._hf is not None else len(self._vocab)

    def id_to_token(self, i: int) -> str:
        """The token string of id ``i`` (BPE: its byte-level form, where ``Ġ`` stands for a space)."""
        if not 0 <= int(i) < self.vocab_size:
            raise ValueError(f"id must lie in [0, {self.vocab_size}), got {i}")
        return self._hf.id_to_token(int(i)) if self._hf is not None else self._vocab[int(i)]

    def token_to_id(self, token: str) -> Optional[int]:
        """The id of ``token`` (None if it is not in the vocabulary)."""
        return self._hf.token_to_id(token) if self._hf is not None else self._ids.get(token)

    # -- encoding -----------------------------------------------------------------------------------------------
    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> List[int]:
        """Token ids of ``text``, with ``<|bos|>`` / ``<|eos|>`` added when asked."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self._hf is not None:
            ids = self._hf.encode(text, add_special_tokens=False).ids
        else:
            pieces = text if self.kind == "char" else _WORD.findall(text)
            ids = [self._ids.get(p, UNK) for p in pieces]
        return ([BOS] if bos else []) + list(ids) + ([EOS] if eos else [])

    def decode(self, ids: Union[Sequence[int], torch.Tensor], *, skip_special: bool = True) -> str:
        """The text of ``ids``.  ``skip_special`` drops pad/bos/eos/sep (``<|unk|>`` becomes ``\\ufffd``)."""
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 1:
                raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        ids = [int(i) for i in ids]
        n = self.vocab_size
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ValueError(f"ids must lie in [0, {n}), got {bad[0]}")
        if skip_special:
            ids = [i for i in ids if i >= UNK]
        if self._hf is not None:
            if skip_special and UNK in ids:
                return "\ufffd".join(self._hf.decode(part, skip_special_tokens=False)
                                     for part in _split(ids, UNK))
            return self._hf.decode(ids, skip_special_tokens=False)
        pieces = ["\ufffd" if (i == UNK and skip_special) else self._vocab[i] for i in ids]
        if self.kind == "char":
            return "".join(pieces)
        out = ""
        for p in pieces:
            out += p if (not out or p in _NO_SPACE_BEFORE) else " " + p
        return out

    def encode_batch(self, texts: Sequence[str], *, pad: bool = True, max_len: Optional[int] = None,
                     bos: bool = False, eos: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(tokens (batch, seq) int64, mask (batch, seq) bool)`` for ``texts``, right-padded with ``<|pad|>``.

        ``mask`` is True on real tokens.  ``seq`` is the longest encoding, or
        ``max_len`` when given (longer encodings are cut to it).  With
        ``pad=False`` every encoding must have the same length.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string (use encode)")
        rows = [self.encode(t, bos=bos, eos=eos) for t in texts]
        if not rows:
            raise ValueError("texts must not be empty")
        if max_len is not None:
            max_len = positive_int("max_len", max_len)
            rows = [r[:max_len] for r in rows]
        lengths = [len(r) for r in rows]
        if not pad and len(set(lengths)) > 1:
            raise ValueError(f"pad=False needs encodings of one length, got lengths {sorted(set(lengths))}")
        seq = max_len if (max_len is not None and pad) else max(lengths)
        tokens = torch.full((len(rows), seq), PAD, dtype=torch.int64)
        mask = torch.zeros((len(rows), seq), dtype=torch.bool)
        for b, r in enumerate(rows):
            tokens[b, :len(r)] = torch.tensor(r, dtype=torch.int64)
            mask[b, :len(r)] = True
        return tokens, mask

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` (no special tokens)."""
        return len(self.encode(text))

    # -- files ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-able description (what :meth:`save` writes)."""
        data = {"format": _FORMAT, "kind": self.kind}
        if self._hf is not None:
            data["tokenizers"] = json.loads(self._hf.to_str())
        else:
            data["vocab"] = self._vocab
        return data

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the tokenizer to a JSON file; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Tokenizer":
        """The tokenizer :meth:`save` wrote to ``path``."""
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a tokenizer file written by Tokenizer.save")
        if data["kind"] == "bpe":
            from tokenizers import Tokenizer as HFTokenizer
            return cls("bpe", hf=HFTokenizer.from_str(json.dumps(data["tokenizers"])))
        return cls(data["kind"], data["vocab"])

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


def _split(ids: List[int], sep: int) -> List[List[int]]:
    parts, cur = [], []
    for i in ids:
        if i == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(i)
    parts.append(cur)
    return parts
