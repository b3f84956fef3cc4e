"""The k-means patch codebook and the image-token generator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.models import TinyLM
from frontier.multimodal.codebook import (
    PatchCodebook, PositionalCodeModel, class_token, generator_config, generator_nll, reconstruction_curve,
    sample_digits,
)
from frontier.multimodal.digits import load_digit_split

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reconstruction_error_falls_as_the_codebook_grows():
    d = load_digit_split()
    curve = reconstruction_curve(d.train_images[:600], d.test_images[:200], sizes=(2, 8, 32, 128))
    errs = [curve[k] for k in (2, 8, 32, 128)]
    assert all(a > b for a, b in zip(errs, errs[1:])), curve
    assert errs[-1] < 0.25 * errs[0]


def test_encode_decode_shapes_and_exactness_on_centroids():
    d = load_digit_split()
    cb = PatchCodebook(16, patch=2, seed=0).fit(d.train_images[:300])
    codes = cb.encode(d.test_images[:5])
    assert codes.shape == (5, 16) and codes.min() >= 0 and codes.max() < 16
    images = cb.decode(codes)
    assert images.shape == (5, 8, 8)
    # an image made of centroids is its own reconstruction
    assert np.array_equal(cb.encode(images), codes)
    assert cb.reconstruction_mse(images) == pytest.approx(0.0, abs=1e-12)


def test_sampling_stays_in_the_code_range_and_is_seeded():
    model = TinyLM(generator_config(12), seed=0)
    a = sample_digits(model, [0, 3, 9], temperature=1.0, seed=1)
    b = sample_digits(model, [0, 3, 9], temperature=1.0, seed=1)
    assert a.shape == (3, 16) and np.array_equal(a, b) and a.max() < 12
    assert np.array_equal(sample_digits(model, [4], temperature=0), sample_digits(model, [4], temperature=0))
    assert class_token(12, 3) == 15


def test_bad_input():
    with pytest.raises(ValueError, match="not fitted"):
        PatchCodebook(4).encode(np.zeros((1, 8, 8)))
    cb = PatchCodebook(4).fit(load_digit_split().train_images[:50])
    with pytest.raises(ValueError, match="codes must lie"):
        cb.decode(np.full((1, 16), 7))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        cb.encode(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="not a multiple"):
        PatchCodebook(4, patch=3).fit(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="digits"):
        sample_digits(TinyLM(generator_config(4)), [10])
    with pytest.raises(ValueError, match="n_codes"):
        PatchCodebook(4).fit(np.zeros((3, 8, 8)))


def test_positional_model_counts_and_samples():
    codes = np.array([[0, 1], [0, 1], [2, 1], [3, 3]])
    labels = np.array([0, 0, 0, 1])
    m = PositionalCodeModel(4, alpha=0.0).fit(codes, labels)
    assert np.exp(m.log_probs[0, 0]) == pytest.approx([2 / 3, 0, 1 / 3, 0])
    assert m.sample([0, 1], temperature=0).tolist() == [[0, 1], [3, 3]]
    draws = m.sample([0] * 3000, temperature=1.0, seed=0)
    assert np.mean(draws[:, 0] == 0) == pytest.approx(2 / 3, abs=0.03)
    assert m.nll(codes[:2], labels[:2]) == pytest.approx(-np.log(2 / 3) / 2)


def test_generator_nll_equals_the_cross_entropy_of_the_logits():
    model = TinyLM(generator_config(6), seed=0)
    codes = np.random.default_rng(0).integers(0, 6, size=(4, 16))
    labels = np.array([0, 3, 5, 9])
    seqs = torch.cat([torch.as_tensor(6 + labels)[:, None], torch.as_tensor(codes)], 1)
    with torch.no_grad():
        logp = torch.log_softmax(model(seqs[:, :-1]).logits[..., :6], -1)
    direct = -float(logp.gather(-1, torch.as_tensor(codes)[..., None]).mean())
    assert generator_nll(model, codes, labels) == pytest.approx(direct, rel=1e-5)
