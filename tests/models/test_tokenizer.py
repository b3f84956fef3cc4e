"""Tests for frontier.models.tokenizer: round trips, special tokens, padding, BPE compression, files."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from frontier.models.tokenizer import BOS, EOS, PAD, SEP, SPECIAL_TOKENS, UNK, Tokenizer

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A mixture of experts routes each token to k of E experts; the router learns which.",
    "State-space models keep a fixed-size state, whatever the context length is.\n\tTabs, too!",
    "Ünïcödé: naïve café, 日本語, emoji 🙂.",
]
ALPHABET = sorted(set("".join(CORPUS)))


@pytest.fixture(scope="module")
def bpe():
    return Tokenizer.bpe(CORPUS * 20, vocab_size=320)


@pytest.fixture(scope="module")
def char():
    return Tokenizer.char_level(CORPUS)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_char_round_trip_over_the_training_alphabet(text):
    tok = Tokenizer.char_level(CORPUS)
    ids = tok.encode(text)
    assert len(ids) == len(text) and UNK not in ids
    assert tok.decode(ids) == text


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))                   # BPE starts from bytes: any text, not just the training alphabet
def test_bpe_round_trip_on_any_text(text):
    tok = _BPE
    ids = tok.encode(text)
    assert all(SEP < i < tok.vocab_size for i in ids) or not ids
    assert tok.decode(ids) == text


_BPE = Tokenizer.bpe(CORPUS * 20, vocab_size=320)


def test_bpe_compresses_repeated_text_and_is_deterministic(bpe, char):
    text = " ".join(CORPUS)
    assert bpe.count(text) < 0.7 * char.count(text)
    again = Tokenizer.bpe(CORPUS * 20, vocab_size=320)
    assert again.encode(text) == bpe.encode(text)
    assert bpe.vocab_size <= 320
    # a frequent word becomes one token, as in real BPE vocabularies
    assert len(bpe.encode(" the")) == 1


def test_special_tokens_have_fixed_ids(bpe, char):
    word = Tokenizer.word_level(CORPUS)
    for tok in (bpe, char, word):
        assert [tok.token_to_id(s) for s in SPECIAL_TOKENS] == [PAD, BOS, EOS, SEP, UNK]
        ids = tok.encode("the fox", bos=True, eos=True)
        assert ids[0] == BOS and ids[-1] == EOS
        assert tok.decode(ids) == "the fox"
        assert tok.decode(ids, skip_special=False).startswith("<|bos|>")
    # text that spells a special token is still text
    assert BOS not in bpe.encode("<|bos|>") and bpe.decode(bpe.encode("<|bos|>")) == "<|bos|>"
    assert char.decode(char.encode("fox\u2603")) == "fox\ufffd"           # unseen character -> <|unk|>


def test_word_level_vocabulary_and_decoding():
    tok = Tokenizer.word_level(["the cat sat. the cat ran, the dog sat."], max_words=4)
    # most frequent first, ties in code-point order
    assert [tok.id_to_token(i) for i in range(5, 9)] == ["the", ".", "cat", "sat"]
    assert tok.encode("the dog") == [5, UNK]
    assert tok.decode(tok.encode("the cat sat.")) == "the cat sat."


def test_padded_batches_and_mask(bpe):
    texts = ["the fox", "a", "the quick brown fox jumps"]
    tokens, mask = bpe.encode_batch(texts, bos=True)
    lengths = [len(bpe.encode(t, bos=True)) for t in texts]
    assert tokens.dtype == torch.int64 and mask.dtype == torch.bool and tokens.shape == (3, max(lengths))
    assert mask.sum(1).tolist() == lengths
    assert torch.all(tokens[~mask] == PAD) and torch.all(tokens[:, 0] == BOS)
    for row, m, t in zip(tokens, mask, texts):
        assert bpe.decode(row[m]) == t
    cut, cut_mask = bpe.encode_batch(texts, max_len=3)
    assert cut.shape == (3, 3) and cut_mask[0].all()
    with pytest.raises(ValueError, match="pad=False"):
        bpe.encode_batch(texts, pad=False)
    with pytest.raises(TypeError, match="texts"):
        bpe.encode_batch("one string")


def test_save_and_load(tmp_path, bpe, char):
    for tok in (bpe, char, Tokenizer.word_level(CORPUS)):
        path = tok.save(tmp_path / f"{tok.kind}.json")
        back = Tokenizer.load(path)
        assert back.kind == tok.kind and back.vocab_size == tok.vocab_size
        text = CORPUS[0]
        assert back.encode(text) == tok.encode(text)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        Tokenizer.load(tmp_path / "bad.json")


def test_bad_inputs():
    with pytest.raises(ValueError, match="vocab_size"):
        Tokenizer.bpe(CORPUS, vocab_size=100)
    with pytest.raises(TypeError, match="text"):
        Tokenizer.char_level(CORPUS).encode(3)
    with pytest.raises(ValueError, match="ids"):
        Tokenizer.char_level(CORPUS).decode([10_000])
    with pytest.raises(ValueError, match="kind"):
        Tokenizer("sentencepiece", list(SPECIAL_TOKENS))
