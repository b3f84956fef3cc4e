"""Verifiers for Game-of-24 chains: exact, noisy with known error rates, and learned.

Two kinds, as in the test-time-compute literature:

* an **outcome** verifier (ORM) scores a whole chain: did it reach 24 correctly?
* a **process** verifier (PRM) scores a partial chain: is every step so far
  correct, and can the numbers left still reach 24?

For this puzzle both have an exact version (:func:`frontier.reasoning.steps.check_chain`),
so we can add *controlled* noise: a false-positive rate (a wrong chain or a
dead-end state accepted) and a false-negative rate (a right one rejected).

Scores: a verifier returns a float; ``score >= 1`` means *accepted* (see
:func:`accepted`).  Rejected items score in ``[0, 1)``, accepted ones in
``[1, 2)``; the fractional part is a random confidence used to break ties.
``overconfidence = h`` adds ``h`` to the score of every false positive: a
verifier that is most sure exactly when it is wrong, the situation in which
best-of-N gets *worse* as N grows (with ``h >= 1`` every false positive
outranks every true positive).

Noise is either *consistent* (a deterministic function of the chain and the
seed, as a real reward model is: the same chain always gets the same score)
or fresh on every call (``consistent=False``; independent errors, the
assumption of the closed forms in :mod:`frontier.reasoning.theory`).
"""
from __future__ import annotations

import hashlib
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from ..validation import fraction, nonnegative_float, nonnegative_int, positive_float, positive_int
from .steps import Step, TARGET, check_chain, chain_text, prompt_text, to_numbers

__all__ = ["accepted", "NoisyOutcomeVerifier", "NoisyProcessVerifier", "LearnedPRM", "state_features",
           "exact_outcome", "exact_process", "prm_training_states", "prm_error_rates"]


def accepted(score: float) -> bool:
    """True when a verifier score means "accepted" (``score >= 1``)."""
    return score >= 1.0


def exact_outcome(puzzle: Iterable, steps: Sequence[Step]) -> bool:
    """The exact outcome label: the chain is valid, complete and ends at 24."""
    return check_chain(puzzle, steps).solved


def exact_process(puzzle: Iterable, steps: Sequence[Step]) -> bool:
    """The exact process label of a partial chain: valid so far and still able to reach 24.

    For the empty chain it is whether the puzzle is solvable; for a complete
    chain it equals :func:`exact_outcome`.
    """
    if not steps:
        from .solver import solvable

        return solvable(puzzle)
    return check_chain(puzzle, steps).prefix_solvable[-1]


class _Noisy:
    kind = "verifier"

    def __init__(self, false_positive: float = 0.0, false_negative: float = 0.0, *, overconfidence: float = 0.0,
                 consistent: bool = True, seed: int = 0):
        self.false_positive = fraction("false_positive", false_positive)
        self.false_negative = fraction("false_negative", false_negative)
        self.overconfidence = nonnegative_float("overconfidence", overconfidence)
        self.consistent = bool(consistent)
        self.seed = nonnegative_int("seed", seed)
        self._rng = np.random.default_rng(self.seed)
        self.calls = 0

    def _uniforms(self, puzzle, steps) -> Tuple[float, float]:
        if not self.consistent:
            u = self._rng.random(2)
            return float(u[0]), float(u[1])
        key = f"{self.seed}|{self.kind}|{prompt_text(puzzle)}{chain_text(puzzle, steps)}".encode()
        h = hashlib.blake2b(key, digest_size=16).digest()
        return int.from_bytes(h[:8], "little") / 2**64, int.from_bytes(h[8:], "little") / 2**64

    def _label(self, puzzle, steps) -> bool:
        raise NotImplementedError

    def score(self, puzzle: Iterable, steps: Sequence[Step]) -> float:
        """Score of a chain (see the module docstring); counts one call."""
        self.calls += 1
        truth = self._label(puzzle, tuple(steps))
        u_flip, u_conf = self._uniforms(puzzle, tuple(steps))
        if truth:
            return u_conf if u_flip < self.false_negative else 1.0 + u_conf
        if u_flip < self.false_positive:
            return 1.0 + self.overconfidence + u_conf
        return u_conf

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(false_positive={self.false_positive}, false_negative={self.false_negative}, "
                f"overconfidence={self.overconfidence}, consistent={self.consistent}, seed={self.seed})")


