"""frontier.efficiency.scaling against facts.md section 9 and against synthetic losses with known parameters."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.efficiency import scaling


def test_chinchilla_optimum_hoffmann_matches_facts():
    n, d = scaling.chinchilla_optimum(5.88e23, fit="hoffmann")
    assert n == pytest.approx(3.25e10, rel=0.01)
    assert d / n == pytest.approx(93, rel=0.01)
    assert 6 * n * d == pytest.approx(5.88e23, rel=1e-12)


def test_chinchilla_optimum_epoch_matches_facts():
    n, d = scaling.chinchilla_optimum(5.88e23, fit="epoch")
    assert n == pytest.approx(7.3e10, rel=0.01)
    assert d / n == pytest.approx(18.4, rel=0.02)


@settings(max_examples=30, deadline=None)
@given(logc=st.floats(18, 26), fit=st.sampled_from(["hoffmann", "epoch", "hoffmann-tex"]))
def test_optimum_minimises_the_isoflop_curve(logc, fit):
    c = 10.0 ** logc
    n, _ = scaling.chinchilla_optimum(c, fit=fit)
    grid = n * np.logspace(-1, 1, 401)
    losses = scaling.isoflop_curve(fit, c, grid)
    assert grid[np.argmin(losses)] == pytest.approx(n, rel=0.02)


def test_frontier_exponent_is_beta_over_alpha_plus_beta():
    c = np.logspace(19, 25, 7)
    n, _ = scaling.optimum("epoch", c)
    _, a = scaling.fit_power_law_frontier(c, n)
    assert a == pytest.approx(scaling.EPOCH.beta / (scaling.EPOCH.alpha + scaling.EPOCH.beta), rel=1e-9)


@pytest.mark.parametrize("truth", [scaling.EPOCH, scaling.LossFit("synthetic", 0.9, 30.0, 80.0, 0.45, 0.3)])
def test_fitter_recovers_known_parameters(truth):
    rng = np.random.default_rng(0)
    N = np.repeat(np.logspace(4, 7, 5), 5)
    D = np.tile(np.logspace(5, 8, 5), 5)
    L = truth.loss(N, D) * np.exp(rng.normal(0, 0.001, N.size))
    fit = scaling.fit_loss_surface(N, D, L, E=truth.E)
    assert fit.alpha == pytest.approx(truth.alpha, abs=0.02)
    assert fit.beta == pytest.approx(truth.beta, abs=0.02)
    assert math.log(fit.A) == pytest.approx(math.log(truth.A), abs=0.3)
    assert math.log(fit.B) == pytest.approx(math.log(truth.B), abs=0.3)


def test_bootstrap_intervals_cover_the_truth():
    truth = scaling.LossFit("synthetic", 0.9, 30.0, 80.0, 0.45, 0.3)
    rng = np.random.default_rng(1)
    N = np.repeat(np.logspace(4, 7, 4), 4)
    D = np.tile(np.logspace(5, 8, 4), 4)
    L = truth.loss(N, D) * np.exp(rng.normal(0, 0.003, N.size))
    res = scaling.bootstrap_fit(N, D, L, E=truth.E, n_boot=20, seed=0)
    lo, hi = res.intervals["alpha"]
    assert lo - 0.02 <= truth.alpha <= hi + 0.02
    assert lo <= res.fit.alpha <= hi


def test_isoflop_minima_finds_the_vertex():
    c = 1e12
    N = np.logspace(4, 6, 7)
    D = c / (6 * N)
    L = scaling.isoflop_curve("epoch", c, N)
    m = scaling.isoflop_minima(N, D, L)
    (budget, res), = m.items()
    n_true, _ = scaling.optimum("epoch", c)
    assert budget == pytest.approx(c)
    assert res["n_opt"] == pytest.approx(float(n_true), rel=0.1)


def test_training_cost():
    out = scaling.training_cost_dollars(3.6e18, peak_flops=1e15, mfu=0.5, price_per_gpu_hour=2.0)
    assert out["gpu_hours"] == pytest.approx(2.0)
    assert out["dollars"] == pytest.approx(4.0)


def test_bad_input():
    with pytest.raises(ValueError, match="fit"):
        scaling.chinchilla_optimum(1e20, fit="kaplan")
    with pytest.raises(ValueError, match="compute"):
        scaling.chinchilla_optimum(-1.0)
    with pytest.raises(TypeError, match="compute"):
        scaling.chinchilla_optimum("1e20")
    with pytest.raises(ValueError, match="exceed E"):
        scaling.fit_loss_surface([1, 2, 3, 4], [1, 2, 3, 4], [1, 1, 1, 0.5], E=0.8)
    with pytest.raises(ValueError, match="at least 4"):
        scaling.fit_loss_surface([1, 2], [1, 2], [2, 2], E=0.8)
