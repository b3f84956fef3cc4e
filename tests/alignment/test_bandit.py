"""The bandit with a known optimum: the closed form, preference sampling, RLHF and DPO against π*."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import softmax

from frontier.alignment import (Preferences, fit_policy, fit_reward_model, kl_divergence, kl_objective, online_dpo,
                                optimal_policy, rlhf, sample_preferences, win_rate)
from frontier.alignment.bandit import pair_coverage

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REF = np.array([0.4, 0.3, 0.2, 0.1])
R = np.array([0.0, 1.0, 2.0, 3.0])


def _random_bandit(seed: int, K: int = 5):
    g = np.random.default_rng(seed)
    return softmax(g.normal(size=K)), g.normal(scale=2.0, size=K)


@given(st.integers(0, 10_000), st.floats(0.05, 10.0))
@settings(max_examples=25, deadline=None)
def test_closed_form_maximises_the_kl_regularised_objective_numerically(seed, beta):
    ref, r = _random_bandit(seed)
    best = optimal_policy(ref, r, beta)
    res = minimize(lambda z: -kl_objective(softmax(z), ref, r, beta), np.zeros(len(ref)), method="BFGS",
                   options={"gtol": 1e-10})
    assert kl_objective(best, ref, r, beta) >= -res.fun - 1e-7
    assert np.abs(softmax(res.x) - best).max() < 1e-3
    # and the objective's maximum is beta * log Z, the soft maximum of the reward
    assert kl_objective(best, ref, r, beta) == pytest.approx(beta * np.log(np.sum(ref * np.exp(r / beta))), rel=1e-9)


def test_optimal_policy_limits_and_shapes():
    assert np.allclose(optimal_policy(REF, R, 1e3), REF, atol=2e-3)
    assert optimal_policy(REF, R, 1e-3)[-1] == pytest.approx(1.0)
    two = optimal_policy(np.stack([REF, REF[::-1]]), np.stack([R, R]), 1.0)
    assert two.shape == (2, 4) and np.allclose(two[0], optimal_policy(REF, R, 1.0))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="beta"):
        optimal_policy(REF, R, 0.0)
    with pytest.raises(ValueError, match="beta"):
        optimal_policy(REF, R, -1.0)
    with pytest.raises(ValueError, match="ref_probs"):
        optimal_policy([0.5, 0.6, -0.1, 0.0], R, 1.0)
    with pytest.raises(ValueError, match="ref_probs"):
        optimal_policy([1.0, 0.0, 0.0, 0.0], R, 1.0)       # not in (0, 1]
    with pytest.raises(ValueError, match="sum to 1"):
        optimal_policy([0.5, 0.5, 0.5, 0.5], R, 1.0)
    with pytest.raises(ValueError, match="rewards"):
        optimal_policy(REF, R[:3], 1.0)
    with pytest.raises(ValueError, match="n_pairs"):
        sample_preferences(R, 0, sampler=REF)
    with pytest.raises(ValueError, match="labels"):
        sample_preferences(R, 5, sampler=REF, labels="majority")
    with pytest.raises(ValueError, match="same length"):
        Preferences(np.zeros(3, int), np.zeros(2, int), np.zeros(3, int), 1, 4)


def test_bradley_terry_labels_have_the_logistic_win_rate():
    data = sample_preferences(R, 40_000, sampler=REF, seed=1)
    pair = (np.minimum(data.chosen, data.rejected) == 0) & (np.maximum(data.chosen, data.rejected) == 1)
    wins = np.mean(data.chosen[pair] == 1)
    n = pair.sum()
    p = 1 / (1 + np.exp(-(R[1] - R[0])))
    assert abs(wins - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert np.all(data.chosen != data.rejected)


def test_deterministic_labels_always_prefer_the_better_response():
    data = sample_preferences(R, 2_000, sampler=REF, labels="deterministic", seed=1)
    assert np.all(R[data.chosen] > R[data.rejected])


def test_a_sampler_without_support_leaves_responses_uncovered():
    data = sample_preferences(R, 500, sampler=[0.5, 0.5, 0.0, 0.0], seed=0)
    covered, share = pair_coverage(data)
    assert covered[0].tolist() == [True, True, False, False] and share == pytest.approx(1 / 6)


def test_reward_model_recovers_rewards_up_to_a_constant():
    g = np.random.default_rng(5)
    r = g.normal(scale=1.5, size=(3, 5))                 # three prompts
    data = sample_preferences(r, 30_000, sampler=np.full((3, 5), 0.2), seed=2)
    rm = fit_reward_model(data, l2=0.0)
    assert np.allclose(rm.mean(axis=1), 0.0)
    err = rm - (r - r.mean(axis=1, keepdims=True))
    assert np.abs(err).max() < 0.15
    # the constant is per prompt: shifting one prompt's rewards changes nothing
    shifted = sample_preferences(r + np.array([[10.0], [-3.0], [0.0]]), 30_000, sampler=np.full((3, 5), 0.2),
                                 seed=2)
    assert np.allclose(fit_reward_model(shifted, l2=0.0), rm)


def test_win_rate_of_the_reference_is_a_half_and_of_the_best_response_higher():
    assert win_rate(REF, REF, R) == pytest.approx(0.5)
    assert win_rate([0, 0, 0, 1.0], REF, R) == pytest.approx(1 - 0.1 / 2)


def test_kl_divergence_properties():
    assert kl_divergence(REF, REF) == 0.0
    assert kl_divergence([0.5, 0.5, 0, 0], [0.25] * 4) == pytest.approx(np.log(2))
    assert kl_divergence([0.25] * 4, [0.5, 0.5, 0, 0]) == float("inf")


@pytest.mark.slow
def test_dpo_reaches_the_optimum_with_bradley_terry_labels_and_full_coverage_but_not_deterministic_labels():
    beta = 1.0
    target = optimal_policy(REF, R, beta)
    bt = sample_preferences(R, 20_000, sampler=REF, seed=0)
    dpo = fit_policy(bt, REF, loss="dpo", beta=beta)[0]
    assert kl_divergence(dpo, target) < 2e-3
    det = sample_preferences(R, 20_000, sampler=REF, labels="deterministic", seed=0)
    dpo_det = fit_policy(det, REF, loss="dpo", beta=beta)[0]
    assert kl_divergence(dpo_det, target) > 0.3
    assert dpo_det.max() > 0.9 and dpo_det.min() < 1e-3          # probabilities driven towards 0 and 1
    ipo_det = fit_policy(det, REF, loss="ipo", beta=beta)[0]      # IPO stays a bounded distance from the reference
    assert kl_divergence(ipo_det, REF) < kl_divergence(dpo_det, REF) / 5


@pytest.mark.slow
def test_rlhf_reaches_the_optimum_and_dpo_is_not_unique_without_coverage():
    beta = 1.0
    target = optimal_policy(REF, R, beta)
    data = sample_preferences(R, 20_000, sampler=REF, seed=3)
    assert kl_divergence(rlhf(data, REF, beta, seed=0).policy[0], target) < 3e-3
    partial = sample_preferences(R, 20_000, sampler=[0.5, 0.5, 0.0, 0.0], seed=3)
    a = fit_policy(partial, REF, loss="dpo", beta=beta)[0]
    b = fit_policy(partial, REF, loss="dpo", beta=beta, init_logits=np.log(REF) + [0, 0, 2.0, -2.0])[0]
    assert abs(np.log(a[1] / a[0]) - np.log(b[1] / b[0])) < 1e-2   # the covered ratio is pinned down ...
    assert abs(a[2] - b[2]) > 0.1                                    # ... the uncovered mass is not


@pytest.mark.slow
def test_pooled_preferences_of_two_populations_crown_a_compromise_and_conditioning_recovers_each():
    r_a, r_b, flat = np.array([3.0, 0.0, 2.0, 0.0]), np.array([0.0, 3.0, 2.0, 0.0]), np.full(4, 0.25)
    pooled_data = sample_preferences(r_a, 4000, sampler=flat, populations=(np.stack([r_a, r_b]), [0.5, 0.5]), seed=0)
    pooled = fit_policy(pooled_data, flat, beta=0.5)[0]
    assert pooled.argmax() == 2 and pooled[2] > 0.4                 # first for neither population
    cond = fit_policy(sample_preferences(np.stack([r_a, r_b]), 4000, sampler=np.stack([flat, flat]), seed=0),
                      np.stack([flat, flat]), beta=0.5)
    assert cond[0].argmax() == 0 and cond[1].argmax() == 1


@pytest.mark.slow
def test_online_dpo_ends_closer_to_the_optimum_than_offline_on_the_same_labels_on_average():
    from frontier.viz.alignment import default_bandit

    ref, r = default_bandit()
    target = optimal_policy(ref, r, 1.0)
    on, off = [], []
    for s in range(4):
        res = online_dpo(r, ref, 1.0, rounds=8, pairs_per_round=50, steps_per_round=150, seed=s)
        on.append(res.kl_to_optimum[-1])
        off.append(kl_divergence(fit_policy(sample_preferences(r, res.labels[-1], sampler=ref, seed=s), ref,
                                            beta=1.0, steps=300)[0], target))
    assert np.mean(on) < np.mean(off)
