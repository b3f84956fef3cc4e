"""A preference bandit whose optimum is known: ``P`` prompts, ``K`` responses each, true rewards, a reference policy.

Shapes: ``(P, K)`` for per-prompt tables (a 1-D ``(K,)`` input means one prompt); ``N`` preference pairs.

* :func:`optimal_policy`        the closed-form maximiser of ``E_π[r] - β·KL(π‖π_ref)``: ``π* ∝ π_ref·exp(r/β)``
* :func:`kl_objective`          that objective for any policy; :func:`kl_divergence`; :func:`win_rate`
* :func:`sample_preferences`    pairs drawn from a sampling policy, labelled by Bradley–Terry on the true reward,
  deterministically (the better response always wins), or by a mixture of annotator populations
* :class:`Preferences`          the data: prompt, chosen and rejected indices ``(N,)``
* :func:`pair_coverage`         which responses and pairs the data touches
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from scipy.special import expit, logsumexp

from ..validation import choice, fraction, positive_float, positive_int, rng as make_rng

__all__ = ["Preferences", "check_probs", "check_rewards", "optimal_policy", "kl_divergence", "kl_objective",
           "win_rate", "sample_preferences", "pair_coverage", "preference_matrix", "comparison_graph", "LABELS"]

LABELS = ("bradley_terry", "deterministic")


def check_probs(name: str, p: object, *, strict: bool = True) -> np.ndarray:
    """``p`` as a float ``(P, K)`` array of distributions (rows sum to 1); 1-D gives one row.

    ``strict``: every entry must lie in (0, 1] (a reference policy that can produce every response).
    """
    a = np.asarray(p, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"{name} must have shape (K,) or (P, K) with K >= 2 responses, got shape {np.shape(p)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    low_ok = np.all(a > 0) if strict else np.all(a >= 0)
    if not low_ok or np.any(a > 1):
        raise ValueError(f"{name} must hold probabilities in {'(0, 1]' if strict else '[0, 1]'}, "
                         f"got min {a.min():.3g}, max {a.max():.3g}")
    if not np.allclose(a.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"each row of {name} must sum to 1, got sums {np.round(a.sum(axis=1), 6).tolist()}")
    return a


def check_rewards(name: str, r: object, shape: Tuple[int, int]) -> np.ndarray:
    """``r`` as a float array of ``shape`` ``(P, K)`` (a 1-D ``(K,)`` input when ``P == 1``)."""
    a = np.asarray(r, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of the policy {tuple(shape)}, got {np.shape(r)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _like(x: np.ndarray, template: object) -> np.ndarray:
    return x[0] if np.ndim(template) == 1 else x


def optimal_policy(ref_probs: object, rewards: object, beta: float) -> np.ndarray:
    """``π*(y|x) = π_ref(y|x)·exp(r(x,y)/β) / Z(x)``, the maximiser of ``E_π[r] - β·KL(π‖π_ref)`` per prompt.

    Args:
        ref_probs: ``(K,)`` or ``(P, K)`` reference probabilities, each in (0, 1], rows summing to 1.
        rewards: the true rewards, the same shape.
        beta: β > 0 (small β: π* → the best response; large β: π* → π_ref).

    Returns:
        π*, the shape of ``ref_probs``.
    """
    beta = positive_float("beta", beta)
    ref = check_probs("ref_probs", ref_probs)
    r = check_rewards("rewards", rewards, ref.shape)
    logits = np.log(ref) + r / beta
    return _like(np.exp(logits - logsumexp(logits, axis=1, keepdims=True)), ref_probs)


def kl_divergence(p: object, q: object) -> Union[float, np.ndarray]:
    """``KL(p‖q) = Σ_y p(y)·log(p(y)/q(y))`` in nats per row; a float for 1-D input, ``(P,)`` otherwise.

    ``p`` may have zeros (they contribute 0); ``q`` must be positive where ``p`` is.
    """
    pa, qa = check_probs("p", p, strict=False), check_probs("q", q, strict=False)
    if pa.shape != qa.shape:
        raise ValueError(f"p {pa.shape} and q {qa.shape} must have the same shape")
    if np.any((qa == 0) & (pa > 0)):
        return float("inf") if np.ndim(p) == 1 else np.where(((qa == 0) & (pa > 0)).any(1), np.inf, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pa > 0, pa * (np.log(pa) - np.log(np.where(qa > 0, qa, 1.0))), 0.0)
    out = terms.sum(axis=1)
    return float(out[0]) if np.ndim(p) == 1 else out


def kl_objective(policy: object, ref_probs: object, rewards: object, beta: float) -> Union[float, np.ndarray]:
    """``E_{y~π}[r(x,y)] - β·KL(π‖π_ref)`` per prompt (a float for 1-D input); maximal at :func:`optimal_policy`."""
    beta = positive_float("beta", beta)
    pol = check_probs("policy", policy, strict=False)
    ref = check_probs("ref_probs", ref_probs)
    if pol.shape != ref.shape:
        raise ValueError(f"policy {pol.shape} and ref_probs {ref.shape} must have the same shape")
    r = check_rewards("rewards", rewards, ref.shape)
    out = (pol * r).sum(axis=1) - beta * np.atleast_1d(kl_divergence(pol, ref))
    return float(out[0]) if np.ndim(policy) == 1 else out


def win_rate(policy: object, ref_probs: object, rewards: object, *, ties: float = 0.5) -> Union[float, np.ndarray]:
    """P(a response from π beats one from π_ref under the true reward), per prompt.

    ``Σ_{i,j} π(i)·π_ref(j)·[1(r_i > r_j) + ties·1(r_i = r_j)]``: the judge is the true reward, as the DPO paper's
    win rate against the reference used a stronger judge. 0.5 for π = π_ref when rewards are distinct.
    """
    pol = check_probs("policy", policy, strict=False)
    ref = check_probs("ref_probs", ref_probs, strict=False)
    if pol.shape != ref.shape:
        raise ValueError(f"policy {pol.shape} and ref_probs {ref.shape} must have the same shape")
    r = check_rewards("rewards", rewards, ref.shape)
    beats = (r[:, :, None] > r[:, None, :]) + fraction("ties", ties) * (r[:, :, None] == r[:, None, :])
    out = np.einsum("pi,pj,pij->p", pol, ref, beats)
    return float(out[0]) if np.ndim(policy) == 1 else out


@dataclass(frozen=True)
class Preferences:
    """``N`` labelled pairs: ``prompt``, ``chosen``, ``rejected``, each an int ``(N,)`` array; ``n_prompts``, ``K``."""

    prompt: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    n_prompts: int
    n_responses: int

    def __post_init__(self) -> None:
        for name in ("prompt", "chosen", "rejected"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name} must be a 1-D integer array")
            object.__setattr__(self, name, a.astype(np.int64))
        n = len(self.prompt)
        if len(self.chosen) != n or len(self.rejected) != n:
            raise ValueError(f"prompt, chosen and rejected must have the same length, got {n}, "
                             f"{len(self.chosen)}, {len(self.rejected)}")
        if n and (self.prompt.min() < 0 or self.prompt.max() >= self.n_prompts):
            raise ValueError(f"prompt indices must lie in [0, {self.n_prompts})")
        for name in ("chosen", "rejected"):
            a = getattr(self, name)
            if n and (a.min() < 0 or a.max() >= self.n_responses):
                raise ValueError(f"{name} indices must lie in [0, {self.n_responses})")

    def __len__(self) -> int:
        return len(self.prompt)

    def take(self, n: int) -> "Preferences":
        """The first ``n`` pairs."""
        return Preferences(self.prompt[:n], self.chosen[:n], self.rejected[:n], self.n_prompts, self.n_responses)

    def concat(self, other: "Preferences") -> "Preferences":
        """These pairs followed by ``other``'s (same table size)."""
        if (other.n_prompts, other.n_responses) != (self.n_prompts, self.n_responses):
            raise ValueError("cannot join preferences over different prompts/responses")
        return Preferences(np.concatenate([self.prompt, other.prompt]), np.concatenate([self.chosen, other.chosen]),
                           np.concatenate([self.rejected, other.rejected]), self.n_prompts, self.n_responses)


