"""Preference losses with one signature: DPO, IPO, ORPO, and the Bradley–Terry likelihood they rest on.

Every loss takes the log-probabilities (nats) of a batch of ``B`` preference pairs,
``(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta)``, each a
``(B,)`` tensor, and returns the mean over the batch (a scalar tensor, differentiable in the policy's
log-probabilities), as TRL's ``DPOTrainer`` and ``ORPOTrainer`` compute it.

* :func:`dpo_loss`   ``-log σ(β·h)`` with ``h = [log π(y_w) - log π_ref(y_w)] - [log π(y_l) - log π_ref(y_l)]``
  (Rafailov et al. 2023, Eq. 7).
* :func:`ipo_loss`   ``(h - 1/(2τ))²`` (Azar et al. 2023, Eq. 17; ``beta`` plays τ, as in TRL); TRL feeds it
  *mean* per-token log-probs, this function takes whatever log-probs it is given.
* :func:`orpo_loss`  ``-log P(y_w) + λ·(-log σ(log odds_w - log odds_l))`` with ``odds = P/(1-P)`` and ``log P`` the
  *mean* per-token log-prob (Hong et al. 2024); no reference model: the ``ref_*`` arguments are accepted so that
  the three losses share a call, and must be ``None``.  ``beta`` plays λ (0.1 in Liger-Kernel and TRL).
* :func:`bradley_terry_nll` ``-log σ(r_w - r_l)``: the reward-model loss; DPO is this loss under the implicit reward
  :func:`implicit_reward` ``β·log(π/π_ref)`` (the test suite checks the identity).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..validation import positive_float

__all__ = ["dpo_loss", "ipo_loss", "orpo_loss", "bradley_terry_nll", "implicit_reward", "reward_margin",
           "log_odds", "log1mexp", "preference_logits", "LOSSES"]


def _as_tensor(name: str, x: object) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, (np.ndarray, list, tuple, float, int)) and not isinstance(x, bool):
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    else:
        raise TypeError(f"{name} must be a torch.Tensor (or an array of numbers), got {type(x).__name__}")
    if not torch.is_floating_point(t):
        t = t.to(torch.float64)
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per preference pair), got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not bool(torch.isfinite(t.detach()).all()):
        raise ValueError(f"{name} must be finite (log-probabilities in nats)")
    return t


def _check_logps(**named: object) -> Tuple[torch.Tensor, ...]:
    out = [_as_tensor(k, v) for k, v in named.items()]
    first = next(iter(named))
    for (k, _), t in zip(named.items(), out):
        if t.shape != out[0].shape:
            raise ValueError(f"{k} has shape {tuple(t.shape)} but {first} has shape {tuple(out[0].shape)}; "
                             "all log-prob arguments must have the same shape (B,)")
        if bool((t.detach() > 0).any()):
            raise ValueError(f"{k} holds log-probabilities, which must be <= 0 (a probability outside (0, 1])")
    return tuple(out)


def preference_logits(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                      ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor) -> torch.Tensor:
    """``h`` ``(B,)``: ``[log π(y_w) - log π_ref(y_w)] - [log π(y_l) - log π_ref(y_l)]`` (nats)."""
    pc, pr, rc, rr = _check_logps(policy_chosen_logps=policy_chosen_logps,
                                  policy_rejected_logps=policy_rejected_logps,
                                  ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    return (pc - rc) - (pr - rr)


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float,
             *, label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """The DPO loss, mean over the batch: ``-log σ(β·h)`` (TRL's ``sigmoid`` loss).

    Args:
        policy_chosen_logps, policy_rejected_logps: ``(B,)`` log π(y|x) of the preferred / dispreferred responses
            (summed over the response's tokens), differentiable.
        ref_chosen_logps, ref_rejected_logps: ``(B,)`` the same under the frozen reference π_ref.
        beta: β > 0, the strength of the KL regularisation the loss implies.
        label_smoothing: ε in [0, 0.5): the conservative DPO of TRL, ``-(1-ε)·log σ(βh) - ε·log σ(-βh)``.
        reduction: ``"mean"`` (TRL's) or ``"none"`` (the ``(B,)`` per-pair losses, e.g. to weight repeated pairs).

    Returns:
        A scalar tensor (nats per pair).
    """
    beta = positive_float("beta", beta)
    if not 0.0 <= float(label_smoothing) < 0.5:
        raise ValueError(f"label_smoothing must lie in [0, 0.5), got {label_smoothing}")
    h = preference_logits(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    losses = -F.logsigmoid(beta * h) * (1 - label_smoothing) - F.logsigmoid(-beta * h) * label_smoothing
    return _reduce(losses, reduction)


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def ipo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float,
             *, reduction: str = "mean") -> torch.Tensor:
    """The IPO loss, mean over the batch: ``(h - 1/(2τ))²`` with ``τ = beta``; minimised at ``h = 1/(2τ)``.

    Unlike DPO's, this loss has a finite minimiser even when every label agrees (deterministic preferences), so
    the policy stays a bounded log-ratio away from the reference. Shapes as :func:`dpo_loss`.
    """
    tau = positive_float("beta", beta)
    h = preference_logits(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    return _reduce((h - 1.0 / (2.0 * tau)) ** 2, reduction)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate everywhere (Mächler 2012).

    ``log(-expm1(x))`` for ``x > -log 2`` (where ``1 - exp(x)`` cancels) and ``log1p(-exp(x))`` below.
    """
    x = torch.as_tensor(x)
    if bool((x.detach() >= 0).any()):
        raise ValueError("log1mexp needs x < 0 (a probability strictly below 1)")
    cut = -float(np.log(2.0))
    near = x > cut
    safe_near = torch.where(near, x, torch.full_like(x, cut))      # keep both branches finite for autograd
    safe_far = torch.where(near, torch.full_like(x, cut), x)
    return torch.where(near, torch.log(-torch.expm1(safe_near)), torch.log1p(-torch.exp(safe_far)))


def log_odds(logp: torch.Tensor) -> torch.Tensor:
    """``log(P / (1 - P))`` from ``log P`` (P in (0, 1)): ``log P - log(1 - P)``, stable as P → 1."""
    return logp - log1mexp(logp)


def orpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
              ref_chosen_logps: Optional[torch.Tensor] = None, ref_rejected_logps: Optional[torch.Tensor] = None,
              beta: float = 0.1, *, reduction: str = "mean") -> torch.Tensor:
    """The ORPO loss, mean over the batch: ``-log P(y_w) + λ·(-log σ(log odds(y_w) - log odds(y_l)))``.

    Args:
        policy_chosen_logps, policy_rejected_logps: ``(B,)`` *mean* per-token log-probs (so ``P`` is the geometric
            mean token probability, in (0, 1); a value of 0 means P = 1 and the odds are infinite: an error).
        ref_chosen_logps, ref_rejected_logps: must be ``None``: ORPO uses no reference model.
        beta: λ > 0, the weight of the odds-ratio term (0.1 in TRL and Liger-Kernel).

    The log-odds difference is written as ``(c - r) - (log1p(-e^c) - log1p(-e^r))``, evaluated with
    :func:`log1mexp` so that it stays finite and accurate as P → 1.
    """
    if ref_chosen_logps is not None or ref_rejected_logps is not None:
        raise ValueError("ORPO uses no reference model: pass ref_chosen_logps=None and ref_rejected_logps=None")
    lam = positive_float("beta", beta)
    c, r = _check_logps(policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps)
    if bool((c.detach() >= 0).any()) or bool((r.detach() >= 0).any()):
        raise ValueError("ORPO needs probabilities strictly inside (0, 1): mean log-probs must be < 0")
    ratio = F.logsigmoid((c - r) - (log1mexp(c) - log1mexp(r)))
    return _reduce(-c - lam * ratio, reduction)


def bradley_terry_nll(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """``-log σ(r_w - r_l)``, mean over the batch: the negative log-likelihood of the labels under Bradley–Terry.

    Rewards are ``(B,)`` tensors (any real values; only differences matter).
    """
    rw, rl = _as_tensor("chosen_rewards", chosen_rewards), _as_tensor("rejected_rewards", rejected_rewards)
    if rw.shape != rl.shape:
        raise ValueError(f"chosen_rewards {tuple(rw.shape)} and rejected_rewards {tuple(rl.shape)} must match")
    return -F.logsigmoid(rw - rl).mean()


def implicit_reward(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO's implicit reward ``β·(log π(y|x) - log π_ref(y|x))`` ``(B,)`` (equal to the true reward up to β·log Z(x)
    at the optimum)."""
    beta = positive_float("beta", beta)
    p, r = _check_logps(policy_logps=policy_logps, ref_logps=ref_logps)
    return beta * (p - r)


def reward_margin(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
                  ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float) -> dict:
    """The numbers TRL logs: mean implicit reward of chosen and rejected responses, their margin, and accuracy.

    Returns ``{"chosen": float, "rejected": float, "margin": float, "accuracy": float}`` (accuracy: the share of
    pairs whose chosen response has the larger implicit reward).
    """
    with torch.no_grad():
        rc = implicit_reward(policy_chosen_logps, ref_chosen_logps, beta)
        rr = implicit_reward(policy_rejected_logps, ref_rejected_logps, beta)
        if rc.shape != rr.shape:
            raise ValueError(f"chosen {tuple(rc.shape)} and rejected {tuple(rr.shape)} shapes differ")
        return {"chosen": float(rc.mean()), "rejected": float(rr.mean()), "margin": float((rc - rr).mean()),
                "accuracy": float((rc > rr).double().mean())}


#: the losses by name, each ``(pc, pr, rc, rr, beta) -> scalar``; ORPO ignores (requires None for) the reference.
LOSSES = {"dpo": dpo_loss, "ipo": ipo_loss, "orpo": orpo_loss}
