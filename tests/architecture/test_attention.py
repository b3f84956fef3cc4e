"""Efficient attention: every fast or tiled form must agree with the plain definition.

* tiled attention (FlashAttention's Algorithm 1) equals naive attention, causal
  and not, for any shape and tile size, and its counted HBM traffic equals the
  closed form and behaves like Theta(N^2 d^2 / M);
* sliding-window attention equals naive attention with the window mask;
* Performer's causal prefix sums equal a quadratic masked computation of the
  same features, and its error shrinks as the number of features grows.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from frontier.architecture.long_context import streaming_attention_mask
from frontier.architecture.attention import (
    HBMTraffic, default_num_features, flash_block_sizes, naive_attention, orthogonal_gaussian,
    performer_attention, performer_attention_weights, performer_error, performer_features, random_qkv, sink_mask,
    sliding_window_attention, tiled_attention, tiled_attention_traffic, window_mask,
)

FAST = settings(max_examples=40, deadline=None)
LEADS = st.sampled_from([(), (2,), (2, 3)])


def _close(a, b, tol=1e-10):
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=tol, rtol=tol), float((a - b).abs().max())


# --------------------------------------------------------------------------- tiled == naive

@FAST
@given(T=st.integers(1, 40), d=st.integers(1, 8), dv=st.integers(1, 6), bq=st.integers(1, 17),
       bk=st.integers(1, 17), causal=st.booleans(), lead=LEADS, seed=st.integers(0, 2**16))
def test_tiled_equals_naive(T, d, dv, bq, bk, causal, lead, seed):
    q, k, v = random_qkv(T, d, lead=lead, d_v=dv, seed=seed, std=2.0)
    out = tiled_attention(q, k, v, causal=causal, block_q=bq, block_k=bk)
    _close(out, naive_attention(q, k, v, causal=causal))


@FAST
@given(Tq=st.integers(1, 30), Tk=st.integers(1, 30), bq=st.integers(1, 9), bk=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_tiled_equals_naive_cross_attention(Tq, Tk, bq, bk, seed):
    q, _, _ = random_qkv(Tq, 4, seed=seed)
    _, k, v = random_qkv(Tk, 4, seed=seed + 1)
    _close(tiled_attention(q, k, v, block_q=bq, block_k=bk), naive_attention(q, k, v))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("M", [16, 100, 1000, 4096])
def test_tiled_with_sram_size_equals_naive(causal, M):
    q, k, v = random_qkv(70, 16, lead=(2,), seed=3)
    out, stats = tiled_attention(q, k, v, causal=causal, sram_elements=M, return_stats=True)
    _close(out, naive_attention(q, k, v, causal=causal))
    bc = math.ceil(M / (4 * 16))
    assert (stats.block_q, stats.block_k) == (min(bc, 16, 70), min(bc, 70))
    assert stats.n_kv_blocks == math.ceil(70 / stats.block_k)


def test_flash_block_sizes_follow_algorithm_1():
    assert flash_block_sizes(64, 64 * 1024) == (64, 256)      # B_r capped at d
    assert flash_block_sizes(64, 1000) == (4, 4)              # ceil(1000 / 256) = 4
    assert flash_block_sizes(128, 1) == (1, 1)


def test_tiled_float32_and_scale():
    q, k, v = random_qkv(50, 8, seed=1, dtype=torch.float32)
    out = tiled_attention(q, k, v, causal=True, block_q=7, block_k=9, scale=0.7)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, naive_attention(q, k, v, causal=True, scale=0.7), rtol=1e-5, atol=1e-5)


def test_tiled_survives_large_scores():
    # scores of order 1e3 would overflow exp() without the running maximum
    q, k, v = random_qkv(33, 4, seed=2, std=30.0)
    out = tiled_attention(q, k, v, causal=True, block_q=4, block_k=5)
    assert torch.isfinite(out).all()
    _close(out, naive_attention(q, k, v, causal=True), tol=1e-9)


@pytest.mark.parametrize("causal", [False, True])
def test_final_statistics_are_the_logsumexp(causal):
    q, k, v = random_qkv(29, 5, lead=(3,), seed=4)
    _, stats = tiled_attention(q, k, v, causal=causal, block_q=4, block_k=6, return_stats=True)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(5)
    if causal:
        s = s.masked_fill(~torch.ones(29, 29, dtype=torch.bool).tril(), float("-inf"))
    _close(stats.m, s.amax(-1))
    _close(stats.m + torch.log(stats.l), torch.logsumexp(s, -1))


# --------------------------------------------------------------------------- trace

@pytest.mark.parametrize("causal", [False, True])
def test_trace_steps_through_every_tile(causal):
    T, bq, bk = 22, 4, 6
    q, k, v = random_qkv(T, 3, seed=5)
    _, stats = tiled_attention(q, k, v, causal=causal, block_q=bq, block_k=bk, trace=True)
    tr = stats.trace
    assert len(tr) == stats.n_q_blocks * stats.n_kv_blocks == 6 * 4
    assert stats.tiles_computed + stats.tiles_skipped == len(tr)
    # Algorithm 1's order: key blocks outside, query blocks inside
    assert [(s.kv_block, s.q_block) for s in tr] == [(j, i) for j in range(4) for i in range(6)]
    for s in tr:
        above = s.cols[0] > s.rows[1] - 1
        assert s.skipped == (causal and above)
        assert (s.m_tile is None) == s.skipped
    assert stats.tiles_skipped == (sum(s.cols[0] > s.rows[1] - 1 for s in tr) if causal else 0)
    ms = torch.stack([s.m for s in tr])
    assert torch.all(ms[1:] >= ms[:-1])                  # the running maximum never falls
    hbm = [s.hbm_elements for s in tr]
    assert hbm == sorted(hbm) and hbm[-1] == stats.traffic.total
    _close(tr[-1].m, stats.m)
    _close(tr[-1].l, stats.l)
    for s in tr:
        if not s.skipped:
            assert torch.all(s.m_tile <= s.m[s.rows[0]:s.rows[1]])


def test_no_trace_unless_asked():
    q, k, v = random_qkv(10, 2, seed=0)
    assert isinstance(tiled_attention(q, k, v), torch.Tensor)
    _, stats = tiled_attention(q, k, v, return_stats=True)
    assert stats.trace == ()


# --------------------------------------------------------------------------- HBM traffic

@FAST
@given(T=st.integers(1, 40), d=st.integers(1, 6), dv=st.integers(1, 6), bq=st.integers(1, 12),
       bk=st.integers(1, 12), causal=st.booleans(), lead=LEADS)
def test_counted_traffic_equals_closed_form(T, d, dv, bq, bk, causal, lead):
    q, k, v = random_qkv(T, d, lead=lead, d_v=dv, seed=0)
    _, stats = tiled_attention(q, k, v, causal=causal, block_q=bq, block_k=bk, return_stats=True)
    closed = tiled_attention_traffic(T, d, d_v=dv, causal=causal, block_q=bq, block_k=bk,
                                     batch=int(np.prod(lead, dtype=int)))
    assert dict(stats.traffic.reads) == dict(closed.reads)
    assert dict(stats.traffic.writes) == dict(closed.writes)


@pytest.mark.parametrize("M", [64, 500, 4096])
def test_counted_traffic_with_sram_size_equals_closed_form(M):
    q, k, v = random_qkv(90, 16, seed=0)
    for causal in (False, True):
        _, stats = tiled_attention(q, k, v, causal=causal, sram_elements=M, return_stats=True)
        assert stats.traffic == tiled_attention_traffic(90, 16, causal=causal, sram_elements=M)


def test_traffic_formula_written_out():
    # Non-causal, by hand: T(dv+2) + Tk(d+dv) + Tc*T*(d+2dv+4), Tc = ceil(Tk/Bc).
    for T, Tk, d, dv, bk in [(1024, 1024, 64, 64, 128), (100, 37, 8, 3, 10), (5, 5, 2, 2, 7)]:
        tc = -(-Tk // min(bk, Tk))
        want = T * (dv + 2) + Tk * (d + dv) + tc * T * (d + 2 * dv + 4)
        got = tiled_attention_traffic(T, d, T_k=Tk, d_v=dv, block_k=bk)
        assert got.total == want
        assert got.reads["K"] == Tk * d and got.reads["V"] == Tk * dv
        assert got.reads["Q"] == tc * T * d


def test_traffic_falls_as_sram_grows_and_scales_like_N2d2_over_M():
    for N in (512, 2048, 8192):
        for d in (16, 64, 128):
            Ms = [int(m) for m in np.geomspace(4 * d, N * d, 12)]
            tot = [tiled_attention_traffic(N, d, sram_elements=M).total for M in Ms]
            assert all(b <= a for a, b in zip(tot, tot[1:]))          # never rises with M
            # total ~ (4 N d / M) N (3d + 4): about 12 N^2 d^2 / M.  The two
            # ceilings in T_c = ceil(N / ceil(M / 4d)) move the constant by up to
            # 2x near M = 4d, and the O(N d) terms lift it near M = N d.
            c = np.array(tot) / (N ** 2 * d ** 2 / np.array(Ms))
            assert np.all((c > 5) & (c < 24)), c
    # Causal attention loads about half the tiles.
    full = tiled_attention_traffic(4096, 64, sram_elements=16384).total
    causal = tiled_attention_traffic(4096, 64, sram_elements=16384, causal=True).total
    assert 0.45 < causal / full < 0.6


def test_traffic_beats_standard_attention_at_gpt2_medium_sizes():
    # FlashAttention Fig. 2 setting: N = 1024, d = 64.  The standard algorithm
    # moves the N x N matrix S and P through HBM: 4 N d + 4 N^2 elements.
    N, d = 1024, 64
    standard = 4 * N * d + 4 * N ** 2
    flash = tiled_attention_traffic(N, d, sram_elements=100 * 1024 // 2)   # ~100 KB of fp16
    assert flash.total < standard / 2


def test_hbm_traffic_helpers():
    t = HBMTraffic(reads={"Q": 3, "K": 1}, writes={"O": 2})
    assert (t.elements_read, t.elements_written, t.total) == (4, 2, 6)
    assert t.bytes(4) == 24.0
    assert t.by_tensor()["Q"] == (3, 0) and t.by_tensor()["O"] == (0, 2)


@pytest.mark.parametrize("N,d,M", [(1024, 64, 64 * 1024), (1024, 64, 6000), (4096, 128, 100_000),
                                   (777, 32, 32), (512, 64, 32 * 1024), (100, 16, 10 ** 6)])
def test_counted_traffic_against_the_cost_model(N, d, M):
    # Second implementation: the cost explorer's analytic formula,
    # 2 N d + T_c (3 N d + 4 N).  Our count adds Algorithm 1's line 2, the
    # initial O = 0, l = 0, m = -inf written to HBM: N (d + 2) elements.
    from frontier.architecture.costs import flash_traffic_elements

    ours = tiled_attention_traffic(N, d, sram_elements=M)
    model = float(flash_traffic_elements(N, d, M)[0])
    assert ours.total - N * (d + 2) == model
    br, bc = flash_block_sizes(d, M)
    if N <= 512 and -(-N // br) * -(-N // bc) <= 64:     # small enough to run the algorithm itself
        q, k, v = random_qkv(N, d, seed=0, dtype=torch.float32)
        _, stats = tiled_attention(q, k, v, sram_elements=M, return_stats=True)
        assert stats.traffic.total - N * (d + 2) == model


# --------------------------------------------------------------------------- sliding window and sinks

@FAST
@given(T=st.integers(1, 40), w=st.integers(1, 40), causal=st.booleans(), lead=LEADS,
       seed=st.integers(0, 2**16))
def test_sliding_window_equals_masked_naive(T, w, causal, lead, seed):
    w = min(w, T)
    q, k, v = random_qkv(T, 4, lead=lead, seed=seed)
    _close(sliding_window_attention(q, k, v, w, causal=causal),
           naive_attention(q, k, v, mask=window_mask(T, w, causal=causal)))


@FAST
@given(T=st.integers(1, 50), w=st.integers(1, 50), n_sink=st.integers(0, 8))
def test_sink_mask(T, w, n_sink):
    n_sink = min(n_sink, T)
    mask = sink_mask(T, w, n_sink)
    assert mask.dtype == torch.bool and mask.shape == (T, T)
    assert not (mask & ~torch.ones(T, T, dtype=torch.bool).tril()).any()       # causal
    assert (mask >= window_mask(T, w, causal=True)).all()                       # contains the window
    i = torch.arange(T)
    expected = torch.minimum(i + 1, torch.tensor(w)) + torch.clamp(torch.minimum(i + 1 - w, torch.tensor(n_sink)), min=0)
    assert torch.equal(mask.sum(1), expected)
    assert torch.equal(sink_mask(T, w, 0), window_mask(T, w, causal=True))
    # one definition of the streaming pattern: the long-context module's KV-cache mask
    assert np.array_equal(mask.numpy(), streaming_attention_mask(T, w, n_sink))
    q, k, v = random_qkv(T, 3, seed=0)
    assert torch.isfinite(naive_attention(q, k, v, mask=mask)).all()


def test_sink_mask_example():
    m = sink_mask(8, 3, 2).int()
    assert m[7].tolist() == [1, 1, 0, 0, 0, 1, 1, 1]
    assert m[2].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


# --------------------------------------------------------------------------- Performer

def test_orthogonal_gaussian_rows():
    w = orthogonal_gaussian(40, 16, seed=0)
    assert w.shape == (40, 16) and w.dtype == torch.float64
    for b in range(2):                                  # full blocks of d rows are orthogonal
        blk = w[16 * b:16 * (b + 1)]
        g = blk @ blk.T
        _close(g - torch.diag(torch.diag(g)), torch.zeros(16, 16, dtype=g.dtype), tol=1e-10)
    assert torch.equal(w, orthogonal_gaussian(40, 16, seed=0))
    assert not torch.equal(w, orthogonal_gaussian(40, 16, seed=1))
    big = orthogonal_gaussian(4000, 16, seed=1)
    assert abs(float((big ** 2).sum(1).mean()) / 16 - 1) < 0.05       # rows have E|w|^2 = d
    iid = orthogonal_gaussian(7, 16, seed=0, orthogonal=False)
    assert iid.shape == (7, 16)


def test_performer_features_are_positive_and_unbiased():
    x, y, _ = random_qkv(4, 8, seed=1, std=0.4)
    exact = torch.exp(x @ y.T / math.sqrt(8))
    # phi(x).phi(y) is a mean over features, so 32,000 features (4,000
    # independent orthogonal blocks) average 1,000 estimates of 32 features.
    om = orthogonal_gaussian(32_000, 8, seed=0)
    est = performer_features(x, om) @ performer_features(y, om).T
    assert torch.allclose(est, exact, rtol=0.05)
    f = performer_features(x, orthogonal_gaussian(32, 8, seed=0), stabilize="row")
    assert f.shape == (4, 32) and (f > 0).all()
    assert torch.allclose(f.amax(-1), torch.full((4,), 32 ** -0.5, dtype=f.dtype))


def _quadratic_performer(q, k, v, omega, causal):
    fq = performer_features(q, omega)
    fk = performer_features(k, omega)
    a = fq @ fk.transpose(-1, -2)
    if causal:
        a = a.tril()
    return (a @ v) / a.sum(-1, keepdim=True)


@FAST
@given(T=st.integers(1, 40), d=st.integers(1, 6), m=st.integers(1, 20), chunk=st.integers(1, 16),
       causal=st.booleans(), lead=LEADS, seed=st.integers(0, 2**16))
def test_performer_equals_quadratic_computation_of_the_same_features(T, d, m, chunk, causal, lead, seed):
    q, k, v = random_qkv(T, d, lead=lead, seed=seed)
    om = orthogonal_gaussian(m, d, seed=seed)
    _close(performer_attention(q, k, v, causal=causal, omega=om, chunk=chunk),
           _quadratic_performer(q, k, v, om, causal), tol=1e-9)


@pytest.mark.parametrize("causal", [False, True])
def test_performer_weights_are_the_implicit_attention_matrix(causal):
    q, k, v = random_qkv(20, 4, lead=(2,), seed=7)
    om = orthogonal_gaussian(12, 4, seed=7)
    w = performer_attention_weights(q, k, om, causal=causal)
    assert (w >= 0).all()
    _close(w.sum(-1), torch.ones(2, 20, dtype=w.dtype))
    if causal:
        assert torch.equal(w, w.tril())
    _close(w @ v, performer_attention(q, k, v, omega=om, causal=causal, chunk=6))


@pytest.mark.parametrize("causal", [False, True])
def test_performer_error_shrinks_with_features(causal):
    q, k, v = random_qkv(64, 16, seed=0, std=0.5)
    res = performer_error(q, k, v, [8, 128, 2048], n_seeds=8, seed=0, causal=causal)
    assert res.errors.shape == (3, 8)
    mean = res.mean
    # error ~ 1/sqrt(m): each 16x more features should cut it by about 4x
    assert mean[1] < 0.6 * mean[0] and mean[2] < 0.6 * mean[1], mean
    assert mean[2] < 0.1


def test_performer_is_seeded_and_stable_for_large_inputs():
    q, k, v = random_qkv(32, 8, seed=0, std=6.0)
    a = performer_attention(q, k, v, 64, causal=True, seed=3)
    assert torch.equal(a, performer_attention(q, k, v, 64, causal=True, seed=3))
    assert torch.isfinite(a).all() and torch.isfinite(performer_attention(q, k, v, 64, seed=3)).all()
    assert default_num_features(64) == 266


# --------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("fn", [
    lambda q, k, v: tiled_attention(q, k, v),
    lambda q, k, v: performer_attention(q, k, v, 8, seed=0),
    lambda q, k, v: naive_attention(q, k, v),
])
def test_bad_inputs_raise_clear_errors(fn):
    q, k, v = random_qkv(6, 4, seed=0)
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        fn(q.numpy(), k, v)
    with pytest.raises(TypeError, match="floating-point"):
        fn(q.long(), k, v)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, d\)"):
        fn(q[0], k, v)
    with pytest.raises(ValueError, match="head size"):
        fn(q[..., :3], k, v)
    with pytest.raises(ValueError, match="k and v"):
        fn(q, k, v[:5])


def test_bad_tiling_arguments():
    q, k, v = random_qkv(6, 4, seed=0)
    with pytest.raises(ValueError, match="not both"):
        tiled_attention(q, k, v, block_q=2, sram_elements=64)
    with pytest.raises(ValueError, match="block_q"):
        tiled_attention(q, k, v, block_q=0)
    with pytest.raises(TypeError, match="block_k"):
        tiled_attention(q, k, v, block_k=2.5)
    with pytest.raises(ValueError, match="sram_elements"):
        tiled_attention(q, k, v, sram_elements=-1)
    with pytest.raises(ValueError, match="as many queries as keys"):
        tiled_attention(q, k[:5], v[:5], causal=True)
    with pytest.raises(ValueError, match="as many queries as keys"):
        tiled_attention_traffic(6, 4, T_k=5, causal=True)


def test_bad_performer_and_mask_arguments():
    q, k, v = random_qkv(6, 4, seed=0)
    with pytest.raises(ValueError, match="omega"):
        performer_features(q, torch.ones(3, 5, dtype=q.dtype))
    with pytest.raises(ValueError, match="stabilize"):
        performer_features(q, torch.ones(3, 4, dtype=q.dtype), stabilize="max")
    with pytest.raises(TypeError, match="seed"):
        orthogonal_gaussian(4, 4, seed="zero")
    with pytest.raises(ValueError, match="n_features"):
        performer_attention(q, k, v, 5, omega=torch.ones(3, 4, dtype=q.dtype))
    with pytest.raises(ValueError, match="n_sink"):
        sink_mask(4, 2, 5)
    with pytest.raises(ValueError, match="n_sink"):
        sink_mask(4, 2, -1)


# --------------------------------------------------------------------------- linear attention is an RNN
@pytest.mark.parametrize("lead, T, m, dv", [((), 17, 8, 3), ((2, 3), 9, 16, 5)])
def test_linear_attention_recurrence_equals_the_masked_matrix_form(lead, T, m, dv):
    from frontier.architecture import attention as _att
    g = torch.Generator().manual_seed(T)
    phi_q = torch.rand(*lead, T, m, generator=g, dtype=torch.float64) + 0.1
    phi_k = torch.rand(*lead, T, m, generator=g, dtype=torch.float64) + 0.1
    v = torch.randn(*lead, T, dv, generator=g, dtype=torch.float64)
    a = (phi_q @ phi_k.transpose(-1, -2)).tril()
    masked = (a / a.sum(-1, keepdim=True)) @ v
    out, (S, z) = _att.linear_attention_recurrent(phi_q, phi_k, v, return_state=True)
    assert torch.allclose(out, masked, atol=1e-12)
    assert S.shape == (*lead, m, dv) and z.shape == (*lead, m)
    assert torch.allclose(S, phi_k.transpose(-1, -2) @ v) and torch.allclose(z, phi_k.sum(-2))


def test_linear_attention_recurrence_matches_performer_prefix_sums():
    from frontier.architecture import attention as _att
    q, k, v = _att.random_qkv(T=40, d=8, seed=3)
    omega = _att.orthogonal_gaussian(32, 8, seed=3)
    rnn = _att.linear_attention_recurrent(_att.performer_features(q, omega), _att.performer_features(k, omega), v)
    assert torch.allclose(rnn, _att.performer_attention(q, k, v, omega=omega, causal=True, chunk=7), atol=1e-9)


def test_linear_attention_recurrence_rejects_mismatched_shapes():
    from frontier.architecture import attention as _att
    with pytest.raises(ValueError, match="phi_q and phi_k"):
        _att.linear_attention_recurrent(torch.rand(4, 3), torch.rand(4, 2), torch.rand(4, 2))
    with pytest.raises(ValueError, match="v must"):
        _att.linear_attention_recurrent(torch.rand(4, 3), torch.rand(4, 3), torch.rand(5, 2))
