"""Token counts against the published numbers (facts.md section 13) and the rules behind them."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from frontier.multimodal import budgets as B


def test_clip_and_llava_counts():
    assert B.vit_tokens(224, 14, cls_token=False) == 256
    assert B.vit_tokens(224, 14) == 257                       # CLIP keeps a CLS token
    assert B.vit_tokens(336, 14, cls_token=False) == 576
    assert B.llava15_tokens() == 576                          # LLaVA-1.5 drops the CLS token
    assert B.vit_tokens(672, 14, cls_token=False) == 2304


def test_llava_next_anyres():
    assert B.select_best_resolution(672, 672) == (672, 672)
    assert B.anyres_tokens(672, 672) == 4 * 576 + 576 == 2880
    # Hugging Face's processor adds one newline token per feature row (48 for a square image)
    assert B.anyres_tokens(672, 672, newline=True) == 2304 + 48 + 576
    # a 300 x 700 image fits 336 x 1008 without downscaling (1 x 3 tiles); 336 x 672 would shrink it
    assert B.select_best_resolution(300, 700) == (336, 1008)
    assert B.anyres_tokens(300, 700) == 3 * 576 + 576
    assert B.select_best_resolution(336, 600) == (336, 672)


def test_qwen2vl_dynamic_resolution():
    assert B.smart_resize(672, 672) == (672, 672)
    assert B.qwen2vl_tokens(672, 672) == 24 * 24
    assert B.qwen2vl_tokens(1000, 500) == (1008 // 28) * (504 // 28)
    # tiny images are scaled up to at least min_pixels (4 tokens), huge ones down to max_pixels
    assert B.qwen2vl_tokens(20, 20) >= 4
    assert B.qwen2vl_tokens(20000, 20000) <= 16384


@given(h=st.integers(28, 4000), w=st.integers(28, 4000))
def test_smart_resize_invariants(h, w):
    if max(h, w) / min(h, w) > 200:
        return
    rh, rw = B.smart_resize(h, w)
    assert rh % 28 == 0 and rw % 28 == 0
    assert 4 * 28 * 28 <= rh * rw <= 16384 * 28 * 28
    assert abs(math.log(rh / rw) - math.log(h / w)) < 0.7      # aspect ratio roughly kept


def test_whisper_rates():
    assert B.audio_frames(30) == 3000                         # 16 kHz, hop 160
    assert B.audio_frames(1) == 100
    assert B.audio_tokens(30) == 1500 and B.whisper_tokens(30) == 1500
    assert B.audio_tokens(60) / 60 == 50                      # 50 per second
    assert B.whisper_tokens(10) == 1500                       # padded to a 30-s window
    assert B.whisper_tokens(45) == 3000


def test_video_and_fit():
    assert B.video_tokens(10, 2, 576) == 20 * 576
    assert B.video_tokens(10, 2, 576, temporal_pool=2) == 10 * 576
    assert B.video_tokens(10, 2, 576, spatial_pool=4) == 20 * 144
    assert B.seconds_that_fit(128_000, 50) == 2560.0
    assert B.seconds_that_fit(128_000, 50, reserved=28_000) == 2000.0


def test_encoder_table_matches_published_numbers():
    t = B.encoder_tokens()
    assert [e.tokens for e in t.values()][:4] == [256, 576, 2304, 2880]


@pytest.mark.parametrize("call, err", [
    (lambda: B.vit_tokens(224, 15), ValueError),               # not divisible
    (lambda: B.vit_tokens(10, 14), ValueError),                # patch larger than the image
    (lambda: B.audio_tokens(-1), ValueError),                  # negative duration
    (lambda: B.audio_frames(1, sample_rate=-16000), ValueError),
    (lambda: B.video_tokens(10, -2, 576), ValueError),
    (lambda: B.seconds_that_fit(100, 1, reserved=200), ValueError),
    (lambda: B.smart_resize(10, 5000), ValueError),            # aspect ratio above 200
    (lambda: B.anyres_tokens(672, 672, tile=300), ValueError),
    (lambda: B.vit_tokens("224", 14), TypeError),
])
def test_bad_input_raises(call, err):
    with pytest.raises(err):
        call()
