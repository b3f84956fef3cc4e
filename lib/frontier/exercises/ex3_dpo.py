"""Exercise 3 (DPO from the KL-regularised objective): unseen bandits and the expected values of the hidden tests.

Every graded function of the exercise is tested on *unseen* bandits (random reference policies, rewards, β and
numbers of prompts drawn by :func:`unseen_bandits`), so a student must compute the derived quantity, not copy a
number. :func:`frozen_values` computes every expected value with :mod:`frontier.alignment` (the closed-form
optimum, the DPO loss, the implicit reward, the comparison graph); ``python -m frontier.grading freeze`` writes them
into the hidden cells, so the graded notebook never calls the library for an answer.
"""
from __future__ import annotations

import random
from typing import Dict, List

import numpy as np
import torch
from scipy.special import expit, softmax

from ..alignment import bandit as _bandit
from ..alignment import losses as _losses

__all__ = ["LIBRARY_FORBIDDEN", "MAY_CALL", "MUST_WRITE", "unseen_bandits", "expected_wins", "frozen_values",
           "reference_dpo_loss",
           "gaming_students"]

#: Modules whose functions raise while a graded function of Exercise 3 runs (see :mod:`frontier.exercises.guard`).
LIBRARY_FORBIDDEN = ("frontier.alignment.bandit", "frontier.alignment.losses", "frontier.alignment.tabular",
                     "frontier.alignment.lm", "frontier.exercises.ex3_dpo")
#: What the notebook tells students they may call in graded functions.
MAY_CALL = ("numpy", "scipy.special", "torch", "math")
#: The graded functions.
MUST_WRITE = ("optimal_policy", "dpo_loss", "preference_probability", "implicit_reward", "recover_rewards",
              "fit_dpo", "dpo_solution_is_unique", "dpo_solution_is_finite")


def _r(a: np.ndarray, digits: int = 12) -> list:
    """A plain nested list of floats rounded to ``digits`` (stable literals for the frozen cells)."""
    return np.round(np.asarray(a, dtype=float), digits).tolist()


def unseen_bandits(n: int, seed: int, *, max_prompts: int = 3, max_k: int = 6) -> List[dict]:
    """``n`` random bandits ``{"ref": (P, K), "rewards": (P, K), "beta": float}``, reproducible from ``seed``."""
    g = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        P, K = int(g.integers(1, max_prompts + 1)), int(g.integers(2, max_k + 1))
        ref = softmax(g.normal(scale=0.8, size=(P, K)), axis=1)
        out.append({"ref": np.round(ref / ref.sum(1, keepdims=True), 12),
                    "rewards": np.round(g.normal(scale=1.2, size=(P, K)), 6),
                    "beta": float(np.round(g.choice([0.3, 0.5, 1.0, 2.0, 3.0]), 3))})
    for b in out:                                            # rows that still sum to 1 after rounding
        b["ref"][:, -1] = 1.0 - b["ref"][:, :-1].sum(axis=1)
    return out


def expected_wins(ref: np.ndarray, rewards: np.ndarray, n_pairs: float) -> np.ndarray:
    """``(P, K, K)`` expected win counts of ``n_pairs`` pairs per prompt drawn from π_ref (i ≠ j, Bradley–Terry):
    ``2n·μ(i)μ(j)/(1 - Σμ²)·σ(r_i - r_j)``, so each prompt's counts sum to n. With these "infinite-data" counts DPO's minimiser is exactly π*."""
    mu = np.asarray(ref, float)
    pair = mu[:, :, None] * mu[:, None, :]
    idx = np.arange(mu.shape[1])
    pair[:, idx, idx] = 0.0
    pair /= pair.sum(axis=(1, 2), keepdims=True) / 2.0         # unordered pairs {i, j} sum to 1 per prompt
    r = np.asarray(rewards, float)
    return n_pairs * pair * expit(r[:, :, None] - r[:, None, :])


def _random_wins(g: np.random.Generator, P: int, K: int) -> np.ndarray:
    """Sparse count matrices: some pairs never compared, some always won by the same side."""
    w = g.integers(0, 6, size=(P, K, K)).astype(float)
    w *= g.random((P, K, K)) < g.choice([0.25, 0.5, 0.8])
    idx = np.arange(K)
    w[:, idx, idx] = 0.0
    return w


