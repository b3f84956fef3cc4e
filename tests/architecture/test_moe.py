"""Tests for frontier.architecture.moe: routing, capacity, losses, the MoE layer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.architecture import moe
from frontier.architecture.params import ModelConfig, parameter_breakdown

FAST = settings(max_examples=40, deadline=None)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _logits(tokens: int, experts: int, seed: int = 0, scale: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(tokens, experts, generator=g, dtype=torch.float64)


# --------------------------------------------------------------------------- routing

@FAST
@given(tokens=st.integers(1, 40), experts=st.integers(1, 12), data=st.data())
def test_router_weights_sum_to_one_and_pick_exactly_k_experts(tokens, experts, data):
    k = data.draw(st.integers(1, experts))
    r = moe.route(_logits(tokens, experts, seed=tokens * 31 + experts), k)
    assert r.expert_index.shape == (tokens, k) and r.weights.shape == (tokens, k)
    torch.testing.assert_close(r.weights.sum(-1), torch.ones(tokens, dtype=torch.float64))
    torch.testing.assert_close(r.probs.sum(-1), torch.ones(tokens, dtype=torch.float64))
    for row in r.expert_index.tolist():
        assert len(set(row)) == k                     # k distinct experts
    assert torch.all(r.weights[:, :-1] >= r.weights[:, 1:])   # most probable first


def test_softmax_topk_renormalise_equals_topk_logits_then_softmax():
    """HF's order (softmax, top-k, renormalise) equals Mixtral's reference (top-k logits, softmax)."""
    logits = _logits(64, 8, seed=1)
    r = moe.route(logits, 2)
    top_logits, top_idx = torch.topk(logits, 2, dim=-1)
    torch.testing.assert_close(r.expert_index, top_idx)
    torch.testing.assert_close(r.weights, torch.softmax(top_logits, dim=-1))


def test_temperature_changes_weights_not_choices():
    logits = _logits(50, 6, seed=2)
    cold, hot = moe.route(logits, 2, temperature=0.5), moe.route(logits, 2, temperature=4.0)
    torch.testing.assert_close(cold.expert_index, hot.expert_index)
    torch.testing.assert_close(hot.probs, torch.softmax(logits / 4.0, dim=-1))
    # a hotter router is less decisive: the top weight shrinks towards 1/k
    assert torch.all(hot.weights[:, 0] <= cold.weights[:, 0] + 1e-12)


def test_router_noise_is_seeded_and_spreads_choices():
    logits = torch.zeros(200, 4, dtype=torch.float64)
    logits[:, 0] = 1.0                                           # everyone prefers expert 0
    a = moe.route(logits, 1, noise_std=2.0, seed=7)
    b = moe.route(logits, 1, noise_std=2.0, seed=7)
    c = moe.route(logits, 1, noise_std=2.0, seed=8)
    torch.testing.assert_close(a.expert_index, b.expert_index)
    assert not torch.equal(a.expert_index, c.expert_index)
    assert moe.route(logits, 1).expert_index.unique().tolist() == [0]
    assert len(a.expert_index.unique()) == 4
    with pytest.raises(ValueError, match="seed"):
        moe.route(logits, 1, noise_std=1.0)


def test_route_rejects_bad_arguments():
    logits = _logits(4, 3)
    with pytest.raises(ValueError, match="k .*at most n_experts=3"):
        moe.route(logits, 4)
    with pytest.raises(ValueError, match="k"):
        moe.route(logits, 0)
    with pytest.raises(ValueError, match="temperature"):
        moe.route(logits, 1, temperature=0.0)
    with pytest.raises(ValueError, match="noise_std"):
        moe.route(logits, 1, noise_std=-1.0)
    with pytest.raises(ValueError, match="tokens, n_experts"):
        moe.route(logits[0], 1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        moe.route(np.zeros((4, 3)), 1)


# --------------------------------------------------------------------------- capacity

def test_expert_capacity_convention():
    assert moe.expert_capacity(512, 8, 1, 1.0) == 64               # Switch: tokens / experts * CF
    assert moe.expert_capacity(512, 8, 1, 1.25) == 80
    assert moe.expert_capacity(512, 8, 2, 1.25) == 160             # k assignments per token
    assert moe.expert_capacity(10, 3, 1, 1.0) == 4                 # rounded up
    assert moe.expert_capacity(10, 3, 1, None) == 10               # no limit
    assert moe.expert_capacity(10, 3, 1, math.inf) == 10
    assert moe.expert_capacity(10, 2, 2, 100.0) == 10              # never more than the tokens


def test_expert_capacity_rejects_bad_arguments():
    with pytest.raises(ValueError, match="capacity_factor"):
        moe.expert_capacity(10, 4, 1, -1.0)
    with pytest.raises(ValueError, match="capacity_factor"):
        moe.expert_capacity(10, 4, 1, 0.0)
    with pytest.raises(ValueError, match="at most n_experts"):
        moe.expert_capacity(10, 4, 5, 1.0)
    with pytest.raises(TypeError, match="capacity_factor"):
        moe.expert_capacity(10, 4, 1, "big")


def _reference_assignment(expert_index, weights, capacity, policy):
    """Second implementation: a plain loop over assignments in priority order."""
    T, k = expert_index.shape
    items = [(r, t) for r in range(k) for t in range(T)]
    if policy == "position":
        items.sort(key=lambda rt: (rt[0], rt[1]))
    else:
        items.sort(key=lambda rt: (rt[0], -weights[rt[1], rt[0]], rt[1]))
    used: dict = {}
    kept = np.zeros((T, k), dtype=bool)
    for r, t in items:
        e = expert_index[t, r]
        if used.get(e, 0) < capacity:
            kept[t, r] = True
            used[e] = used.get(e, 0) + 1
    return kept


@FAST
@given(tokens=st.integers(1, 30), experts=st.integers(1, 6), seed=st.integers(0, 10_000),
       cap=st.integers(1, 12), policy=st.sampled_from(moe.DROP_POLICIES), data=st.data())
def test_no_expert_exceeds_capacity_and_priority_matches_reference(tokens, experts, seed, cap, policy, data):
    k = data.draw(st.integers(1, experts))
    r = moe.route(_logits(tokens, experts, seed), k)
    a = moe.assign_to_capacity(r.expert_index, cap, weights=r.weights, policy=policy)
    idx = r.expert_index.numpy()
    kept = a.kept.numpy()
    kept_load = np.bincount(idx[kept], minlength=experts)
    requested = np.bincount(idx.reshape(-1), minlength=experts)
    assert np.all(kept_load <= cap)
    np.testing.assert_array_equal(kept_load, np.minimum(requested, cap))   # drops only overflow
    np.testing.assert_array_equal(kept, _reference_assignment(idx, r.weights.numpy(), cap, policy))


def test_first_choices_are_placed_before_second_choices():
    # three tokens all want expert 0 first; token 2 wants it as a second choice too
    idx = torch.tensor([[1, 0], [2, 0], [0, 1]])
    a = moe.assign_to_capacity(idx, 1)
    # expert 0 takes token 2's *first* choice, although tokens 0 and 1 come earlier
    assert a.kept.tolist() == [[True, False], [True, False], [True, False]]


def test_assign_to_capacity_rejects_bad_arguments():
    idx = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="policy"):
        moe.assign_to_capacity(idx, 1, policy="random")
    with pytest.raises(ValueError, match="weights"):
        moe.assign_to_capacity(idx, 1, policy="probability")
    with pytest.raises(ValueError, match="capacity"):
        moe.assign_to_capacity(idx, 0)


# --------------------------------------------------------------------------- losses

@pytest.mark.parametrize("k", [1, 2, 4])
def test_balance_loss_equals_coefficient_for_uniform_routing(k):
    E, T = 8, 64
    probs = torch.full((T, E), 1.0 / E)
    idx = (torch.arange(T)[:, None] + torch.arange(k)[None, :] * 3) % E   # every expert equally often
    assert moe.load_balancing_loss(probs, idx, coefficient=0.01).item() == pytest.approx(0.01, rel=1e-6)


def test_balance_loss_grows_with_skew():
    E, T = 8, 32
    direction = torch.linspace(1.0, 0.0, E)
    losses = []
    for skew in [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]:
        r = moe.route((skew * direction).repeat(T, 1), 1)
        losses.append(moe.load_balancing_loss(r.probs, r.expert_index, 1.0).item())
    assert np.all(np.diff(losses) > 0)
    assert losses[-1] == pytest.approx(E * torch.softmax(8.0 * direction, 0)[0].item(), rel=1e-5)


@FAST
@given(logits=st.lists(st.floats(-5, 5), min_size=2, max_size=10), data=st.data())
def test_balance_loss_is_at_least_coefficient_when_all_tokens_agree(logits, data):
    """Identical tokens: the loss is E * mean(top-k probs) >= 1 (times alpha)."""
    E = len(logits)
    k = data.draw(st.integers(1, E))
    r = moe.route(torch.tensor(logits, dtype=torch.float64).repeat(5, 1), k)
    assert moe.load_balancing_loss(r.probs, r.expert_index, 1.0).item() >= 1.0 - 1e-9


def test_balance_loss_is_hugging_face_value_divided_by_k():
    logits = _logits(40, 6, seed=3)
    k = 2
    r = moe.route(logits, k)
    # Hugging Face's load_balancing_loss_func, written out: E * sum(mean(one_hot) * mean(probs))
    one_hot = torch.nn.functional.one_hot(r.expert_index, 6).double()        # (T, k, E)
    hf = 6 * torch.sum(one_hot.mean(dim=0) * r.probs.mean(dim=0).unsqueeze(0))
    torch.testing.assert_close(moe.load_balancing_loss(r.probs, r.expert_index, 1.0) * k, hf)


def test_balance_loss_gradient_pushes_towards_the_unused_experts():
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0]] * 8, requires_grad=True)
    r = moe.route(logits, 1)
    moe.load_balancing_loss(r.probs, r.expert_index, 1.0).backward()
    assert torch.all(logits.grad[:, 0] > 0) and torch.all(logits.grad[:, 1:] < 0)


def test_router_z_loss_by_hand():
    E = 8
    logits = torch.zeros(5, E)
    assert moe.router_z_loss(logits, 1e-3).item() == pytest.approx(1e-3 * math.log(E) ** 2)
    big = torch.tensor([[10.0, 0.0], [0.0, 0.0]])
    expected = 0.5 * (math.log(math.exp(10) + 1) ** 2 + math.log(2) ** 2)
    assert moe.router_z_loss(big, 1.0).item() == pytest.approx(expected, rel=1e-6)
    # shifting all logits up raises it (softmax unchanged, z-loss not)
    assert moe.router_z_loss(logits + 5, 1.0) > moe.router_z_loss(logits, 1.0)


# --------------------------------------------------------------------------- statistics

def test_routing_statistics_balanced_and_collapsed():
    E, T = 4, 40
    probs = torch.full((T, E), 0.25)
    idx = (torch.arange(T) % E)[:, None]
    balanced = moe.routing_statistics(moe.Routing(probs.log(), probs, idx, torch.ones(T, 1)))
    assert balanced.load_cv == 0.0 and balanced.drop_rate == 0.0
    assert balanced.load_entropy == pytest.approx(math.log(E))
    assert balanced.token_entropy == pytest.approx(math.log(E))
    np.testing.assert_array_equal(balanced.requested_load, [10, 10, 10, 10])

    probs = torch.tensor([[1.0, 0, 0, 0]]).repeat(T, 1)
    idx = torch.zeros(T, 1, dtype=torch.int64)
    r = moe.Routing(probs, probs, idx, torch.ones(T, 1))
    a = moe.assign_to_capacity(idx, moe.expert_capacity(T, E, 1, 1.0))
    collapsed = moe.routing_statistics(r, a)
    assert collapsed.load_entropy == 0.0 and collapsed.token_entropy == 0.0
    assert collapsed.load_cv == pytest.approx(math.sqrt(E - 1))       # std/mean of (T,0,0,0)
    assert collapsed.drop_rate == pytest.approx(0.75) and collapsed.tokens_fully_dropped == pytest.approx(0.75)
    np.testing.assert_array_equal(collapsed.kept_load, [10, 0, 0, 0])


# --------------------------------------------------------------------------- layer

def _layer(**kw):
    torch.manual_seed(0)
    defaults = dict(d_model=8, d_ff=16, n_experts=4, k=2)
    defaults.update(kw)
    return moe.MoELayer(**defaults).double()


def test_swiglu_expert_by_hand():
    torch.manual_seed(0)
    ex = moe.SwiGLUExpert(3, 5).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    h = x @ ex.w1.weight.T
    expected = ((h * torch.sigmoid(h)) * (x @ ex.w3.weight.T)) @ ex.w2.weight.T
    torch.testing.assert_close(ex(x), expected)


def test_layer_parameters_match_the_shared_counter():
    layer = moe.MoELayer(d_model=16, d_ff=24, n_experts=6, k=2)
    cfg = ModelConfig("tiny", d_model=16, n_layers=1, n_heads=2, d_ff=24, vocab_size=10,
                      n_experts=6, experts_per_token=2)
    counts = parameter_breakdown(cfg)
    assert sum(p.numel() for p in layer.parameters()) == counts["ffn"] + counts["router"]


def test_layer_with_all_experts_and_no_capacity_is_the_dense_mixture():
    layer = _layer(k=4, capacity_factor=None)
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    out = layer(x)
    flat = x.reshape(-1, 8)
    p = torch.softmax(layer.router(flat), dim=-1)
    dense = sum(p[:, e:e + 1] * layer.experts[e](flat) for e in range(4))
    torch.testing.assert_close(out.output, dense.reshape(3, 5, 8))
    assert out.statistics().drop_rate == 0.0


def test_layer_top1_sends_each_token_to_its_argmax_expert():
    layer = _layer(k=1)
    x = torch.randn(20, 8, dtype=torch.float64)
    out = layer(x)
    choice = layer.router(x).argmax(-1)
    expected = torch.stack([layer.experts[int(e)](x[t]) for t, e in enumerate(choice)])
    torch.testing.assert_close(out.output, expected)                  # weight 1 after renormalising


def test_dropped_tokens_output_zero_and_others_are_unchanged():
    layer = _layer(k=1, capacity_factor=0.25)                        # capacity 2 of 32 tokens
    x = torch.randn(32, 8, dtype=torch.float64)
    out = layer(x)
    free = _layer(k=1, capacity_factor=None)(x)                       # same weights (same seed)
    kept = out.assignment.kept[:, 0]
    assert (~kept).any() and kept.any()
    assert torch.all(out.output[~kept] == 0)
    torch.testing.assert_close(out.output[kept], free.output[kept])
    stats = out.statistics()
    assert np.all(stats.kept_load <= out.assignment.capacity)
    assert stats.drop_rate == pytest.approx(1 - kept.double().mean().item())


def test_layer_losses_backpropagate_into_the_router():
    layer = _layer(balance_coef=0.01, z_coef=0.001)
    out = layer(torch.randn(16, 8, dtype=torch.float64))
    (out.output.pow(2).mean() + out.aux_loss).backward()
    assert layer.router.weight.grad is not None and layer.router.weight.grad.abs().sum() > 0
    assert out.aux_loss.item() == pytest.approx(out.balance_loss.item() + out.z_loss.item())


def test_layer_noise_is_reproducible_and_layer_deep_copies():
    import copy
    layer = _layer(noise_std=1.0, seed=3)
    x = torch.randn(30, 8, dtype=torch.float64)
    first = layer(x).routing.expert_index
    layer.reset_noise()
    torch.testing.assert_close(layer(x).routing.expert_index, first)
    clone = copy.deepcopy(layer)
    torch.testing.assert_close(clone(x).routing.expert_index, first)


def test_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at most n_experts"):
        moe.MoELayer(8, 16, n_experts=4, k=5)
    with pytest.raises(ValueError, match="capacity_factor"):
        moe.MoELayer(8, 16, n_experts=4, k=2, capacity_factor=-0.5)
    with pytest.raises(ValueError, match="drop_policy"):
        moe.MoELayer(8, 16, n_experts=4, drop_policy="last")
    with pytest.raises(ValueError, match=r"\(\.\.\., 8\)"):
        moe.MoELayer(8, 16, n_experts=4)(torch.randn(3, 7))


# --------------------------------------------------------------------------- the toy routing problem

def test_toy_router_gradient_matches_autograd_of_the_library_losses():
    x, labels = moe.token_clusters(40, 6, 4, seed=2)
    pref = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))[labels].double()
    w = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    logits = x.double() @ w.T
    r = moe.route(logits, 2)
    loss = (-(r.probs * pref).sum(-1).mean() + moe.load_balancing_loss(r.probs, r.expert_index, 0.3)
            + moe.router_z_loss(logits, 0.05))
    loss.backward()
    value, grad = moe._toy_objective(w.detach().numpy(), x.double().numpy(), pref.numpy(), 2, 0.3, 0.05)
    assert value == pytest.approx(loss.item(), rel=1e-10)
    np.testing.assert_allclose(grad, w.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_fitted_router_follows_preferences_and_balances_when_asked():
    x, labels = moe.token_clusters(96, 16, 6, seed=0)
    loads = {}
    for coef in (0.0, 10.0):
        w = moe.fit_router_to_preferences(x, labels, 8, 2, balance_coef=coef, seed=0)
        r = moe.route(x @ w.T, 2)
        loads[coef] = moe.routing_statistics(r).load_cv
    assert loads[10.0] < 0.5 * loads[0.0]
    with pytest.raises(ValueError, match="at most n_experts"):
        moe.fit_router_to_preferences(x, labels, 2, 3)


# --------------------------------------------------------------------------- expert parallelism, shared and fine-grained experts
def test_expert_parallel_bytes_per_token_for_mixtral():
    from frontier.architecture import moe as _moe
    # dispatch + combine, k = 2 copies of a 4096-vector in bf16, 7/8 of them leave the device
    assert _moe.expert_parallel_bytes_per_token(4096, 2, 8) == 2 * 2 * 4096 * 2 * 7 / 8 == 28_672
    assert _moe.expert_parallel_bytes_per_token(4096, 2, 1) == 0
    with pytest.raises(ValueError, match="n_devices"):
        _moe.expert_parallel_bytes_per_token(4096, 2, 0)


def test_fine_grained_experts_keep_parameters_and_multiply_combinations():
    from frontier.architecture import moe as _moe
    coarse = _moe.moe_layer_parameters(4096, 14336, 8, 2)
    fine = _moe.moe_layer_parameters(4096, 14336 // 4, 32, 8)
    assert coarse["stored"] - coarse["router"] == fine["stored"] - fine["router"] == 8 * 3 * 4096 * 14336
    assert coarse["active"] - coarse["router"] == fine["active"] - fine["router"]
    assert _moe.expert_combinations(8, 2) == 28 and _moe.expert_combinations(32, 8) == 10_518_300
    shared = _moe.moe_layer_parameters(4096, 1000, 10, 2, n_shared=2)
    assert shared["active"] == 4 * 3 * 4096 * 1000 + 4096 * 10
    with pytest.raises(ValueError, match="k"):
        _moe.moe_layer_parameters(4096, 1000, 4, 5)
