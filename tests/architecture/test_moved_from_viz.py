"""Computations that used to sit in frontier.viz, now in the section modules, checked independently."""
import numpy as np
import pytest
import torch

from frontier.architecture import attention as att
from frontier.architecture import costs, moe, ssm


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- ssm.simulate_discretizations
def test_zoh_is_exact_for_a_step_input():
    a, delta = -2.0, 0.5
    sim = ssm.simulate_discretizations(delta, a, "step", t_end=6.0)
    exact = (1.0 - np.exp(a * sim["t_fine"])) / (-a)        # h(t) for h' = a h + 1, h(0) = 0
    np.testing.assert_allclose(sim["h_exact"], exact, atol=1e-12)
    assert sim["errors"]["zoh"] < 1e-12
    assert sim["errors"]["euler"] > 1e-3 and sim["errors"]["mamba"] > 1e-3


def test_euler_blows_up_past_two_over_a():
    a = -2.0
    stable = ssm.simulate_discretizations(0.9, a, "step", t_end=20.0)
    unstable = ssm.simulate_discretizations(1.1, a, "step", t_end=20.0)     # delta > 2/|a| = 1
    assert abs(stable["h"]["euler"][-1] - 0.5) < 0.05
    assert abs(unstable["h"]["euler"][-1]) > 2.0
    assert abs(unstable["h"]["zoh"][-1] - 0.5) < 1e-6                     # ZOH stays stable at any step


@pytest.mark.parametrize("kwargs", [dict(delta=0.0), dict(a=1.0), dict(signal="square"), dict(t_end=-1.0)])
def test_simulate_discretizations_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        ssm.simulate_discretizations(**kwargs)


# --------------------------------------------------------------------------- attention
@pytest.mark.parametrize("causal", [False, True])
def test_tiling_trace_matches_the_online_softmax(causal):
    run = att.tiling_trace(T=20, d=4, block_q=4, block_k=6, causal=causal, seed=3)
    assert run["max_abs_diff"] < 1e-5
    assert len(run["steps"]) == run["n_q_blocks"] * run["n_kv_blocks"]
    s = run["scores"]
    m = np.nanmax(s, axis=1)
    np.testing.assert_allclose(run["m"], m, rtol=1e-5)
    np.testing.assert_allclose(run["l"], np.nansum(np.exp(s - m[:, None]), axis=1), rtol=1e-5)
    assert any(st["skipped"] for st in run["steps"]) == causal


def test_attention_weights_agree_with_naive_attention():
    q, k, v = att.random_qkv(12, 8, seed=1)
    for causal in (False, True):
        w = att.attention_weights(q, k, causal=causal)
        torch.testing.assert_close(w.sum(-1), torch.ones(12, dtype=w.dtype))
        torch.testing.assert_close(w @ v, att.naive_attention(q, k, v, causal=causal))
        if causal:
            assert torch.all(w.triu(1) == 0)
    with pytest.raises(ValueError, match="last dimension"):
        att.attention_weights(q, k[:, :4])


def test_performer_error_shrinks_with_more_features():
    q, k, v = att.random_qkv(32, 8, seed=0, std=0.5)
    errs = []
    for m in (4, 512):
        e = [att.performer_comparison(q, k, v, att.orthogonal_gaussian(m, 8, seed=s))[2] for s in range(4)]
        errs.append(np.mean(e))
    assert errs[1] < errs[0] / 3
    exact, approx, err = att.performer_comparison(q, k, v, att.orthogonal_gaussian(16, 8, seed=0))
    torch.testing.assert_close(approx.sum(-1), torch.ones(32, dtype=approx.dtype))
    assert err == pytest.approx(float(torch.linalg.vector_norm(approx @ v - exact @ v)
                                      / torch.linalg.vector_norm(exact @ v)))


# --------------------------------------------------------------------------- moe.route_with_router
def test_route_with_router_uses_the_given_router_and_leaves_global_rng_alone():
    x, labels = moe.token_clusters(40, 8, 4, seed=0)
    w = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    state = torch.random.get_rng_state()
    out = moe.route_with_router(x, w, d_ff=4, k=2, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())
    top = torch.topk(x @ w.T, 2, dim=-1).indices
    assert torch.equal(out.routing.expert_index, top)
    again = moe.route_with_router(x, w, d_ff=4, k=2, seed=5)
    assert torch.equal(out.output, again.output)
    with pytest.raises(ValueError, match="router_weight"):
        moe.route_with_router(x, w[:, :4], d_ff=4)


# --------------------------------------------------------------------------- costs.decoder_knobs
def test_decoder_costs_match_explicit_settings():
    T = [1024, 4096]
    got = costs.decoder_costs(T, methods=("dense", "longformer", "flash"), window=256)
    want = costs.cost_of("longformer", T, window=256, n_global=16, clip=True, causal=True)
    np.testing.assert_array_equal(got["longformer"].flops, want.flops)
    # causal dense attention does about half the score work of the bidirectional one
    causal, full = got["dense"].mixing_flops, costs.dense(T).mixing_flops
    assert np.all(causal < 0.6 * full)
    assert costs.decoder_knobs()["flash"]["sram_bytes"] == costs.DEFAULT_SRAM_BYTES
    with pytest.raises(ValueError, match="method"):
        costs.decoder_costs(T, methods=("quantum",))