class NoisyOutcomeVerifier(_Noisy):
    """An outcome reward model with known error rates (``0, 0``: the exact checker).

    ``score(puzzle, steps)``: accepted (``>= 1``) for a correct complete chain
    with probability ``1 - false_negative``, for any other chain with
    probability ``false_positive``.
    """

    kind = "orm"

    def _label(self, puzzle, steps) -> bool:
        return exact_outcome(puzzle, steps)


class NoisyProcessVerifier(_Noisy):
    """A process reward model with known error rates (``0, 0``: the exact per-step signal).

    ``score(puzzle, steps)`` on a partial chain: the truth is
    :func:`exact_process` (every step correct so far and the numbers left can
    still make 24), flipped with the given rates.
    """

    kind = "prm"

    def _label(self, puzzle, steps) -> bool:
        return exact_process(puzzle, steps)


def state_features(states: Sequence[Sequence]) -> np.ndarray:
    """``(n, 4, 6)`` float32 features of states of 1-4 numbers for :class:`LearnedPRM`.

    Per slot (numbers sorted, empty slots zero): present, value / 24,
    sign, whole number, equals 24, log(1 + |value|) / 5.
    """
    out = np.zeros((len(states), 4, 6), dtype=np.float32)
    for i, st in enumerate(states):
        if len(st) > 4:
            raise ValueError(f"a state has at most 4 numbers, got {len(st)}")
        for j, v in enumerate(sorted(st)):
            fv = float(v)
            out[i, j] = (1.0, fv / 24, np.sign(fv), float(v.denominator == 1), float(v == TARGET),
                         np.log1p(abs(fv)) / 5)
    return out


