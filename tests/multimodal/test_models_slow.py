"""The lessons' experiment claims, at the smallest size that shows them (seeded, seconds each).

* the trained tiny CLIP beats chance (10%) by a wide margin at zero-shot digit naming, on held-out
  images and on caption templates it never saw;
* the tiny VLM answers questions about held-out digits far above the text-only baseline, and with the
  image blanked, or with the projector replaced by an untrained one, falls to that baseline;
* the image-token generator draws digits a separate classifier recognises as the requested class, and predicts
  held-out codes better than a model that draws each position independently given the class.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.multimodal.clip import TinyCLIP, evaluate_clip, train_tiny_clip
from frontier.multimodal.codebook import (
    PatchCodebook, PositionalCodeModel, fit_judge, generator_config, generator_nll, sample_digits, train_generator,
)
from frontier.multimodal.digits import load_digit_split
from frontier.multimodal.vlm import TinyVLM, evaluate_vlm, text_only_baseline, train_tiny_vlm
from frontier.models import TinyLM

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def data():
    return load_digit_split(seed=0)


@pytest.fixture(scope="module")
def clip(data):
    torch.set_num_threads(1)
    model = TinyCLIP(seed=0)
    train_tiny_clip(model, data, steps=150, seed=0, progress=False)
    return model


def test_tiny_clip_beats_chance(clip, data):
    scores = evaluate_clip(clip, data.test_images, data.test_labels)
    assert scores["zero_shot_seen"] > 0.5, scores            # chance is 0.1
    assert scores["zero_shot_unseen"] > 0.5, scores          # templates never seen in training
    assert scores["recall@5_seen"] > 0.9, scores             # chance is 0.5
    assert scores["combo_seen"] > 0.4, scores                # chance is 0.25


def test_vlm_uses_the_image(clip, data):
    vlm = TinyVLM(clip, seed=0)
    before = {k: v.clone() for k, v in vlm.clip.state_dict().items()}
    train_tiny_vlm(vlm, data, steps=150, seed=0, progress=False)
    assert all(torch.equal(before[k], v) for k, v in vlm.clip.state_dict().items())   # the encoder stayed frozen
    base = text_only_baseline(data.train_labels, data.test_labels)["mean"]
    seen = evaluate_vlm(vlm, data.test_images, data.test_labels)["mean"]
    blank = evaluate_vlm(vlm, data.test_images, data.test_labels, visual="blank")["mean"]
    random_proj = evaluate_vlm(vlm, data.test_images, data.test_labels, visual="random_projection")["mean"]
    assert seen > base + 0.3, (seen, base)
    assert blank < base + 0.05, (blank, base)
    assert random_proj < base + 0.1, (random_proj, base)


def test_generated_digits_have_the_requested_class(data):
    cb = PatchCodebook(32, seed=0).fit(data.train_images)
    model = TinyLM(generator_config(32), seed=0)
    train_generator(model, cb.encode(data.train_images), data.train_labels, steps=150, seed=0, progress=False)
    clf = fit_judge(data.train_images, data.train_labels)
    want = np.repeat(np.arange(10), 10)
    images = cb.decode(sample_digits(model, want, temperature=0.5, seed=0))
    assert clf.score(images.reshape(-1, 64), want) > 0.5      # chance is 0.1
    # conditioning on earlier codes beats drawing each position independently given the class
    base = PositionalCodeModel(32).fit(cb.encode(data.train_images), data.train_labels)
    test_codes = cb.encode(data.test_images)
    assert generator_nll(model, test_codes, data.test_labels) < base.nll(test_codes, data.test_labels)
