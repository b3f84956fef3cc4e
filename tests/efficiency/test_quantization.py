"""Quantization formats: NF4's published levels, absmax's half-step bound, the bit counts, function-preserving outliers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier import hardware
from frontier.efficiency import quantization as q
from frontier.models import TinyLM, TinyLMConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# facts.md section 8 (bitsandbytes create_normal_map), to 4 decimals
NF4_PUBLISHED = [-1, -.6962, -.5251, -.3949, -.2844, -.1848, -.0911, 0, .0796, .1609, .2461, .3379, .4407, .5626,
                 .7230, 1]


def test_nf4_levels_equal_the_published_table():
    assert q.NF4_LEVELS.shape == (16,)
    np.testing.assert_allclose(q.NF4_LEVELS, NF4_PUBLISHED, atol=6e-5)
    assert 0.0 in q.NF4_LEVELS


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 40), scale=st.floats(1e-3, 1e3), seed=st.integers(0, 1000))
def test_absmax_int8_error_is_at_most_half_a_step(rows, cols, scale, seed):
    w = scale * torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    qt = q.quantize(w, "int8")
    err = (q.dequantize(qt) - w).abs()
    step = qt.scales.double()                        # (rows, 1)
    assert torch.all(err <= step / 2 * (1 + 1e-6) + 1e-12)
    assert int(qt.codes.abs().max()) <= 127


@pytest.mark.parametrize("fmt", ["nf4", "q4_0"])
def test_block_formats_bits_match_the_hardware_table(fmt):
    assert q.bits_per_weight(fmt) == hardware.bits_per_weight(fmt) == 4.5


def test_int4_bits_count_the_fp16_scale():
    assert q.bits_per_weight("int4", 32) == 4.5
    assert q.bits_per_weight("int4", 128) == 4.125


def test_q4_0_matches_ggml_reference_arithmetic():
    w = torch.linspace(-1.0, 0.6, 32)[None]
    qt = q.quantize(w, "q4_0")
    d = np.float16(-1.0 / -8.0)                    # the largest magnitude is -1.0 -> d = 0.125
    assert float(qt.scales[0, 0]) == pytest.approx(float(d))
    codes = np.minimum(15, np.trunc(w.numpy()[0] / float(d) + 8.5)).astype(int)
    np.testing.assert_array_equal(qt.codes.numpy()[0], codes)
    assert int(qt.codes[0, 0]) == 0                # the extreme maps to -8 exactly


@pytest.mark.parametrize("fmt", q.FORMATS)
def test_round_trip_is_close_and_nf4_codes_are_levels(fmt):
    w = torch.randn(16, 128, generator=torch.Generator().manual_seed(0))
    err = q.reconstruction_error(w, fmt)
    assert err["relative"] < (0.01 if fmt == "int8" else 0.15)


def test_more_groups_lower_int4_error():
    w = torch.randn(32, 256, generator=torch.Generator().manual_seed(0))
    errs = [q.reconstruction_error(w, "int4", g)["rmse"] for g in (256, 64, 16)]
    assert errs[0] > errs[1] > errs[2]


def test_outlier_injection_preserves_the_function_and_hurts_per_row_absmax():
    model = TinyLM(TinyLMConfig(vocab_size=16, d_model=32, n_layers=2, n_heads=4, d_ff=64), seed=0).eval()
    out = q.inject_outlier_features(model, n_channels=2, scale=30.0)
    x = torch.randint(0, 16, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(out(x).logits, model(x).logits, atol=1e-4, rtol=1e-4)
    w0, w1 = model.blocks[0].attn.q.weight, out.blocks[0].attn.q.weight
    e0 = q.reconstruction_error(w0, "int8")["relative"]
    e1 = q.reconstruction_error(w1, "int8")["relative"]
    assert e1 > 2 * e0


def test_quantize_model_changes_only_linear_weights():
    model = TinyLM(TinyLMConfig(vocab_size=16, d_model=64, n_layers=1, n_heads=4, d_ff=128), seed=0).eval()
    qm, info = q.quantize_model(model, "nf4")
    assert torch.equal(qm.embedding.weight, model.embedding.weight)
    assert not torch.equal(qm.head.weight, model.head.weight)
    assert info["bits_per_weight"] == pytest.approx(4.5)


def test_bad_input():
    w = torch.randn(4, 30)
    with pytest.raises(ValueError, match="group_size"):
        q.quantize(w, "int4", 16)
    with pytest.raises(ValueError, match="format"):
        q.quantize(w, "int3")
    with pytest.raises(ValueError, match="group_size"):
        q.quantize(torch.randn(4, 64), "nf4", 32)
    with pytest.raises(ValueError, match="group_size .* divide"):
        q.quantize(w, "nf4")
    with pytest.raises(ValueError, match="2-D"):
        q.quantize(torch.randn(8), "int8")