def _draw(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One index per row of ``probs`` ``(N, K)`` by inverse CDF with uniforms ``u`` ``(N,)``."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum((u[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)


def sample_preferences(rewards: object, n_pairs: int, *, sampler: object, labels: str = "bradley_terry",
                       prompt_probs: Optional[Sequence[float]] = None, seed=None,
                       populations: Optional[Tuple[object, Sequence[float]]] = None) -> Preferences:
    """Draw ``n_pairs`` pairs of distinct responses and label them.

    Args:
        rewards: true rewards ``(K,)`` or ``(P, K)``.
        n_pairs: N.
        sampler: the policy the two responses are drawn from, ``(K,)`` or ``(P, K)`` (zeros allowed: responses it
            never produces are never compared: incomplete coverage). The second response is drawn from the sampler
            with the first removed, so every pair is informative.
        labels: ``"bradley_terry"``: the first response wins with probability ``σ(r_1 - r_2)``;
            ``"deterministic"``: the higher reward always wins (ties at random).
        prompt_probs: how often each prompt is drawn (default uniform).
        seed: int, Generator or None.
        populations: ``(rewards_by_population (G, P, K) or (G, K), weights (G,))``: each pair is labelled by one
            annotator population drawn with ``weights``, under its own rewards (``rewards`` is then ignored except
            for its shape). Pooled data from populations with different values.

    Returns:
        :class:`Preferences`.
    """
    n = positive_int("n_pairs", n_pairs)
    choice("labels", labels, LABELS)
    mu = check_probs("sampler", sampler, strict=False)
    P, K = mu.shape
    r = check_rewards("rewards", rewards, (P, K))
    if np.any((mu > 0).sum(axis=1) < 2):
        raise ValueError("sampler must give positive probability to at least two responses of every prompt")
    g = make_rng(seed)
    pp = np.full(P, 1.0 / P) if prompt_probs is None else check_probs("prompt_probs", prompt_probs, strict=False)[0]
    if len(pp) != P:
        raise ValueError(f"prompt_probs must have {P} entries, got {len(pp)}")
    x = _draw(np.broadcast_to(pp, (n, P)), g.random(n))
    y1 = _draw(mu[x], g.random(n))
    rest = mu[x].copy()
    rest[np.arange(n), y1] = 0.0
    y2 = _draw(rest, g.random(n))
    if populations is None:
        r1, r2 = r[x, y1], r[x, y2]
    else:
        table, weights = populations
        tab = np.asarray(table, dtype=float)
        if tab.ndim == 2:
            tab = tab[:, None, :]
        if tab.ndim != 3 or tab.shape[1:] != (P, K):
            raise ValueError(f"populations' rewards must have shape (G, {P}, {K}) or (G, {K}), got {np.shape(table)}")
        w = check_probs("population weights", weights, strict=False)[0]
        if len(w) != tab.shape[0]:
            raise ValueError(f"need one weight per population ({tab.shape[0]}), got {len(w)}")
        grp = _draw(np.broadcast_to(w, (n, len(w))), g.random(n))
        r1, r2 = tab[grp, x, y1], tab[grp, x, y2]
    if labels == "bradley_terry":
        first = g.random(n) < expit(r1 - r2)
    else:
        first = np.where(r1 == r2, g.random(n) < 0.5, r1 > r2)
    return Preferences(x, np.where(first, y1, y2), np.where(first, y2, y1), P, K)


def preference_matrix(data: Preferences) -> np.ndarray:
    """Counts ``(P, K, K)``: entry ``[x, i, j]`` is how often ``i`` was preferred to ``j`` for prompt ``x``."""
    m = np.zeros((data.n_prompts, data.n_responses, data.n_responses))
    np.add.at(m, (data.prompt, data.chosen, data.rejected), 1.0)
    return m


def pair_coverage(data: Preferences) -> Tuple[np.ndarray, float]:
    """``(covered (P, K) bool, share of the K(K-1)/2 pairs compared at least once per prompt, averaged)``."""
    m = preference_matrix(data)
    both = m + m.transpose(0, 2, 1)
    covered = both.sum(axis=2) > 0
    K = data.n_responses
    iu = np.triu_indices(K, 1)
    share = float((both[:, iu[0], iu[1]] > 0).mean())
    return covered, share


def comparison_graph(wins: object) -> Tuple[np.ndarray, np.ndarray]:
    """When is DPO's (and the Bradley–Terry reward model's) solution unique, and when is it finite?

    ``wins`` ``(P, K, K)`` (or ``(K, K)``): ``wins[x, i, j]`` is how often ``i`` beat ``j`` for prompt ``x``
    (:func:`preference_matrix`; non-negative, real counts allowed). Per prompt:

    * ``unique``: the undirected graph "i and j were compared" connects all K responses. Otherwise the loss does not
      depend on the log-ratio between components, so the policy's split of mass between them is arbitrary.
    * ``finite``: the directed graph "i beat j at least once" is strongly connected (Zermelo 1929; Ford 1957): every
      response both won and lost along some chain. Otherwise some group of responses always beats the rest, and the
      likelihood keeps rising as their log-ratio margin grows: the optimum is at infinity (deterministic labels).

    Returns ``(unique (P,), finite (P,))`` boolean arrays (``finite`` implies ``unique``).
    """
    from scipy.sparse.csgraph import connected_components

    w = np.asarray(wins, dtype=float)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] < 2:
        raise ValueError(f"wins must have shape (K, K) or (P, K, K) with K >= 2, got {np.shape(wins)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("wins must hold finite counts >= 0")
    unique = np.array([connected_components(m + m.T > 0, directed=False)[0] == 1 for m in w])
    finite = np.array([connected_components(m > 0, directed=True, connection="strong")[0] == 1 for m in w])
    return unique, finite
