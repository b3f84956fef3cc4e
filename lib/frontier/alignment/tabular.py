"""Training on the bandit: a policy is a table of logits ``θ`` ``(P, K)``, ``π_θ = softmax(θ)`` per prompt.

* :func:`fit_policy`        DPO, IPO or ORPO on a fixed set of :class:`~frontier.alignment.bandit.Preferences`
  (full-batch Adam on the losses of :mod:`frontier.alignment.losses`, started at ``θ = log π_ref``)
* :func:`fit_reward_model`  the RLHF reward model: the Bradley–Terry maximum-likelihood rewards ``(P, K)`` (a small
  L2 penalty pins down responses the data never compares), centred per prompt
* :func:`rlhf_policy`       the RLHF policy step: **REINFORCE with a baseline** (the batch mean) on the KL-penalised
  reward ``r̂(y) - β·log(π_θ(y)/π_ref(y))``, sampling responses from the current policy
* :func:`rlhf`              both steps: reward model, then policy
* :func:`online_dpo`        iterative DPO: each round draws fresh pairs from the current policy, labels them with the
  preference oracle and takes DPO steps on everything labelled so far
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from ..env import torch_threads
from ..validation import choice, nonnegative_float, positive_float, positive_int, rng as make_rng
from .bandit import Preferences, check_probs, check_rewards, kl_divergence, optimal_policy, preference_matrix, \
    sample_preferences
from .losses import LOSSES

__all__ = ["fit_policy", "fit_reward_model", "rlhf_policy", "rlhf", "online_dpo", "RLHFResult", "OnlineResult",
           "METHODS", "compare_methods", "bandit_grid"]


def _check_data(data: object, ref: np.ndarray) -> Preferences:
    if not isinstance(data, Preferences):
        raise TypeError(f"data must be Preferences (from sample_preferences), got {type(data).__name__}")
    if (data.n_prompts, data.n_responses) != ref.shape:
        raise ValueError(f"data is over {data.n_prompts} prompts x {data.n_responses} responses but ref_probs has "
                         f"shape {ref.shape}")
    if len(data) == 0:
        raise ValueError("data holds no pairs")
    return data


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_policy(data: Preferences, ref_probs: object, *, loss: str = "dpo", beta: float = 0.5, steps: int = 600,
               lr: float = 0.05, init_logits: Optional[np.ndarray] = None) -> np.ndarray:
    """Train a tabular policy on preference pairs; returns its probabilities ``(P, K)``.

    Args:
        data: the pairs.
        ref_probs: π_ref ``(K,)`` or ``(P, K)``, entries in (0, 1].
        loss: ``"dpo"``, ``"ipo"`` or ``"orpo"`` (ORPO ignores π_ref apart from starting there).
        beta: the loss's β (τ for IPO, λ for ORPO).
        steps, lr: full-batch Adam steps and learning rate (deterministic: no sampling).
        init_logits: starting logits ``(P, K)`` (default ``log π_ref``, the usual start at the SFT model).

    Returns:
        π_θ, shape ``(P, K)`` even for a 1-D ``ref_probs``.
    """
    choice("loss", loss, tuple(LOSSES))
    beta = positive_float("beta", beta)
    steps, lr = positive_int("steps", steps), positive_float("lr", lr)
    ref = check_probs("ref_probs", ref_probs)
    data = _check_data(data, ref)
    log_ref = torch.tensor(np.log(ref), dtype=torch.float64)
    start = log_ref if init_logits is None else torch.tensor(check_rewards("init_logits", init_logits, ref.shape))
    theta = start.clone().requires_grad_(True)
    m = preference_matrix(data)                                      # repeated pairs: one term, weighted
    x, c, r = (torch.as_tensor(a) for a in np.nonzero(m))
    w = torch.as_tensor(m[np.nonzero(m)] / m.sum())
    rc, rr = log_ref[x, c], log_ref[x, r]
    opt = torch.optim.Adam([theta], lr=lr)
    fn = LOSSES[loss]
    with torch_threads(1):
        _adam_loop(theta, opt, fn, loss, x, c, r, rc, rr, w, beta, steps)
    return torch.softmax(theta.detach(), dim=1).numpy()


def _adam_loop(theta, opt, fn, loss, x, c, r, rc, rr, w, beta, steps) -> None:
    for _ in range(steps):
        logp = torch.log_softmax(theta, dim=1)
        pc, pr = logp[x, c], logp[x, r]
        per = fn(pc, pr, None, None, beta, reduction="none") if loss == "orpo" else \
            fn(pc, pr, rc, rr, beta, reduction="none")
        value = (w * per).sum()
        opt.zero_grad()
        value.backward()
        opt.step()


def fit_reward_model(data: Preferences, *, l2: float = 1e-3) -> np.ndarray:
    """Bradley–Terry maximum likelihood: rewards ``r̂`` ``(P, K)`` maximising ``Σ log σ(r̂_w - r̂_l) - (l2/2)·‖r̂‖²``.

    Rewards are identified only up to a constant per prompt (and only among responses the data connects), so the
    result is centred per prompt; ``l2`` (per pair, scaled by N) sets unconnected responses to the prompt's mean.
    Solved exactly (convex) with L-BFGS on the aggregated counts.
    """
    if not isinstance(data, Preferences):
        raise TypeError(f"data must be Preferences, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data holds no pairs")
    l2 = nonnegative_float("l2", l2)
    m = preference_matrix(data)                                      # (P, K, K) wins of i over j
    P, K = data.n_prompts, data.n_responses
    n = float(len(data))

    def f(flat: np.ndarray):
        rw = flat.reshape(P, K)
        d = rw[:, :, None] - rw[:, None, :]                          # r_i - r_j
        nll = -(m * log_expit(d)).sum() / n + 0.5 * l2 * (rw ** 2).sum()
        g = m * expit(-d)                                             # d(-log σ(d))/dd = -σ(-d)
        grad = (-g.sum(axis=2) + g.sum(axis=1)) / n + l2 * rw
        return nll, grad.ravel()

    res = minimize(f, np.zeros(P * K), jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-10})
    rw = res.x.reshape(P, K)
    return rw - rw.mean(axis=1, keepdims=True)


@dataclass
class RLHFResult:
    """What :func:`rlhf` returns: the policy ``(P, K)``, the fitted rewards ``(P, K)``, and the policy step's history
    (``step``, mean KL-penalised ``objective`` under the fitted reward)."""

    policy: np.ndarray
    reward_model: np.ndarray
    history: Dict[str, List[float]] = field(default_factory=dict)


def rlhf_policy(reward_table: object, ref_probs: object, beta: float, *, steps: int = 400, batch: int = 64,
                lr: float = 0.1, seed=None, record_every: int = 20) -> RLHFResult:
    """Maximise ``E_{y~π}[r̂(y)] - β·KL(π‖π_ref)`` by REINFORCE with a baseline; returns an :class:`RLHFResult`.

    Each step draws ``batch`` responses per prompt from π_θ, scores each with the KL-penalised reward
    ``R = r̂(y) - β·(log π_θ(y) - log π_ref(y))`` (detached), subtracts the per-prompt batch mean as a baseline and
    ascends ``mean((R - b)·log π_θ(y))``: an unbiased estimate of the objective's gradient (the score function
    has mean zero, so the KL term's own derivative drops out).  Its fixed point is
    ``optimal_policy(ref_probs, reward_table, beta)``.
    """
    beta = positive_float("beta", beta)
    steps, batch, lr = positive_int("steps", steps), positive_int("batch", batch), positive_float("lr", lr)
    ref = check_probs("ref_probs", ref_probs)
    rhat = torch.tensor(check_rewards("reward_table", reward_table, ref.shape))
    log_ref = torch.tensor(np.log(ref))
    g = torch.Generator().manual_seed(int(make_rng(seed).integers(2 ** 31)))
    theta = log_ref.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    rows = torch.arange(ref.shape[0])[:, None]
    hist: Dict[str, List[float]] = {"step": [], "objective": []}
    with torch_threads(1):
        _reinforce_loop(theta, opt, rhat, log_ref, rows, g, beta, batch, steps, record_every, hist)
    pol = torch.softmax(theta.detach(), dim=1).numpy()
    return RLHFResult(pol, rhat.numpy(), hist)


def _reinforce_loop(theta, opt, rhat, log_ref, rows, g, beta, batch, steps, record_every, hist) -> None:
    for step in range(1, steps + 1):
        logp = torch.log_softmax(theta, dim=1)
        with torch.no_grad():
            y = torch.multinomial(logp.exp(), batch, replacement=True, generator=g)   # (P, batch)
            ret = rhat[rows, y] - beta * (logp[rows, y] - log_ref[rows, y])
            adv = ret - ret.mean(dim=1, keepdim=True)
        surrogate = -(adv * logp[rows, y]).mean()
        opt.zero_grad()
        surrogate.backward()
        opt.step()
        if step % record_every == 0 or step == steps:
            hist["step"].append(step)
            hist["objective"].append(float(ret.mean()))


def rlhf(data: Preferences, ref_probs: object, beta: float, *, l2: float = 1e-3, seed=None,
         **policy_kwargs) -> RLHFResult:
    """The two-stage pipeline: :func:`fit_reward_model` on ``data``, then :func:`rlhf_policy` against it."""
    ref = check_probs("ref_probs", ref_probs)
    data = _check_data(data, ref)
    rm = fit_reward_model(data, l2=l2)
    return rlhf_policy(rm, ref, beta, seed=seed, **policy_kwargs)


@dataclass
class OnlineResult:
    """:func:`online_dpo`'s record: ``labels`` used after each round, ``kl_to_optimum`` (nats, mean over prompts),
    and the final ``policy`` ``(P, K)``."""

    labels: List[int]
    kl_to_optimum: List[float]
    policy: np.ndarray


def online_dpo(rewards: object, ref_probs: object, beta: float, *, rounds: int, pairs_per_round: int,
               steps_per_round: int = 200, lr: float = 0.05, labels: str = "bradley_terry", seed=None) -> OnlineResult:
    """Iterative DPO: round t draws ``pairs_per_round`` pairs from the current policy π_t (not π_ref), labels them
    with the oracle (``labels`` as :func:`~frontier.alignment.bandit.sample_preferences`), appends them to the
    data, and continues DPO (reference fixed at π_ref) from π_t's logits.

    ``kl_to_optimum[t]`` is ``KL(π_t‖π*)`` after round t, averaged over prompts.
    """
    beta = positive_float("beta", beta)
    rounds, per = positive_int("rounds", rounds), positive_int("pairs_per_round", pairs_per_round)
    ref = check_probs("ref_probs", ref_probs)
    r = check_rewards("rewards", rewards, ref.shape)
    g = make_rng(seed)
    target = optimal_policy(ref, r, beta)
    policy, logits = ref.copy(), np.log(ref)
    data: Optional[Preferences] = None
    out = OnlineResult([], [], policy)
    for _ in range(rounds):
        new = sample_preferences(r, per, sampler=policy, labels=labels, seed=g)
        data = new if data is None else data.concat(new)
        policy = fit_policy(data, ref, loss="dpo", beta=beta, steps=steps_per_round, lr=lr, init_logits=logits)
        logits = np.log(np.clip(policy, 1e-300, None))
        out.labels.append(len(data))
        out.kl_to_optimum.append(float(np.mean(kl_divergence(policy, target))))
    out.policy = policy
    return out


#: the methods :func:`compare_methods` trains, in the order the lesson shows them
METHODS = ("rlhf", "dpo", "ipo", "orpo")


def compare_methods(data: Preferences, ref_probs: object, beta: float, *, methods=METHODS, steps: int = 400,
                    lr: float = 0.08, seed: int = 0) -> Dict[str, np.ndarray]:
    """Each method trained on the same pairs at the same β: ``{method: π (P, K)}``.

    RLHF is :func:`rlhf` (reward model, then REINFORCE); the others :func:`fit_policy`. IPO uses ``τ = beta`` and
    ORPO ``λ = beta``: the same number means a different strength in each loss, as in TRL.
    """
    out: Dict[str, np.ndarray] = {}
    for m in methods:
        choice("method", m, METHODS)
        if m == "rlhf":
            out[m] = rlhf(data, ref_probs, beta, seed=seed, steps=steps).policy
        else:
            out[m] = fit_policy(data, ref_probs, loss=m, beta=beta, steps=steps, lr=lr)
    return out


def bandit_grid(ref_probs: object, rewards: object, *, betas: Sequence[float], n_pairs: Sequence[int],
                labels: Sequence[str] = ("bradley_terry",), methods=METHODS, steps: int = 300,
                seed: int = 0) -> Dict[Tuple[str, float, int], Dict[str, np.ndarray]]:
    """:func:`compare_methods` over a grid: ``{(labels, beta, n_pairs): {method: π, "optimal": π*}}``.

    The pairs for a given label kind are drawn once (from π_ref) and the first ``n`` used for each ``n``, so the
    data grow along the ``n_pairs`` axis instead of being redrawn.
    """
    ref = check_probs("ref_probs", ref_probs)
    r = check_rewards("rewards", rewards, ref.shape)
    out: Dict[Tuple[str, float, int], Dict[str, np.ndarray]] = {}
    for lab in labels:
        full = sample_preferences(r, max(n_pairs), sampler=ref, labels=lab, seed=seed)
        for b in betas:
            for n in n_pairs:
                res = compare_methods(full.take(int(n)), ref, float(b), methods=methods, steps=steps, seed=seed)
                res["optimal"] = optimal_policy(ref, r, float(b))
                out[(lab, float(b), int(n))] = res
    return out
