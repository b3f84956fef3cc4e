"""Proposers: anything that writes (partial) Game-of-24 chains, with counted compute.

Every test-time strategy in :mod:`frontier.reasoning.strategies` talks to a
proposer through one method::

    proposer.extend(puzzle, prefix, n, rng, max_steps=None) -> list[Proposal]

``n`` continuations of the chain ``prefix`` (a tuple of steps, ``()`` for a
fresh start): whole chains with ``max_steps=None``, single next steps with
``max_steps=1`` (what tree search needs).  Each :class:`Proposal` carries the
number of proposer tokens it cost, so strategies can be compared at equal
compute.

Compute is counted as a character-level language model with a KV cache would
spend it: the prompt and the prefix are read once per proposal, and every
generated character (and the end marker) once (:func:`proposal_tokens`).  The
trained proposer (:class:`frontier.reasoning.lm.LMProposer`) counts the token
positions its network actually processed.

Two synthetic proposers have *known* answer distributions, so the closed forms
in :mod:`frontier.reasoning.theory` can be checked against them:
:class:`RandomStepProposer` (uniform legal steps, with an arithmetic error
rate) and :class:`CategoricalProposer` (whole chains drawn from a fixed list).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Protocol, Sequence, Tuple, Union

import numpy as np

from ..validation import fraction, nonnegative_int, positive_int
from .steps import Numbers, Step, apply_step, chain_text, legal_steps, prompt_text, to_numbers

__all__ = ["Proposal", "Proposer", "RandomStepProposer", "CategoricalProposer", "proposal_tokens", "as_rng",
           "state_after"]


def as_rng(rng: Union[None, int, np.random.Generator]) -> np.random.Generator:
    """A NumPy generator from a seed (int), a generator (returned as is) or ``None`` (seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    return np.random.default_rng(nonnegative_int("seed", rng))


@dataclass(frozen=True)
class Proposal:
    """One continuation.

    Attributes:
        steps: the whole chain, prefix included.
        tokens: proposer tokens spent producing it (prompt + prefix read, new text written).
        well_formed: False when the generated text stopped parsing as steps.
    """

    steps: Tuple[Step, ...]
    tokens: int
    well_formed: bool = True


class Proposer(Protocol):
    name: str

    def extend(self, puzzle: Sequence[int], prefix: Tuple[Step, ...], n: int, rng: np.random.Generator, *,
               max_steps: Optional[int] = None) -> List[Proposal]:
        ...


def proposal_tokens(puzzle: Iterable, prefix: Sequence[Step], new_steps: Sequence[Step]) -> int:
    """Tokens a character-level proposer with a KV cache spends on one proposal.

    ``len(prompt + prefix text)`` read once, plus the generated characters and
    one end marker (a ``;`` before another step, or end-of-sequence).
    """
    head = prompt_text(puzzle) + chain_text(puzzle, prefix) + (";" if prefix else "")
    full = chain_text(puzzle, tuple(prefix) + tuple(new_steps))
    new_chars = len(full) - len(chain_text(puzzle, prefix)) - (1 if prefix else 0)
    return len(head) + new_chars + 1


def state_after(puzzle: Iterable, steps: Sequence[Step]) -> Numbers:
    """The claimed state after ``steps``; ValueError if a step uses a number that is not there."""
    state = to_numbers(puzzle, puzzle=False)
    for s in steps:
        state = apply_step(state, s)
    return state


class RandomStepProposer:
    """Picks a uniformly random legal step at every turn; with ``error_rate`` it miscalculates.

    A miscalculation keeps the operands and operation and writes a result off
    by a random nonzero integer in [-3, 3].  With ``error_rate=0`` its success
    probability on a puzzle is exactly :func:`frontier.reasoning.solver.solve_rate`.
    """

    def __init__(self, error_rate: float = 0.0, name: str = "random"):
        self.error_rate = fraction("error_rate", error_rate)
        self.name = name

    def _one(self, state: Numbers, rng: np.random.Generator) -> Step:
        steps = legal_steps(state)
        s = steps[int(rng.integers(len(steps)))]
        if self.error_rate and rng.random() < self.error_rate:
            off = int(rng.choice([-3, -2, -1, 1, 2, 3]))
            s = Step(s.a, s.op, s.b, s.result + off)
        return s

    def extend(self, puzzle, prefix=(), n=1, rng=None, *, max_steps=None) -> List[Proposal]:
        n = positive_int("n", n)
        rng = as_rng(rng)
        prefix = tuple(prefix)
        start = state_after(puzzle, prefix)
        limit = len(start) - 1 if max_steps is None else min(positive_int("max_steps", max_steps), len(start) - 1)
        out = []
        for _ in range(n):
            state, new = start, []
            for _ in range(limit):
                s = self._one(state, rng)
                new.append(s)
                state = apply_step(state, s)
            out.append(Proposal(prefix + tuple(new), proposal_tokens(puzzle, prefix, new)))
        return out


class CategoricalProposer:
    """Draws whole chains from a fixed list with fixed probabilities: a known answer distribution.

    ``chains[i]`` is drawn with probability ``probs[i]``; a missing mass
    ``1 - sum(probs)`` is an empty chain (the proposer gives no answer).  Only
    whole chains from the start (``prefix=()``, ``max_steps=None``) are
    supported.
    """

    def __init__(self, chains: Sequence[Sequence[Step]], probs: Sequence[float], name: str = "categorical"):
        if len(chains) != len(probs) or not chains:
            raise ValueError("chains and probs must be non-empty and of equal length")
        p = np.asarray(probs, dtype=float)
        if np.any(p < 0) or p.sum() > 1 + 1e-12:
            raise ValueError(f"probs must be >= 0 and sum to at most 1, got sum {p.sum()}")
        self.chains = [tuple(c) for c in chains]
        self.probs = np.append(p, max(0.0, 1.0 - p.sum()))
        self.name = name

    def extend(self, puzzle, prefix=(), n=1, rng=None, *, max_steps=None) -> List[Proposal]:
        if prefix or max_steps is not None:
            raise ValueError("CategoricalProposer only writes whole chains from the start (prefix=(), max_steps=None)")
        n = positive_int("n", n)
        rng = as_rng(rng)
        idx = rng.choice(len(self.probs), size=n, p=self.probs / self.probs.sum())
        out = []
        for i in idx:
            chain = self.chains[i] if i < len(self.chains) else ()
            out.append(Proposal(chain, proposal_tokens(puzzle, (), chain)))
        return out

