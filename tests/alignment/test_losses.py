"""The preference losses: identities with the Bradley–Terry likelihood, IPO's target, ORPO's stable odds."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.alignment import losses as L

pytestmark = pytest.mark.usefixtures("one_torch_thread")

logp = st.floats(min_value=-20.0, max_value=-1e-3)


def _batch(seed: int, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    return [-(torch.rand(n, generator=g, dtype=torch.float64) * 5 + 0.01) for _ in range(4)]


@given(st.integers(0, 10_000), st.floats(0.01, 5.0))
@settings(max_examples=30, deadline=None)
def test_dpo_is_the_bradley_terry_likelihood_under_the_implicit_reward(seed, beta):
    pc, pr, rc, rr = _batch(seed)
    via_bt = L.bradley_terry_nll(L.implicit_reward(pc, rc, beta), L.implicit_reward(pr, rr, beta))
    assert float(L.dpo_loss(pc, pr, rc, rr, beta)) == pytest.approx(float(via_bt), rel=1e-12)


def test_dpo_matches_a_hand_computation_and_is_a_batch_mean():
    pc, pr, rc, rr = (torch.tensor(v, dtype=torch.float64) for v in ([-1.0, -2.0], [-3.0, -1.0], [-2.0, -2.0],
                                                                       [-2.0, -2.0]))
    beta = 0.1
    h = np.array([(-1 + 2) - (-3 + 2), (-2 + 2) - (-1 + 2)])
    expected = np.mean(np.log1p(np.exp(-beta * h)))
    assert float(L.dpo_loss(pc, pr, rc, rr, beta)) == pytest.approx(expected, rel=1e-12)
    per = L.dpo_loss(pc, pr, rc, rr, beta, reduction="none")
    assert per.shape == (2,) and float(per.mean()) == pytest.approx(expected)
    # at the start of training (policy = reference) every pair costs log 2
    assert float(L.dpo_loss(rc, rr, rc, rr, beta)) == pytest.approx(math.log(2))


def test_dpo_gradient_pushes_chosen_up_and_rejected_down():
    pc, pr, rc, rr = _batch(3)
    pc.requires_grad_(True), pr.requires_grad_(True)
    L.dpo_loss(pc, pr, rc, rr, 0.5).backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()


@pytest.mark.parametrize("tau", [0.05, 0.5, 2.0])
def test_ipo_is_minimised_at_its_target_margin(tau):
    # scan the margin h; the loss (h - 1/(2 tau))^2 is smallest at h = 1/(2 tau) (Azar et al. 2023, Eq. 17)
    hs = np.linspace(-1, 12, 13001)
    rc = torch.full((len(hs),), -50.0, dtype=torch.float64)
    values = L.ipo_loss(rc + torch.tensor(hs), rc, rc, rc, tau, reduction="none")
    assert hs[int(torch.argmin(values))] == pytest.approx(1 / (2 * tau), abs=2e-3)
    assert float(values.min()) < 1e-6


@given(logp, logp)
@settings(max_examples=50, deadline=None)
def test_orpo_log_odds_equal_a_direct_float64_computation(c, r):
    p, q = math.exp(c), math.exp(r)
    direct = math.log(p / -math.expm1(c)) - math.log(q / -math.expm1(r))
    got = L.log_odds(torch.tensor([c], dtype=torch.float64)) - L.log_odds(torch.tensor([r], dtype=torch.float64))
    assert float(got) == pytest.approx(direct, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("c", [-1e-4, -1e-6, -1e-9])
def test_orpo_odds_stay_accurate_near_probability_one(c):
    # log(1 - e^c) computed naively in float32 rounds 1 - e^c to 0 or to one ulp; the log1p / expm1 form does not
    exact = c - math.log(-math.expm1(c))
    got = float(L.log_odds(torch.tensor([c], dtype=torch.float32)))
    assert got == pytest.approx(exact, rel=1e-5)
    if c > -1e-5:  # float32 cannot even represent e^c != 1 accurately here
        naive = float(torch.tensor(c, dtype=torch.float32) - torch.log(1 - torch.exp(torch.tensor(c, dtype=torch.float32))))
        assert not math.isfinite(naive) or abs(naive - exact) > 1e-4 * abs(exact)


def test_orpo_gradient_is_finite_near_probability_one():
    c = torch.tensor([-1e-7, -0.3], dtype=torch.float64, requires_grad=True)
    r = torch.tensor([-2.0, -1e-7], dtype=torch.float64)
    L.orpo_loss(c, r, None, None, 0.1).backward()
    assert torch.isfinite(c.grad).all()


def test_orpo_is_nll_plus_lambda_odds_term():
    c = torch.tensor([-0.2, -1.0], dtype=torch.float64)
    r = torch.tensor([-0.5, -0.7], dtype=torch.float64)
    odds = lambda x: np.exp(x) / (1 - np.exp(x))  # noqa: E731
    term = -np.log(1 / (1 + odds(r.numpy()) / odds(c.numpy())))
    expected = np.mean(-c.numpy() + 0.1 * term)
    assert float(L.orpo_loss(c, r, beta=0.1)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad_beta", [0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("fn", [L.dpo_loss, L.ipo_loss])
def test_bad_beta_raises(fn, bad_beta):
    pc, pr, rc, rr = _batch(0)
    with pytest.raises(ValueError, match="beta"):
        fn(pc, pr, rc, rr, bad_beta)


def test_bad_inputs_raise_clear_errors():
    pc, pr, rc, rr = _batch(0)
    with pytest.raises(ValueError, match="shape"):
        L.dpo_loss(pc, pr[:3], rc, rr, 0.1)
    with pytest.raises(ValueError, match="outside"):
        L.dpo_loss(pc.abs(), pr, rc, rr, 0.1)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        L.orpo_loss(torch.zeros(16, dtype=torch.float64), pr, None, None, 0.1)
    with pytest.raises(ValueError, match="reference"):
        L.orpo_loss(pc, pr, rc, rr, 0.1)
    with pytest.raises(ValueError, match="1-D"):
        L.dpo_loss(pc[None], pr[None], rc[None], rr[None], 0.1)
    with pytest.raises(TypeError, match="policy_chosen_logps"):
        L.dpo_loss("x", pr, rc, rr, 0.1)
    with pytest.raises(ValueError, match="finite"):
        L.dpo_loss(pc * float("nan"), pr, rc, rr, 0.1)


def test_reward_margin_reports_trl_metrics():
    pc, pr, rc, rr = _batch(1)
    m = L.reward_margin(pc, pr, rc, rr, 0.5)
    assert m["margin"] == pytest.approx(m["chosen"] - m["rejected"])
    assert 0 <= m["accuracy"] <= 1