class LearnedPRM:
    """A small learned process reward model: P(the numbers left can still reach 24).

    A Deep-Sets network (a per-number MLP, summed, then an MLP) gives a value
    to a state; the PRM's logit for a state is the largest value among the
    states one legal step away (a learned one-step look-ahead, like the
    Tree-of-Thoughts value prompt "can these numbers reach 24?").  Trained with
    cross-entropy on states reached by random legal steps from the training
    puzzles, labelled by the exact solver: "specialised training data with
    verified correctness".  It sees only the numbers left, so it cannot notice
    an arithmetic slip in the step that produced them; it returns ``1 + p``
    when ``p >= 0.5`` (accepted) and ``p`` otherwise.

    Use :meth:`fit` (seconds on a CPU) or build through the model cache.
    """

    kind = "learned-prm"

    def __init__(self, hidden: int = 64, seed: int = 0):
        import torch
        from torch import nn

        self.hidden = positive_int("hidden", hidden)
        self.seed = nonnegative_int("seed", seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.phi = nn.Sequential(nn.Linear(6, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
            self.rho = nn.Sequential(nn.Linear(hidden + 4, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.calls = 0
        self.history: List[float] = []

    def parameters(self):
        return list(self.phi.parameters()) + list(self.rho.parameters())

    def state_dict(self):
        return {"phi": self.phi.state_dict(), "rho": self.rho.state_dict()}

    def load_state_dict(self, sd) -> None:
        self.phi.load_state_dict(sd["phi"])
        self.rho.load_state_dict(sd["rho"])

    def logits(self, feats):
        """``feats (n, 4, 6)`` tensor -> ``(n,)`` logits (a Deep-Sets value of each state)."""
        import torch

        present = feats[..., 0:1]
        pooled = (self.phi(feats) * present).sum(1)
        count = torch.nn.functional.one_hot(present.sum((1, 2)).long().clamp(1, 4) - 1, 4).float()
        return self.rho(torch.cat([pooled, count], -1)).squeeze(-1)

    def _lookahead_logits(self, states: Sequence[Sequence]):
        """Max over the states one legal step away of the learned value (one logit per state)."""
        import torch

        from .solver import children

        kids, owner = [], []
        for i, st in enumerate(states):
            st = tuple(sorted(st))
            nxt = [c for _, c in children(st)] if len(st) > 1 else [st]
            kids.extend(nxt)
            owner.extend([i] * len(nxt))
        z = self.logits(torch.from_numpy(state_features(kids)))
        out = torch.full((len(states),), -1e9)
        return out.scatter_reduce(0, torch.tensor(owner), z, reduce="amax", include_self=True)

    def prob(self, states: Sequence[Sequence]) -> np.ndarray:
        """``(n,)`` predicted probability that each state can still reach 24."""
        import torch

        with torch.no_grad():
            return torch.sigmoid(self._lookahead_logits(states)).numpy()

    def score(self, puzzle: Iterable, steps: Sequence[Step]) -> float:
        """Verifier score of a partial chain (0 if a step uses a number that is not there)."""
        from .proposer import state_after

        self.calls += 1
        try:
            st = state_after(puzzle, steps)
        except ValueError:
            return 0.0
        p = float(self.prob([st])[0])
        return 1.0 + p if p >= 0.5 else p

    def fit(self, puzzles: Sequence[Sequence[int]], steps: int = 600, batch: int = 256, lr: float = 3e-3,
            seed: int = 0, pos_weight: float = 4.0, progress: bool = False) -> "LearnedPRM":
        """Train on states from random chains over ``puzzles``; labels from the exact solver.

        Batches are drawn uniformly from the deduplicated states (depths 0-3),
        so the classifier sees the natural share of dead ends; ``pos_weight``
        up-weights the rarer solvable states in the cross-entropy.
        Returns ``self``; ``self.history`` holds the training loss per step.
        """
        import torch

        states, labels = prm_training_states(puzzles, seed=seed)
        y = torch.tensor(labels, dtype=torch.float32)
        rng = np.random.default_rng(seed)
        pw = torch.tensor(positive_float("pos_weight", pos_weight))
        opt = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=1e-4)
        it = range(positive_int("steps", steps))
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc="learned PRM")
        for _ in it:
            idx = rng.integers(len(states), size=batch)
            z = self._lookahead_logits([states[i] for i in idx])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y[idx], pos_weight=pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.history.append(float(loss.detach()))
        return self


def prm_training_states(puzzles: Sequence[Sequence[int]], per_puzzle: int = 8, seed: int = 0
                        ) -> Tuple[List[Tuple], np.ndarray]:
    """States (after 1, 2 and 3 random legal steps) and their exact solvability labels.

    Returns ``(states, labels)`` with ``labels`` a bool array; states are
    deduplicated.
    """
    from .proposer import RandomStepProposer, state_after
    from .solver import solvable

    rng = np.random.default_rng(seed)
    prop = RandomStepProposer()
    seen = {}
    for p in puzzles:
        for prop_ in prop.extend(p, (), per_puzzle, rng):
            for k in range(1, len(prop_.steps) + 1):
                st = state_after(p, prop_.steps[:k])
                if st not in seen:
                    seen[st] = solvable(st)
        st0 = to_numbers(p)
        seen.setdefault(st0, solvable(st0))
    states = list(seen)
    return states, np.array([seen[s] for s in states], dtype=bool)



def prm_error_rates(prm: LearnedPRM, puzzles: Sequence[Sequence[int]], seed: int = 1) -> List[dict]:
    """Measured false-positive and false-negative rates of a learned PRM, by numbers left in the state.

    States come from random legal chains over ``puzzles`` (use held-out
    puzzles); labels from the exact solver.  One dict per count of numbers
    left (4, 3, 2, 1): ``numbers_left``, ``states``, ``solvable_share``,
    ``false_positive`` (dead ends accepted / dead ends), ``false_negative``
    (solvable states rejected / solvable states), ``accuracy``.
    """
    states, labels = prm_training_states(puzzles, seed=seed)
    pred = prm.prob(states) >= 0.5
    out = []
    for k in (4, 3, 2, 1):
        idx = np.array([i for i, s in enumerate(states) if len(s) == k], dtype=int)
        if idx.size == 0:
            continue
        y, p = labels[idx], pred[idx]
        out.append({"numbers_left": k, "states": int(idx.size), "solvable_share": float(y.mean()),
                    "false_positive": float(p[~y].mean()) if (~y).any() else float("nan"),
                    "false_negative": float((~p[y]).mean()) if y.any() else float("nan"),
                    "accuracy": float((p == y).mean())})
    return out
