"""Tests for frontier.architecture.long_context."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.architecture import long_context as lc
from frontier.architecture.params import LLAMA2_7B, LLAMA2_70B, MIXTRAL_8X7B, kv_cache_bytes

FAST = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------- RoPE

def test_rope_inv_freq_values():
    theta = lc.rope_inv_freq(128, 10_000.0)
    assert theta.shape == (64,)
    assert theta[0] == 1.0
    assert theta[-1] == pytest.approx(10_000.0 ** (-126 / 128))
    assert np.all(np.diff(theta) < 0)
    # Mixtral's base makes the slowest wavelength (1e6/1e4)**(126/128) = 93.06 times longer
    ratio = lc.wavelengths(lc.rope_inv_freq(128, 1e6))[-1] / lc.wavelengths(theta)[-1]
    assert ratio == pytest.approx(93.057, rel=1e-4)


def _score(q, k, m, n, inv_freq, factor=1.0):
    qm = lc.apply_rope(q[None, :], [m], inv_freq, factor)[0]
    kn = lc.apply_rope(k[None, :], [n], inv_freq, factor)[0]
    return float(qm @ kn)


@FAST
@given(m=st.integers(0, 5000), n=st.integers(0, 5000), shift=st.integers(-2000, 2000),
       seed=st.integers(0, 1000), method=st.sampled_from(lc.ROPE_METHODS),
       scale=st.floats(1.0, 16.0))
def test_rope_score_depends_only_on_relative_position(m, n, shift, seed, method, scale):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, 32))
    inv_freq, factor = lc.scaled_inv_freq(method, 32, scale, original_context=256)
    a = _score(q, k, m, n, inv_freq, factor)
    b = _score(q, k, m + shift, n + shift, inv_freq, factor)
    assert a == pytest.approx(b, rel=1e-7, abs=1e-7)


def test_apply_rope_equals_complex_multiplication():
    """Second implementation: pair j = x_j + i x_{j+d/2}, rotated by e^{i m theta_j}."""
    d, S = 16, 7
    theta = lc.rope_inv_freq(d)
    x = np.random.default_rng(0).standard_normal((2, S, d))
    z = (x[..., : d // 2] + 1j * x[..., d // 2:]) * np.exp(1j * np.outer(np.arange(S), theta))
    expected = np.concatenate([z.real, z.imag], axis=-1)
    np.testing.assert_allclose(lc.apply_rope(x, np.arange(S), theta), expected, atol=1e-12)
    out_t = lc.apply_rope(torch.tensor(x), np.arange(S), theta)
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), expected, atol=1e-12)
    # a rotation keeps lengths; YaRN's factor scales them
    np.testing.assert_allclose(np.linalg.norm(expected, axis=-1), np.linalg.norm(x, axis=-1))
    scaled = lc.apply_rope(x, np.arange(S), theta, attention_factor=1.5)
    np.testing.assert_allclose(scaled, 1.5 * expected, atol=1e-12)


@pytest.mark.parametrize("method", lc.ROPE_METHODS)
def test_every_method_with_scale_one_is_plain_rope(method):
    for d, base in [(64, 1e4), (128, 1e6)]:
        inv_freq, factor = lc.scaled_inv_freq(method, d, 1.0, base=base, original_context=4096)
        np.testing.assert_allclose(inv_freq, lc.rope_inv_freq(d, base), rtol=1e-12)
        assert factor == 1.0
    np.testing.assert_allclose(lc.yarn_inv_freq(64, 1.0, 4096, ramp="index"), lc.rope_inv_freq(64))


def test_yarn_attention_factor_published_values():
    assert round(lc.yarn_attention_factor(8), 4) == 1.2079
    assert round(lc.yarn_attention_factor(32), 4) == 1.3466
    assert lc.yarn_attention_factor(1) == 1.0
    assert lc.scaled_inv_freq("yarn", 128, 8.0)[1] == lc.yarn_attention_factor(8)


def test_position_interpolation_maps_long_distances_onto_trained_ones():
    theta = lc.rope_inv_freq(64)
    pi = lc.pi_inv_freq(64, 4.0)
    dist = np.arange(0, 2000, 7)
    np.testing.assert_allclose(lc.rope_score_vs_distance(4 * dist, pi),
                               lc.rope_score_vs_distance(dist, theta), atol=1e-9)


def test_ntk_keeps_the_fastest_pair_and_slows_the_slowest_by_s():
    theta, ntk = lc.rope_inv_freq(128), lc.ntk_inv_freq(128, 8.0)
    assert ntk[0] == theta[0]
    assert ntk[-1] == pytest.approx(theta[-1] / 8.0, rel=1e-12)
    assert np.all(ntk <= theta) and np.all(ntk >= theta / 8.0 - 1e-18)


def test_dynamic_ntk_matches_hugging_face_formula_at_hand_computed_points():
    # HF: base * (factor * seq_len / max_pos - (factor - 1)) ** (dim / (dim - 2))
    # d=128, L=4096, factor 2, seq_len 8192: 1e4 * (4 - 1) ** (128/126) = 30527.74
    assert lc.dynamic_ntk_base(128, 8192, 4096, 2.0, 1e4) == pytest.approx(30527.74, rel=1e-6)
    # d=64, L=2048, factor 4, seq_len 3072: 1e4 * (6 - 3) ** (64/62) = 31082.24
    assert lc.dynamic_ntk_base(64, 3072, 2048, 4.0, 1e4) == pytest.approx(31082.24, rel=1e-6)
    # no change until the sequence outgrows the trained context
    assert lc.dynamic_ntk_base(128, 100, 4096, 2.0, 1e4) == 1e4
    # factor 1 is static NTK with s = seq_len / L
    np.testing.assert_allclose(lc.dynamic_ntk_inv_freq(128, 4 * 4096, 4096), lc.ntk_inv_freq(128, 4.0))


def test_yarn_keeps_fast_pairs_interpolates_slow_ones_and_ramps_between():
    d, s, L = 128, 8.0, 4096
    theta = lc.rope_inv_freq(d)
    yarn = lc.yarn_inv_freq(d, s, L, alpha=1, beta=32)
    r = lc.rotations_in_context(theta, L)
    fast, slow, mid = r > 32, r < 1, (r >= 1) & (r <= 32)
    assert fast.any() and slow.any() and mid.any()
    np.testing.assert_allclose(yarn[fast], theta[fast])
    np.testing.assert_allclose(yarn[slow], theta[slow] / s)
    gamma = (r[mid] - 1) / 31
    np.testing.assert_allclose(yarn[mid], (1 - gamma) * theta[mid] / s + gamma * theta[mid])
    # the Hugging Face ramp agrees outside [alpha, beta]
    hf = lc.yarn_inv_freq(d, s, L, ramp="index")
    np.testing.assert_allclose(hf[fast], theta[fast])
    np.testing.assert_allclose(hf[slow], theta[slow] / s)


def test_yarn_index_ramp_matches_hugging_face_by_hand():
    # find_correction_dim(32) = 128 ln(4096 / (64 pi)) / (2 ln 1e4) = 20.95 -> floor 20
    # find_correction_dim(1)  = 128 ln(4096 / (2 pi)) / (2 ln 1e4)  = 45.03 -> ceil 46
    ratio = lc.yarn_inv_freq(128, 8.0, 4096, ramp="index") / lc.rope_inv_freq(128)
    gamma = 1 - np.clip((np.arange(64) - 20) / 26, 0, 1)
    np.testing.assert_allclose(ratio, gamma + (1 - gamma) / 8)
    assert ratio[33] == pytest.approx(0.5 + 0.5 / 8)


def test_score_vs_distance_ones_and_random():
    theta = lc.rope_inv_freq(32)
    dist = np.arange(0, 300, 5)
    ones = lc.rope_score_vs_distance(dist, theta)
    direct = [_score(np.ones(32), np.ones(32), int(m), 0, theta) for m in dist]
    np.testing.assert_allclose(ones, direct, atol=1e-9)
    assert ones[0] == pytest.approx(32.0)
    assert lc.rope_score_vs_distance([0], theta, attention_factor=1.2)[0] == pytest.approx(32 * 1.44)
    rand = lc.rope_score_vs_distance(dist, theta, kind="random", n_samples=4000, seed=1)
    np.testing.assert_allclose(rand, ones, atol=1.5)
    np.testing.assert_array_equal(rand, lc.rope_score_vs_distance(dist, theta, kind="random",
                                                                  n_samples=4000, seed=1))


def test_rope_functions_reject_bad_arguments():
    with pytest.raises(ValueError, match="scale .* >= 1"):
        lc.pi_inv_freq(64, 0.5)
    for method in ("pi", "ntk", "dynamic_ntk", "yarn"):
        with pytest.raises(ValueError, match="scale"):
            lc.scaled_inv_freq(method, 64, 0.9)
    with pytest.raises(ValueError, match="head_dim"):
        lc.rope_inv_freq(63)
    with pytest.raises(ValueError, match="beta must exceed alpha"):
        lc.yarn_inv_freq(64, 4.0, 2048, alpha=32, beta=1)
    with pytest.raises(ValueError, match="method"):
        lc.scaled_inv_freq("alibi", 64, 2.0)
    with pytest.raises(ValueError, match="head_dim=8"):
        lc.apply_rope(np.zeros((3, 6)), np.arange(3), lc.rope_inv_freq(8))


# --------------------------------------------------------------------------- KV cache

def test_kv_cache_llama2_70b_published_value():
    assert lc.kv_cache_size(LLAMA2_70B, 4096, precision="bf16") == 1_342_177_280
    assert lc.kv_cache_size(LLAMA2_70B, 4096, precision=2) == 1_342_177_280


def test_kv_cache_attention_variants_scale_with_kv_heads():
    gqa = lc.kv_cache_size(LLAMA2_70B, 4096)
    assert lc.kv_cache_size(LLAMA2_70B, 4096, attention="mha") == 8 * gqa      # 64 vs 8 KV heads
    assert lc.kv_cache_size(LLAMA2_70B, 4096, attention="mqa") == gqa / 8
    assert lc.kv_cache_size(LLAMA2_70B, 4096, precision="fp32") == 2 * gqa
    assert lc.kv_cache_size(LLAMA2_70B, 4096, precision="fp8") == gqa / 2
    assert lc.kv_cache_size(LLAMA2_70B, 4096, batch=3) == 3 * gqa
    # LLaMA-2 7B is plain multi-head: 2 * 32 layers * 4096 * 2 bytes = 512 KiB per token
    assert lc.kv_cache_size(LLAMA2_7B, 1) == 524_288
    assert lc.kv_cache_size(LLAMA2_7B, 4096, attention="gqa", n_kv_heads=8) == 524_288 * 4096 / 4
    # Mixtral: 32 layers, 8 KV heads of 128 -> 128 KiB per token
    assert lc.kv_cache_size(MIXTRAL_8X7B, 32768) == 131_072 * 32768
    assert lc.kv_cache_size(MIXTRAL_8X7B, 10) == kv_cache_bytes(MIXTRAL_8X7B, 10)


def test_kv_cache_curve_and_memory_budget():
    ctx = [1, 512, 4096, 100_000]
    curve = lc.kv_cache_curve(LLAMA2_70B, ctx, attention="mha", precision="fp16")
    np.testing.assert_allclose(curve, [lc.kv_cache_size(LLAMA2_70B, c, attention="mha") for c in ctx])
    mem = 80e9
    n = lc.max_context_for_memory(MIXTRAL_8X7B, mem, weights_precision="int4")
    spare = mem - 0.5 * 46_702_792_704
    assert lc.kv_cache_size(MIXTRAL_8X7B, n) <= spare < lc.kv_cache_size(MIXTRAL_8X7B, n + 1)
    assert lc.max_context_for_memory(LLAMA2_70B, 80e9) == 0                       # bf16 weights alone are 138 GB
    assert lc.max_context_for_memory(LLAMA2_70B, 1e9, weights_precision=None) == int(1e9 // 327_680)


def test_kv_cache_rejects_bad_arguments():
    with pytest.raises(ValueError, match="does not use grouped-query"):
        lc.kv_cache_size(LLAMA2_7B, 10, attention="gqa")
    with pytest.raises(ValueError, match="n_kv_heads must divide"):
        lc.kv_cache_size(LLAMA2_70B, 10, n_kv_heads=7)
    with pytest.raises(ValueError, match="precision"):
        lc.kv_cache_size(LLAMA2_70B, 10, precision="fp13")
    with pytest.raises(ValueError, match="attention"):
        lc.kv_cache_size(LLAMA2_70B, 10, attention="linear")
    with pytest.raises(ValueError, match="context"):
        lc.kv_cache_size(LLAMA2_70B, 0)


# --------------------------------------------------------------------------- StreamingLLM

def test_streaming_kept_positions():
    assert lc.streaming_kept_positions(5, window=8, n_sink=4).tolist() == [0, 1, 2, 3, 4]
    assert lc.streaming_kept_positions(20, window=8, n_sink=4).tolist() == [0, 1, 2, 3] + list(range(12, 20))
    assert lc.streaming_kept_positions(20, window=8, n_sink=0).tolist() == list(range(12, 20))
    np.testing.assert_array_equal(lc.streaming_cache_size(np.arange(30), 8, 4), np.minimum(np.arange(30), 12))


@FAST
@given(seq=st.integers(1, 60), window=st.integers(1, 20), sinks=st.integers(0, 6))
def test_streaming_mask_rows_are_the_cache_contents(seq, window, sinks):
    mask = lc.streaming_attention_mask(seq, window, sinks)
    for i in range(seq):
        kept = lc.streaming_kept_positions(i + 1, window, sinks)
        assert np.flatnonzero(mask[i]).tolist() == kept.tolist()
        assert kept.size == lc.streaming_cache_size(i + 1, window, sinks) <= window + sinks


# --------------------------------------------------------------------------- ring attention

@pytest.mark.parametrize("P", [1, 2, 4, 8])
def test_ring_attention_every_device_sees_every_block_once(P):
    plan = lc.ring_attention_plan(LLAMA2_70B, 4096 * P, P)
    for device in range(P):
        assert sorted(plan.schedule[:, device]) == list(range(P))
    assert plan.schedule[0].tolist() == list(range(P))             # start with the local block
    # causal: P diagonal blocks, P(P-1)/2 full ones, the rest skipped
    assert (plan.work == 1).sum() == P and (plan.work == 2).sum() == P * (P - 1) // 2


def test_ring_attention_communication_volume():
    P, S = 8, 32768
    plan = lc.ring_attention_plan(LLAMA2_70B, S, P)
    # one device's KV block for one layer: 2 * 4096 tokens * 8 heads * 128 * 2 bytes
    assert plan.kv_block_bytes == 2 * 4096 * 8 * 128 * 2
    assert plan.bytes_per_device == (P - 1) * plan.kv_block_bytes
    assert plan.total_bytes == P * (P - 1) * plan.kv_block_bytes
    # the blocks of all devices and layers make up the whole cache
    assert P * plan.kv_block_bytes * LLAMA2_70B.n_layers == lc.kv_cache_size(LLAMA2_70B, S)
    assert plan.bytes_per_step.tolist() == [plan.kv_block_bytes] * (P - 1) + [0.0]
    dense = lc.ring_attention_plan(LLAMA2_70B, S, P, causal=False)
    assert (dense.work == 2).all()


def test_ring_min_block_is_flops_over_bandwidth_for_mha_in_16_bit():
    F, B = 312e12, 300e9
    assert lc.ring_min_block_tokens(LLAMA2_7B, F, B) == pytest.approx(F / B)
    assert lc.ring_min_block_tokens(LLAMA2_70B, F, B) == pytest.approx(F / B / 8)   # GQA sends 8x less


def test_ring_attention_rejects_bad_arguments():
    with pytest.raises(ValueError, match="multiple of n_devices"):
        lc.ring_attention_plan(LLAMA2_70B, 1000, 3)
    with pytest.raises(ValueError, match="n_devices"):
        lc.ring_attention_plan(LLAMA2_70B, 1000, 0)


# --------------------------------------------------------------------------- the context-extension experiment
def test_passkey_batch_layout():
    task = lc.PasskeyTask(n_filler=5, n_keys=3, n_values=4)
    tokens, pos = lc.passkey_batch(task, 50, 20, np.random.default_rng(0))
    t = tokens.numpy()
    assert t.shape == (50, 20) and (t[:, 0] == 0).all() and (t[:, -3] == task.query_token).all()
    rows = np.arange(50)
    assert (t[rows, pos] == t[:, -2]).all() and (t[rows, pos + 1] == t[:, -1]).all()
    assert ((t[:, -2] >= task.first_key) & (t[:, -2] < task.first_value)).all()
    assert ((t[:, -1] >= task.first_value) & (t[:, -1] < task.query_token)).all()
    assert pos.min() >= 1 and pos.max() <= 20 - 5
    _, p0 = lc.passkey_batch(task, 4, 20, np.random.default_rng(0), depth=0.0)
    _, p1 = lc.passkey_batch(task, 4, 20, np.random.default_rng(0), depth=1.0)
    assert (p0 == 1).all() and (p1 == 15).all()
    with pytest.raises(ValueError, match="depth"):
        lc.passkey_batch(task, 4, 20, np.random.default_rng(0), depth=1.5)


def test_rope_scaled_copy_sets_frequencies_and_yarn_factor_without_touching_the_original():
    from frontier.models import TinyLM, TinyLMConfig
    m = TinyLM(TinyLMConfig(vocab_size=10, d_model=16, n_layers=2, n_heads=2, d_ff=16, rope_theta=100.0), seed=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    inv0 = m.blocks[0].attn.inv_freq.copy()
    for method in ("pi", "ntk", "yarn"):
        c = lc.rope_scaled_copy(m, method, 4.0, 32)
        inv, f = lc.scaled_inv_freq(method, 8, 4.0, base=100.0, original_context=32)
        assert all(np.allclose(b.attn.inv_freq, inv) for b in c.blocks)
        assert torch.allclose(c.blocks[1].attn.q.weight, m.blocks[1].attn.q.weight * f ** 2)
    assert np.allclose(lc.rope_scaled_copy(m, "pi", 4.0, 32).blocks[0].attn.inv_freq, inv0 / 4)
    assert np.allclose(m.blocks[0].attn.inv_freq, inv0)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
    # PI is exactly "read position m as m / s"
    x = torch.randint(0, 10, (2, 12))
    pi = lc.rope_scaled_copy(m, "pi", 4.0, 32)
    with torch.no_grad():
        assert torch.allclose(pi(x).logits, m(x, positions=np.arange(12) / 4.0).logits, atol=1e-5)


def test_passkey_probe_and_effective_context():
    from frontier.models import TinyLM, TinyLMConfig
    task = lc.PasskeyTask()
    m = TinyLM(TinyLMConfig(vocab_size=task.vocab_size, d_model=16, n_layers=1, n_heads=2, d_ff=16), seed=0)
    p = lc.passkey_probe(m, task, [16, 24], [0.0, 1.0], n=8)
    assert p["accuracy"].shape == p["loss"].shape == (2, 2) and (p["loss"] > 0).all()
    fake = {"seq_lens": np.array([32, 64, 128]), "depths": np.array([0.0, 1.0]),
            "accuracy": np.array([[1.0, 0.95], [0.92, 1.0], [0.5, 1.0]])}
    assert lc.effective_context(fake) == 64 and lc.effective_context(fake, 0.99) == 0
