"""Cost models: exact pair counts against drawn masks, invariants, slopes, hand-computed values, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.architecture import costs, masks
from frontier.timing import fit_loglog_slope

SHAPE = costs.ModelShape(d_model=256, n_heads=4, n_layers=2)


# --- pair counts equal the masks they describe (a second implementation) ---------------------

@settings(max_examples=150, deadline=None)
@given(T=st.integers(1, 60), data=st.data(), causal=st.booleans())
def test_longformer_pairs_match_mask(T, data, causal):
    w = data.draw(st.integers(1, T))
    g = data.draw(st.integers(0, T))
    assert costs.longformer_pairs(T, w, g, causal)[0] == masks.longformer_mask(T, w, g, causal).sum()


@settings(max_examples=80, deadline=None)
@given(T=st.integers(1, 80), data=st.data())
def test_strided_pairs_match_mask(T, data):
    stride = data.draw(st.integers(1, T))
    assert costs.strided_pairs(T, stride)[0] == masks.strided_mask(T, stride).sum()


@settings(max_examples=60, deadline=None)
@given(nb=st.integers(1, 12), block=st.sampled_from([1, 2, 4, 8]), wb=st.sampled_from([1, 3, 5]),
       g=st.integers(0, 3), r=st.integers(0, 4), seed=st.integers(0, 5))
def test_bigbird_pairs_match_mask(nb, block, wb, g, r, seed):
    g = min(g, nb)
    T = nb * block
    assert costs.bigbird_pairs(T, block, wb, g, r)[0] == masks.bigbird_mask(T, block, wb, g, r, seed).sum()


def test_clipped_window_counts_like_the_clipped_mask():
    T = np.array([3, 10, 40])
    got = costs.longformer_pairs(T, 16, 20, causal=True, clip=True)
    want = [masks.longformer_mask(t, min(16, t), min(20, t), True).sum() for t in T]
    np.testing.assert_array_equal(got, want)


# --- invariants ------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [True, False])
def test_window_as_long_as_the_sequence_costs_what_dense_costs(causal):
    for T in [1, 7, 64, 1000]:
        lf = costs.longformer(T, SHAPE, window=T, n_global=0, causal=causal)
        d = costs.dense(T, SHAPE, causal=causal)
        assert lf.flops[0] == d.flops[0]
        assert lf.mixing_flops[0] == d.mixing_flops[0]


def test_flash_has_dense_flops_and_less_memory_and_traffic():
    T = np.array([512, 4096, 65536])
    d, f = costs.dense(T, SHAPE, causal=True), costs.flash(T, SHAPE, causal=True)
    np.testing.assert_array_equal(f.flops, d.flops)
    assert np.all(f.activation_bytes < d.activation_bytes)
    assert np.all(f.traffic_bytes[1:] < d.traffic_bytes[1:])
    np.testing.assert_array_equal(f.kv_cache_bytes, d.kv_cache_bytes)


def test_flash_traffic_falls_as_on_chip_memory_grows():
    T = 16384
    traffic = [costs.flash(T, SHAPE, sram_bytes=k * 1024).traffic_bytes[0] for k in (16, 32, 64, 128, 256)]
    assert all(a > b for a, b in zip(traffic, traffic[1:]))


def test_flash_traffic_matches_algorithm_1_count_by_hand():
    # N=1024, d=64, M=16384 elements: B_c = ceil(16384/256) = 64, T_c = 16
    got = costs.flash_traffic_elements(1024, 64, 16384)[0]
    assert got == 2 * 1024 * 64 + 16 * (3 * 1024 * 64 + 4 * 1024)


def test_flash_traffic_is_theta_N2_d2_over_M():
    # Doubling M halves the quadratic part; doubling N quadruples it (in the regime B_c << N).
    a = costs.flash_traffic_elements(1 << 16, 64, 1 << 14)[0]
    b = costs.flash_traffic_elements(1 << 16, 64, 1 << 15)[0]
    c = costs.flash_traffic_elements(1 << 17, 64, 1 << 14)[0]
    assert a / b == pytest.approx(2.0, rel=0.01)
    assert c / a == pytest.approx(4.0, rel=0.01)


def test_hybrid_interpolates_between_attention_and_mamba():
    T = [1024, 8192]
    one = costs.hybrid(T, SHAPE, attention_ratio=1.0, attention="flash")
    zero = costs.hybrid(T, SHAPE, attention_ratio=0.0)
    np.testing.assert_allclose(one.flops, costs.flash(T, SHAPE).flops)
    np.testing.assert_allclose(one.kv_cache_bytes, costs.flash(T, SHAPE).kv_cache_bytes)
    np.testing.assert_allclose(zero.flops, costs.mamba(T, SHAPE).flops)
    half = costs.hybrid(T, SHAPE, attention_ratio=0.5)
    assert half.params["attention_layers"] == 1 and half.params["ssm_layers"] == 1


def test_ssm_and_performer_state_does_not_grow_with_T():
    T = [1_000, 1_000_000]
    for c in (costs.mamba(T, SHAPE), costs.performer(T, SHAPE)):
        assert c.kv_cache_bytes[0] == c.kv_cache_bytes[1]
    lf = costs.longformer(T, SHAPE, window=512, n_global=4, causal=True)
    assert lf.kv_cache_bytes[0] == lf.kv_cache_bytes[1]      # only the window and the global tokens


# --- slopes: the complexity classes, including the chapter correction ------------------------

@pytest.mark.parametrize("method, slope", [("dense", 2.0), ("flash", 2.0), ("longformer", 1.0), ("bigbird", 1.0),
                                           ("sparse_transformer", 1.5), ("performer", 1.0), ("mamba", 1.0)])
def test_mixing_flops_slopes(method, slope):
    T = np.unique(np.logspace(5, 7, 9).astype(int))
    c = costs.cost_of(method, T, SHAPE)
    assert fit_loglog_slope(T, c.mixing_flops) == pytest.approx(slope, abs=0.03)


def test_longformer_and_bigbird_are_linear_not_T_sqrt_T():
    """facts.md section 12: the chapter's O(T sqrt T) belongs to the Sparse Transformer only."""
    T = np.unique(np.logspace(4, 6, 7).astype(int))
    lf = fit_loglog_slope(T, costs.cost_of("longformer", T, SHAPE).mixing_flops)
    st_ = fit_loglog_slope(T, costs.cost_of("sparse_transformer", T, SHAPE).mixing_flops)
    assert lf < 1.05 and st_ > 1.4


