"""The caption split that makes "unseen" mean unseen, and invariants of the tiny models (fast, untrained)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.multimodal import digits
from frontier.multimodal.clip import TinyCLIP, caption_tokenizer
from frontier.multimodal.vlm import QUESTIONS, TinyVLM, answer_for, encode_questions, text_only_baseline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_held_out_captions_never_occur_in_training():
    g = np.random.default_rng(0)
    seen = set(digits.sample_training_captions(np.tile(np.arange(10), 500), g, p_attribute=0.5))
    held_templates = {c for t in digits.HELDOUT_TEMPLATES for c in digits.class_captions(t)}
    held_combos = {digits.combo_caption(s, p) for s, p in digits.HELDOUT_COMBOS}
    assert not seen & held_templates and not seen & held_combos
    assert {digits.combo_caption(s, p) for s, p in digits.combos()} - held_combos <= seen
    # every word of a held-out caption does occur in training captions
    words = {w for c in seen for w in c.split()}
    assert {w for c in held_templates | held_combos for w in c.split()} <= words
    tok = caption_tokenizer()
    assert all(tok.UNK not in tok.encode(c) for c in held_templates | held_combos)


def test_digit_split_and_images():
    d = digits.load_digit_split(test_fraction=0.25, seed=0)
    assert len(d.train_labels) + len(d.test_labels) == 1797
    assert d.train_images.shape[1:] == (8, 8) and 0 <= d.train_images.min() and d.train_images.max() <= 1
    for name in digits.SAMPLE_IMAGES:                          # bundled with scikit-image: no download
        assert digits.sample_image(name).dtype == np.uint8
    assert digits.sample_image("chelsea", grey=True).ndim == 2
    with pytest.raises(ValueError):
        digits.sample_image("moon")
    with pytest.raises(ValueError):
        digits.load_digit_split(test_fraction=1.0)


def test_text_embedding_ignores_padding_after_the_end_token():
    model = TinyCLIP(seed=0).eval()
    short = model.tokenize(["a handwritten seven"])
    longer = torch.cat([short, torch.zeros(1, 4, dtype=torch.int64)], dim=1)    # more <|pad|> on the right
    with torch.no_grad():
        assert torch.allclose(model.encode_text(short), model.encode_text(longer), atol=1e-6)
    assert model.image_features(np.zeros((3, 8, 8))).shape == (3, 16, model.cfg.d_feature)


def test_vlm_wiring_and_baseline():
    vlm = TinyVLM(TinyCLIP(seed=0), seed=0)
    tokens, pos = encode_questions(["digit", "larger"])
    logits = vlm(np.zeros((2, 8, 8)), tokens)
    assert logits.shape == (2, 16 + tokens.shape[1], vlm.lm.config.vocab_size)
    assert vlm(np.zeros((2, 8, 8)), tokens, visual="none").shape[1] == tokens.shape[1]
    assert all(not p.requires_grad for p in vlm.clip.parameters())
    assert answer_for("larger", 5) == "no" and answer_for("larger", 6) == "yes" and answer_for("even", 0) == "yes"
    base = text_only_baseline([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
    assert base["larger"] == 0.0 and base["digit"] == 0.0       # majority answers "no" and a digit 0-6: all wrong
    with pytest.raises(ValueError):
        vlm(np.zeros((2, 8, 8)), tokens, visual="noise")
    with pytest.raises(ValueError):
        encode_questions(["colour"])
    assert set(QUESTIONS) == {"digit", "larger", "even"}
