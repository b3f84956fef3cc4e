"""Scenario generators, stylised facts, VaR/ES: checked against closed forms and the fitted model."""
import math

import numpy as np
import pytest
from scipy.stats import norm

from frontier.finance import scenarios as sc


@pytest.fixture(scope="module")
def returns():
    return sc.sp500_returns()


@pytest.fixture(scope="module")
def fit(returns):
    return sc.fit_garch(returns)


def test_sp500_is_the_bundled_series(returns):
    assert returns.shape == (5030,)
    assert 0.9 < returns.std() < 1.5               # daily percent volatility of the index, 1999-2018


def test_var_es_match_the_normal_closed_form():
    x = np.random.default_rng(0).normal(0.1, 2.0, 2_000_000)
    for level in (0.95, 0.99):
        assert sc.value_at_risk(x, level) == pytest.approx(sc.normal_var(0.1, 2.0, level), rel=0.01)
        assert sc.expected_shortfall(x, level) == pytest.approx(sc.normal_es(0.1, 2.0, level), rel=0.01)
    # the closed forms themselves: 99% normal VaR is 2.326 sigma, ES is phi(z)/(1 - level) sigma
    assert sc.normal_var(0.0, 1.0, 0.99) == pytest.approx(2.3263, abs=1e-4)
    assert sc.normal_es(0.0, 1.0, 0.99) == pytest.approx(norm.pdf(2.3263479) / 0.01, abs=1e-4)


def test_var_es_on_a_discrete_distribution_follow_the_definitions():
    x = np.arange(1, 101, dtype=float) - 50.0      # -49 .. 50, each with probability 1/100
    # 5% quantile (inverted CDF): the 5th smallest value, -45; ES averages the 5 worst outcomes
    assert sc.value_at_risk(x, 0.95) == 45.0
    assert sc.expected_shortfall(x, 0.95) == pytest.approx(np.mean([49, 48, 47, 46, 45]))
    assert sc.expected_shortfall(x, 0.95) >= sc.value_at_risk(x, 0.95)


def test_garch_simulation_reproduces_the_unconditional_variance(fit):
    paths = sc.simulate_garch(fit, 20_000, 50, seed=3)
    chk = sc.garch_moment_check(fit, paths)
    assert abs(chk["z_variance"]) < 4 and abs(chk["z_mean"]) < 4
    assert chk["variance"] == pytest.approx(fit.unconditional_variance, rel=0.05)
    # the same check rejects a wrong model: GBM with 30% more volatility
    wrong = sc.simulate_gbm(fit.mu, 1.3 * math.sqrt(fit.unconditional_variance), 20_000, 50, seed=3)
    assert abs(sc.garch_moment_check(fit, wrong)["z_variance"]) > 10


def test_garch_recursion_matches_arch_simulate(fit):
    """Our recursion's long-run variance agrees with arch's own simulator for the same parameters."""
    from arch import arch_model
    sim = arch_model(None, mean="Constant", vol="GARCH", p=1, q=1).simulate(
        [fit.mu, fit.omega, fit.alpha, fit.beta], 200_000, burn=1000)
    ours = sc.simulate_garch(fit, 4000, 50, seed=1)
    assert np.var(sim["data"]) == pytest.approx(fit.unconditional_variance, rel=0.15)
    assert np.var(ours) == pytest.approx(fit.unconditional_variance, rel=0.1)


def test_stylised_facts_separate_the_generators(returns, fit):
    hist = sc.stylised_facts(returns)
    gbm = sc.stylised_facts(sc.simulate_gbm(returns.mean(), returns.std(), 20, 1000, seed=0))
    garch = sc.stylised_facts(sc.simulate_garch(fit, 20, 1000, seed=0))
    boot = sc.stylised_facts(sc.bootstrap_paths(returns, 20, 1000, seed=0))
    assert hist["excess_kurtosis"] > 3 and hist["acf_squared_mean"] > 0.1          # fat tails, clustering
    assert abs(gbm["excess_kurtosis"]) < 0.5 and abs(gbm["acf_squared_mean"]) < 0.03
    assert garch["acf_squared_mean"] > 0.05 and garch["excess_kurtosis"] > 0.5
    assert boot["excess_kurtosis"] > 3 and abs(boot["acf_squared_mean"]) < 0.03      # i.i.d. days: no clustering
    for f in (gbm, garch, boot):
        assert abs(f["acf_returns_1"]) < 0.05


def test_stress_shock_scales_gbm_var_and_decays_under_garch(fit):
    calm = sc.simulate_gbm(0.0, 1.0, 50_000, 1, seed=0)
    shocked = sc.simulate_gbm(0.0, 1.0, 50_000, 1, seed=0, vol_shock=2.0)
    assert sc.value_at_risk(shocked, 0.99) == pytest.approx(2 * sc.value_at_risk(calm, 0.99), rel=1e-9)
    g = sc.simulate_garch(fit, 20_000, 60, seed=0, vol_shock=3.0)
    early, late = g[:, :5].var(), g[:, -5:].var()
    assert early > 4 * fit.unconditional_variance and late < early


def test_bootstrap_blocks_keep_clustering(returns):
    iid = sc.stylised_facts(sc.bootstrap_paths(returns, 20, 1000, block=1, seed=0))
    blocks = sc.stylised_facts(sc.bootstrap_paths(returns, 20, 1000, block=50, seed=0))
    assert blocks["acf_squared_mean"] > iid["acf_squared_mean"] + 0.05


def test_return_tokenizer_round_trip(returns):
    tok = sc.ReturnTokenizer(returns, 8)
    ids = tok.encode(returns)
    assert ids.min() == 0 and ids.max() == 7
    counts = np.bincount(ids, minlength=8) / ids.size
    assert np.allclose(counts, 1 / 8, atol=0.01)                 # equal-probability bins
    back = tok.decode(ids, np.random.default_rng(0))
    assert np.array_equal(tok.encode(back), ids)                 # a decoded return lands in its own bin


@pytest.mark.parametrize("call, match", [
    (lambda: sc.value_at_risk([1.0, 2.0], 1.2), "level"),
    (lambda: sc.value_at_risk([], 0.99), "non-empty"),
    (lambda: sc.simulate_gbm(0, -1, 10, 10), "sigma"),
    (lambda: sc.simulate_gbm(0, 1, 0, 10), "n_paths"),
    (lambda: sc.bootstrap_paths([0.1, 0.2], 5, 5, block=0), "block"),
    (lambda: sc.GarchFit(0, 0.1, 0.5, 0.6), "alpha \\+ beta"),
    (lambda: sc.scenario_paths("magic", 2, 2), "generator"),
    (lambda: sc.stylised_facts(np.zeros(5)), "lags"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.slow
def test_learned_generator_reproduces_fat_tails(returns, one_torch_thread):
    model, tok = sc.train_return_model(sc.ReturnModelSpec(steps=150), progress=False)
    x = sc.sample_learned(model, tok, 20, 300, seed=0)
    f = sc.stylised_facts(x)
    assert f["excess_kurtosis"] > 3                       # the tails come from the data's own bins
    assert abs(f["acf_returns_1"]) < 0.15
    assert 0.8 < x.std() / returns.std() < 1.2