# --- hand-computed values ---------------------------------------------------------------------

def test_dense_flops_by_hand():
    s = costs.ModelShape(d_model=8, n_heads=2, n_layers=1, batch=1, bytes_per_element=2)
    c = costs.dense(4, s)
    projections = 2 * 4 * 8 * (2 * 8 + 2 * 8)         # Q, K, V, O
    mixing = 4 * 2 * 4 * 16                            # 4 FLOPs x heads x d_h x T^2
    assert c.flops[0] == projections + mixing
    assert c.kv_cache_bytes[0] == 2 * 1 * 8 * 4 * 2    # K and V, layers, d_kv, T, bytes
    assert c.activation_bytes[0] == (4 * (8 + 16 + 8) + 2 * 16) * 2


def test_grouped_query_attention_shrinks_the_kv_cache():
    mha = costs.dense(4096, costs.ModelShape(n_kv_heads=32))
    gqa = costs.dense(4096, costs.ModelShape(n_kv_heads=8))
    assert mha.kv_cache_bytes[0] == 4 * gqa.kv_cache_bytes[0]


def test_mamba_flops_by_hand():
    s = costs.ModelShape(d_model=16, n_heads=1, n_layers=1)
    c = costs.mamba(10, s, d_state=4, expand=2, d_conv=4)
    E, R, N = 32, 1, 4
    per_token = 2 * 16 * 2 * E + 2 * E * 4 + 2 * E * (R + 2 * N) + 2 * R * E + 7 * E * N + 2 * E * 16
    assert c.flops[0] == 10 * per_token
    assert c.kv_cache_bytes[0] == E * (N + 3) * 2


def test_longest_that_fits_brackets_the_budget():
    budget = 16e9
    t = costs.longest_that_fits("dense", budget, costs.ModelShape())
    assert costs.dense(t, costs.ModelShape()).memory_bytes[0] <= budget
    assert costs.dense(t + 1, costs.ModelShape()).memory_bytes[0] > budget
    assert costs.longest_that_fits("mamba", budget, costs.ModelShape(), T_max=1 << 10) == 1 << 10
    assert costs.longest_that_fits("dense", 1.0, costs.ModelShape()) == 0


def test_cost_at_returns_the_row():
    c = costs.dense([16, 32], SHAPE)
    assert c.at(32)["flops"] == c.flops[1]
    with pytest.raises(ValueError, match="T=64"):
        c.at(64)


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("T", [0, -5, [16, 0]])
def test_non_positive_lengths_are_rejected(T):
    with pytest.raises(ValueError, match="T"):
        costs.dense(T, SHAPE)


def test_window_longer_than_sequence_is_rejected_by_name():
    with pytest.raises(ValueError, match="window"):
        costs.longformer(100, SHAPE, window=200)
    with pytest.raises(ValueError, match="window"):
        masks.longformer_mask(10, 11)


@pytest.mark.parametrize("kwargs, name", [(dict(d_model=0), "d_model"), (dict(n_heads=-1), "n_heads"),
                                          (dict(d_model=100, n_heads=3), "divisible"),
                                          (dict(n_kv_heads=5), "multiple")])
def test_bad_shapes_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        costs.ModelShape(**kwargs)


