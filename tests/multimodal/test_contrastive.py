"""InfoNCE against a direct computation, its symmetry, the temperature, and recall@k."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from frontier.multimodal import CLIP_INIT_LOGIT_SCALE, clip_logits, info_nce, recall_at_k, zero_shot_accuracy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _direct(img, txt, scale):
    """The loss written out with Python loops over a double-precision copy."""
    a = img.double() / img.double().norm(dim=1, keepdim=True)
    b = txt.double() / txt.double().norm(dim=1, keepdim=True)
    s = math.exp(min(scale, math.log(100)))
    n = len(a)
    sim = [[s * float(a[i] @ b[j]) for j in range(n)] for i in range(n)]
    i2t = -sum(sim[i][i] - math.log(sum(math.exp(sim[i][j]) for j in range(n))) for i in range(n)) / n
    t2i = -sum(sim[j][j] - math.log(sum(math.exp(sim[i][j]) for i in range(n))) for j in range(n)) / n
    return (i2t + t2i) / 2


@pytest.mark.parametrize("seed, scale", [(0, CLIP_INIT_LOGIT_SCALE), (1, 0.0), (2, 1.3), (3, 7.0)])
def test_info_nce_equals_direct_computation(seed, scale):
    g = torch.Generator().manual_seed(seed)
    img, txt = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert float(info_nce(img, txt, scale)) == pytest.approx(_direct(img, txt, scale), rel=1e-5)


def test_info_nce_is_symmetric_and_scale_invariant():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    assert float(info_nce(img, txt)) == pytest.approx(float(info_nce(txt, img)), rel=1e-6)
    assert float(info_nce(3 * img, 0.5 * txt)) == pytest.approx(float(info_nce(img, txt)), rel=1e-5)


def test_clip_initial_temperature_and_chance_level():
    assert CLIP_INIT_LOGIT_SCALE == pytest.approx(math.log(1 / 0.07))
    x = torch.ones(16, 4)
    # every pair equally similar: both cross-entropies are log(B)
    assert float(info_nce(x, x)) == pytest.approx(math.log(16), rel=1e-6)
    # the scale is clamped at 100 as in CLIP
    assert float(clip_logits(x[:2], x[:2], 10.0)[0, 0]) == pytest.approx(100.0)


def test_aligned_encoders_have_recall_one_and_low_loss():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(50, 16, generator=g)
    sim = (emb / emb.norm(dim=1, keepdim=True)) @ (emb / emb.norm(dim=1, keepdim=True)).T
    assert recall_at_k(sim, 1) == 1.0
    shuffled = sim[:, torch.randperm(50, generator=g)]
    assert recall_at_k(shuffled, 1) < 0.2
    assert float(info_nce(emb, emb, math.log(100))) < 0.05 < float(info_nce(emb, torch.randn(50, 16, generator=g)))


def test_recall_ties_and_relevance():
    assert recall_at_k(np.zeros((4, 4)), 1) == 0.25            # ties go to the first candidate
    rel = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    assert recall_at_k(np.array([[3, 2, 1], [0, 1, 2]]), 1, rel) == 0.0
    assert recall_at_k(np.array([[3, 2, 1], [0, 1, 2]]), 2, rel) == 0.5
    assert recall_at_k(np.array([[3, 2, 1], [0, 1, 2]]), 3, rel) == 1.0


def test_zero_shot_accuracy_of_class_prototypes():
    protos = torch.eye(3)
    imgs = torch.tensor([[1.0, 0.1, 0], [0, 2, 0.5], [0, 0.1, 1]])
    assert zero_shot_accuracy(imgs, protos, [0, 1, 2]) == 1.0
    assert zero_shot_accuracy(imgs, protos, [1, 1, 1]) == pytest.approx(1 / 3)


@pytest.mark.parametrize("call, err", [
    (lambda: info_nce(torch.randn(4, 3), torch.randn(5, 3)), ValueError),
    (lambda: info_nce(torch.randn(4), torch.randn(4)), TypeError),
    (lambda: info_nce(torch.randn(4, 3), torch.randn(4, 3), float("nan")), ValueError),
    (lambda: recall_at_k(np.zeros((3, 3)), 4), ValueError),
    (lambda: recall_at_k(np.zeros((3, 3)), 0), ValueError),
    (lambda: recall_at_k(np.zeros((5, 3)), 1), ValueError),
    (lambda: recall_at_k(np.zeros((3, 3)), 1, np.ones((2, 3))), ValueError),
])
def test_bad_input(call, err):
    with pytest.raises(err):
        call()


def test_real_model_adapter_validates_before_downloading():
    from frontier.multimodal.hf_clip import HFCLIP

    with pytest.raises(ValueError, match="model id"):
        HFCLIP("  ")