def frozen_values() -> Dict[str, object]:
    """Every expected value of Exercise 3's hidden tests, computed with :mod:`frontier.alignment`."""
    out: Dict[str, object] = {}
    out["_OPT_CASES"] = [[_r(b["ref"]), _r(b["rewards"]), b["beta"],
                          _r(_bandit.optimal_policy(b["ref"], b["rewards"], b["beta"]))]
                         for b in unseen_bandits(12, seed=31)]
    g = np.random.default_rng(32)
    dpo = []
    for _ in range(10):
        B = int(g.integers(1, 9))
        arrs = [np.round(-g.random(B) * 8 - 1e-3, 9) for _ in range(4)]
        beta = float(g.choice([0.05, 0.1, 0.5, 1.0, 2.0]))
        loss = _losses.dpo_loss(*(torch.tensor(a, dtype=torch.float64) for a in arrs), beta)
        dpo.append([*(_r(a) for a in arrs), beta, round(float(loss), 12)])
    out["_DPO_CASES"] = dpo
    pref = []
    rng = random.Random(33)
    for b in unseen_bandits(10, seed=33):
        P, K = b["ref"].shape
        shift = np.round(np.random.default_rng(rng.randint(0, 999)).normal(scale=5.0, size=(P, 1)), 6)
        policy = _bandit.optimal_policy(b["ref"], b["rewards"] + shift, b["beta"])     # Z(x) differs per prompt
        x, y1, y2 = rng.randrange(P), rng.randrange(K), rng.randrange(K)
        pref.append([_r(policy), _r(b["ref"]), b["beta"], x, y1, y2,
                     round(float(expit(b["rewards"][x, y1] - b["rewards"][x, y2])), 12)])
    out["_PREF_CASES"] = pref
    implicit = []
    for b in unseen_bandits(10, seed=34):
        policy = _bandit.optimal_policy(b["ref"], b["rewards"], b["beta"])
        lp = torch.log(torch.tensor(policy)).reshape(-1)
        lr = torch.log(torch.tensor(b["ref"])).reshape(-1)
        imp = _losses.implicit_reward(lp, lr, b["beta"]).reshape(policy.shape).numpy()
        implicit.append([_r(policy), _r(b["ref"]), b["beta"], _r(imp),
                         _r(b["rewards"] - b["rewards"].mean(axis=1, keepdims=True))])
    out["_IMPLICIT_CASES"] = implicit
    fit = []
    for b in unseen_bandits(4, seed=35, max_prompts=2, max_k=5):
        b["beta"] = max(b["beta"], 0.5)
        fit.append([_r(expected_wins(b["ref"], b["rewards"], 1000.0), 9), _r(b["ref"]), b["beta"],
                    _r(_bandit.optimal_policy(b["ref"], b["rewards"], b["beta"]))])
    out["_FIT_CASES"] = fit
    g = np.random.default_rng(36)
    graphs = []
    for _ in range(16):
        w = _random_wins(g, int(g.integers(1, 4)), int(g.integers(2, 6)))
        unique, finite = _bandit.comparison_graph(w)
        graphs.append([_r(w, 3), unique.tolist(), finite.tolist()])
    out["_GRAPH_CASES"] = graphs
    return out


# -- students who game the exercise (python -m frontier.grading rehearse) -----------------------------------------
def gaming_students() -> Dict[str, Dict[str, object]]:
    """Fake students who try to pass without doing the work, with the autograded score a TA would give them.

    ``{kind: {"answers": {grade_id: answer source}, "auto_score": points, "ta": why}}``; answer cells not listed
    keep the instructor's solution.
    """
    delegates = {
        "ex3-optimal-policy": """def optimal_policy(ref_probs, rewards, beta):
    from frontier import alignment
    return np.atleast_2d(alignment.optimal_policy(ref_probs, rewards, beta))""",
        "ex3-dpo-loss": """def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    from frontier.alignment import dpo_loss as library_loss
    return library_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)""",
        "ex3-comparison-graph": """def dpo_solution_is_unique(wins):
    from frontier.alignment import comparison_graph
    return comparison_graph(wins)[0]


def dpo_solution_is_finite(wins):
    from frontier.alignment import comparison_graph
    return comparison_graph(wins)[1]""",
    }
    hardcodes = {
        "ex3-optimal-policy": """def optimal_policy(ref_probs, rewards, beta):
    return np.atleast_2d(np.asarray(ref_probs, dtype=float))    # "π* is close to π_ref": true only for large β""",
        "ex3-comparison-graph": """def dpo_solution_is_unique(wins):
    return np.ones(np.atleast_3d(wins).shape[0] if np.ndim(wins) == 3 else 1, dtype=bool)


def dpo_solution_is_finite(wins):
    return np.ones(np.atleast_3d(wins).shape[0] if np.ndim(wins) == 3 else 1, dtype=bool)""",
    }
    return {
        "delegates": {"answers": delegates, "auto_score": 16.0 - 3.0 - 2.0 - 3.0 - 1.0,
                      "ta": "loses Parts A1, A2 and C1 (8 points), which call frontier.alignment instead of "
                            "computing, and B2's visible test (1 point), where fit_dpo runs the delegating dpo_loss "
                            "(the hidden B2 tests swap in a correct loss, so the slip does not cascade further)"},
        "hardcodes": {"answers": hardcodes, "auto_score": 16.0 - 3.0 - 3.0,
                      "ta": "loses A1 and C1 (6 points): returning π_ref and 'always unique and finite' fails the "
                            "unseen bandits and graphs"},
    }


def reference_dpo_loss(namespace):
    """Within the block, ``dpo_loss`` in ``namespace`` is a correct DPO loss (mean over the batch, torch).

    Used by the hidden tests of ``fit_dpo``, so that a slip in Part A2 costs Part A2's points only. The loss is a
    closure (not a function of this module), so :func:`~frontier.exercises.guard.no_delegation` leaves it alone;
    enter this *before* ``no_delegation``.
    """
    import contextlib

    import torch.nn.functional as F

    def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
        h = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
        return -F.logsigmoid(beta * h).mean()

    @contextlib.contextmanager
    def swapped():
        saved = namespace.get("dpo_loss")
        namespace["dpo_loss"] = loss
        try:
            yield
        finally:
            if saved is None:
                namespace.pop("dpo_loss", None)
            else:
                namespace["dpo_loss"] = saved

    return swapped()
