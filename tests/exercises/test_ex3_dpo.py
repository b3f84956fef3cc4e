"""Exercise 3's support: unseen bandits, expected counts whose DPO optimum is π*, the frozen values."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.alignment import Preferences, comparison_graph, fit_policy, kl_divergence, optimal_policy
from frontier.exercises import ex3_dpo as ex3
from frontier.exercises.guard import DelegationError, no_delegation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_unseen_bandits_are_valid_reproducible_and_varied():
    a, b = ex3.unseen_bandits(10, seed=1), ex3.unseen_bandits(10, seed=1)
    assert all(np.array_equal(x["ref"], y["ref"]) and x["beta"] == y["beta"] for x, y in zip(a, b))
    for case in a:
        assert np.allclose(case["ref"].sum(axis=1), 1.0) and (case["ref"] > 0).all()
    assert len({c["ref"].shape for c in a}) > 3 and len({c["beta"] for c in a}) > 1


def _weighted_preferences(wins: np.ndarray) -> Preferences:
    """Integer pairs approximating fractional counts (x500), for the library's trainer."""
    reps = np.round(wins * 500).astype(int)
    x, i, j = np.nonzero(reps)
    n = reps[x, i, j]
    return Preferences(np.repeat(x, n), np.repeat(i, n), np.repeat(j, n), wins.shape[0], wins.shape[1])


def test_expected_counts_make_pi_star_the_dpo_optimum_by_a_second_implementation():
    # the library's trainer (a different code path from the exercise's solution) lands on π* from expected counts
    b = ex3.unseen_bandits(1, seed=7, max_prompts=2, max_k=4)[0]
    wins = ex3.expected_wins(b["ref"], b["rewards"], 1000.0)
    assert wins.sum() == pytest.approx(1000.0 * b["ref"].shape[0])
    pol = fit_policy(_weighted_preferences(wins), b["ref"], beta=1.0, steps=800, lr=0.05)
    target = optimal_policy(b["ref"], b["rewards"], 1.0)
    assert np.max(kl_divergence(pol, target)) < 2e-3


def test_frozen_values_are_consistent_with_their_definitions():
    v = ex3.frozen_values()
    for ref, r, beta, want in v["_OPT_CASES"]:
        w = np.array(want)
        assert np.allclose(w.sum(axis=1), 1.0)
        # the optimum's log-ratio differences are the reward differences over beta
        lr = np.log(w) - np.log(np.array(ref))
        assert np.allclose(np.diff(lr, axis=1), np.diff(np.array(r), axis=1) / beta, atol=1e-6)
    for pol, ref, beta, x, y1, y2, want in v["_PREF_CASES"]:
        h = np.log(pol[x][y1] / ref[x][y1]) - np.log(pol[x][y2] / ref[x][y2])
        assert 1 / (1 + np.exp(-beta * h)) == pytest.approx(want, abs=1e-6)
    for pol, ref, beta, imp, rec in v["_IMPLICIT_CASES"]:
        assert np.allclose(np.array(rec).mean(axis=1), 0.0, atol=1e-9)
        assert np.allclose(np.array(imp) - np.array(imp).mean(axis=1, keepdims=True), rec, atol=1e-7)
    kinds = {(tuple(u), tuple(f)) for _, u, f in v["_GRAPH_CASES"]}
    flat_u = [x for _, u, _ in v["_GRAPH_CASES"] for x in u]
    flat_f = [x for _, _, f in v["_GRAPH_CASES"] for x in f]
    assert any(flat_f) and not all(flat_f) and not all(flat_u), "the graph cases must include every verdict"
    assert len(kinds) > 3


def test_comparison_graph_agrees_with_a_brute_force_closure():
    g = np.random.default_rng(0)
    for _ in range(60):
        K = int(g.integers(2, 6))
        w = ex3._random_wins(g, 1, K)[0]
        reach = (w > 0) | np.eye(K, dtype=bool)
        for _ in range(K):                                     # transitive closure by repeated squaring
            reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
        und = ((w + w.T) > 0) | np.eye(K, dtype=bool)
        for _ in range(K):
            und = und | ((und.astype(int) @ und.astype(int)) > 0)
        unique, finite = comparison_graph(w)
        assert bool(unique[0]) == bool(und.all()) and bool(finite[0]) == bool(reach.all())


def test_reference_loss_survives_the_guard_and_is_restored():
    ns = {"dpo_loss": "mine"}
    with ex3.reference_dpo_loss(ns), no_delegation(ns, ex3.LIBRARY_FORBIDDEN):
        t = torch.tensor([-1.0], dtype=torch.float64)
        assert float(ns["dpo_loss"](t, t, t, t, 0.5)) == pytest.approx(np.log(2))
    assert ns["dpo_loss"] == "mine"
    from frontier import alignment
    with no_delegation(None, ex3.LIBRARY_FORBIDDEN), pytest.raises(DelegationError):
        alignment.optimal_policy([0.5, 0.5], [0.0, 1.0], 1.0)


def test_gaming_students_name_existing_answer_cells():
    import nbformat

    from frontier.notebooks import REPO_ROOT

    nb = nbformat.read(REPO_ROOT / "solutions" / "ex3_dpo" / "ex3_dpo.ipynb", as_version=4)
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    for kind, spec in ex3.gaming_students().items():
        assert set(spec["answers"]) <= ids, kind
        assert 0 <= spec["auto_score"] < 16