def test_bad_knobs_are_rejected():
    with pytest.raises(ValueError, match="d_state"):
        costs.mamba(10, SHAPE, d_state=0)
    with pytest.raises(ValueError, match="attention_ratio"):
        costs.hybrid(10, SHAPE, attention_ratio=1.5)
    with pytest.raises(ValueError, match="sram"):
        costs.flash(10, SHAPE, sram_bytes=-1)
    with pytest.raises(ValueError, match="method"):
        costs.cost_of("magic", 10)
    with pytest.raises(TypeError, match="window"):
        costs.longformer(10, SHAPE, window=2.5)
    with pytest.raises(ValueError, match="odd"):
        costs.bigbird(128, SHAPE, window_blocks=2)


# --------------------------------------------------------------------------- FlashAttention-2's order, unfused passes
def _count_flash2_by_hand(T, d, M):
    """Simulate FlashAttention-2's loops and count every HBM element read or written (one head)."""
    br = min(-(-int(M) // (4 * d)), T)
    moved = 0
    for q0 in range(0, T, br):
        rows = min(br, T - q0)
        moved += rows * d                      # load Q_i once
        for k0 in range(0, T, br):             # every key/value block, re-read for this query block
            moved += 2 * min(br, T - k0) * d
        moved += rows * d + rows               # write O_i and its log-sum-exp once
    return moved


@pytest.mark.parametrize("T, d, M", [(100, 8, 256), (257, 16, 1000), (64, 4, 10_000)])
def test_flash2_traffic_matches_a_simulated_loop(T, d, M):
    assert costs.flash2_traffic_elements(T, d, M)[0] == _count_flash2_by_hand(T, d, M)


def test_flash2_order_moves_about_two_thirds_of_algorithm_1():
    T, d, M = 65_536, 64, 98_304
    ratio = costs.flash2_traffic_elements(T, d, M)[0] / costs.flash_traffic_elements(T, d, M)[0]
    assert ratio == pytest.approx(2 * d / (3 * d + 4), rel=0.01)


def test_standard_traffic_is_algorithm_0_plus_a_pass_per_unfused_step():
    T, d = 1024, 64
    assert costs.standard_traffic_elements(T, d)[0] == 4 * T * d + 4 * T * T
    assert costs.standard_traffic_elements(T, d, True, True)[0] == 4 * T * d + 8 * T * T


@pytest.mark.parametrize("d_h, kib, saves", [(64, 48, True), (64, 192, True), (128, 48, False), (128, 192, True)])
def test_tiling_saves_traffic_only_when_on_chip_memory_exceeds_about_3_d_squared(d_h, kib, saves):
    # per head, forward, T = 65,536: Algorithm 1 moves ~12 T^2 d^2 / M against 4 T^2 for Algorithm 0
    T, M = 65_536, kib * 1024 / 2
    assert bool(costs.flash_traffic_elements(T, d_h, M)[0] < costs.standard_traffic_elements(T, d_h)[0]) is saves
    assert (M > 3 * d_h ** 2) is saves


def test_issue_numbers_for_dense_over_flash_traffic_at_T_1024():
    # the review's figures: head 64 (GPT-2 medium) about 1.7x and 3.7x, head 128 (7B) 0.64x and 1.37x
    gpt2 = costs.ModelShape(d_model=1024, n_heads=16, n_layers=24)
    seven_b = costs.ModelShape()
    for shape, expected in ((gpt2, (1.71, 3.68)), (seven_b, (0.64, 1.37))):
        dense = costs.dense(1024, shape, causal=True).traffic_bytes[0]
        got = [dense / costs.flash(1024, shape, sram_bytes=kib * 1024, causal=True).traffic_bytes[0]
               for kib in (48, 192)]
        assert got == pytest.approx(expected, abs=0.01)


def test_mamba_and_attention_layer_parameters():
    s = costs.ModelShape()
    d = s.d_model
    # LLaMA-2 7B layer without norms: 4 d^2 + 3 d d_ff
    assert costs.attention_layer_parameters(s, 11_008) == 4 * d * d + 3 * d * 11_008
    # in_proj 4d^2 + out_proj 2d^2 dominate a Mamba block
    assert 6 * d * d < costs.mamba_layer_parameters(s) < 6.5 * d * d


def test_whole_blocks_are_a_few_times_cheaper_while_the_mixers_are_900x():
    s = costs.ModelShape()
    attn, mamba = costs.dense(100_000, s, causal=True), costs.mamba(100_000, s)
    assert attn.mixing_flops[0] / mamba.mixing_flops[0] == pytest.approx(893, rel=0.01)
    assert attn.flops[0] / mamba.flops[0] == pytest.approx(4.5, abs=0.1)
    ffn = s.n_layers * 100_000 * 6 * s.d_model * 11_008
    assert (attn.flops[0] + ffn) / mamba.flops[0] == pytest.approx(5.8, abs=0.1)
    # projections per token: Mamba's in/out 12 d^2 against attention's 8 d^2
    E, d = 2 * s.d_model, s.d_model
    assert 2 * d * 2 * E + 2 * E * d == 12 * d * d
