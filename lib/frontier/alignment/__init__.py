"""Section 4, alignment and safety: preference optimisation where the optimum is known, oversight, robustness.

* :mod:`frontier.alignment.bandit`   the preference bandit: the closed-form optimum ``π* ∝ π_ref·exp(r/β)``,
  Bradley–Terry and deterministic preference sampling, KL, win rate
* :mod:`frontier.alignment.losses`   DPO, IPO and ORPO with one signature; the Bradley–Terry likelihood; the
  implicit reward and the margins TRL logs
* :mod:`frontier.alignment.tabular`  training on the bandit: DPO/IPO/ORPO, the RLHF pipeline (Bradley–Terry reward
  model, then REINFORCE with a baseline and a KL penalty), iterative online DPO
* :mod:`frontier.alignment.lm`       the same on a TinyLM aligned to a known reward (reward–KL frontier, margins)
* :mod:`frontier.alignment.redteam`  a small safety classifier, an automated attack search, adversarial training
* :mod:`frontier.alignment.defences` layered defences: joint miss rates of independent and correlated layers
* :mod:`frontier.alignment.probe`    a backdoored TinyLM and linear probes on its hidden states
* :mod:`frontier.alignment.debate`   a weak judge with and without a debate transcript (and Khan et al. 2024's numbers)

Import the last five explicitly (``from frontier.alignment import redteam``); they need scikit-learn or train models.
"""
from .bandit import (LABELS, Preferences, comparison_graph, kl_divergence, kl_objective, optimal_policy, pair_coverage,
                     preference_matrix,
                     sample_preferences, win_rate)
from .losses import (LOSSES, bradley_terry_nll, dpo_loss, implicit_reward, ipo_loss, log_odds, orpo_loss,
                     reward_margin)
from .tabular import (METHODS, OnlineResult, RLHFResult, bandit_grid, compare_methods, fit_policy, fit_reward_model,
                      online_dpo, rlhf, rlhf_policy)

__all__ = [
    "optimal_policy", "kl_divergence", "kl_objective", "win_rate", "sample_preferences", "Preferences",
    "pair_coverage", "preference_matrix", "comparison_graph", "LABELS",
    "dpo_loss", "ipo_loss", "orpo_loss", "bradley_terry_nll", "implicit_reward", "reward_margin", "log_odds",
    "LOSSES",
    "fit_policy", "fit_reward_model", "rlhf_policy", "rlhf", "online_dpo", "RLHFResult", "OnlineResult",
    "METHODS", "compare_methods", "bandit_grid",
]
