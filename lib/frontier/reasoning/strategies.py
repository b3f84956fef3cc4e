"""Test-time strategies for the Game of 24, with counted compute.

All strategies share one signature, ``strategy(proposer, puzzle, rng, **knobs) -> Outcome``,
and count the proposer tokens they spend (each proposal's ``tokens``, see
:mod:`frontier.reasoning.proposer`) and the verifier calls they make.

================== ========= ====================================================
name               knob      what it does
================== ========= ====================================================
``single``         —         one chain, taken as is
``self_consistency`` ``n``   ``n`` chains, majority vote over their final answers
``best_of_n``      ``n``     ``n`` chains, keep the one the outcome verifier scores highest
``weighted_best_of_n`` ``n`` ``n`` chains, sum verifier scores per answer, keep the best answer
``tree_search``    ``breadth`` breadth-first search over steps, keep the ``breadth``
                             best partial chains by process-verifier score (Tree of Thoughts' BFS)
``revision``       ``rounds`` propose, check each step with the process verifier,
                             resample from the first rejected step, up to ``rounds`` times
================== ========= ====================================================

The *final answer* of a chain is the expression it builds
(:func:`frontier.reasoning.steps.canonical_expression`) when the chain is
complete and claims 24; otherwise the chain gives no answer.  An answer is
*correct* when the exact checker says the chain solves the puzzle.

Tie rule (self-consistency, best-of-N): among equally good candidates the
winner is drawn uniformly at random with the strategy's ``rng`` (seeded, so
reproducible).  :func:`frontier.reasoning.theory.majority_vote_accuracy` shows
that breaking ties towards the first-seen answer gives the same expected accuracy.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..validation import choice, positive_int
from .proposer import Proposal, Proposer, as_rng, state_after
from .steps import TARGET, Step, canonical_expression, check_chain, to_numbers
from .verifiers import accepted

__all__ = ["Outcome", "final_answer", "single", "self_consistency", "best_of_n", "weighted_best_of_n",
           "tree_search", "revision", "STRATEGIES", "KNOBS", "run_strategy", "evaluate"]


@dataclass
class Outcome:
    """What one strategy returned on one puzzle.

    Attributes:
        strategy: its name.
        puzzle: the four numbers.
        steps: the chosen chain (``None`` when the strategy gave no answer).
        answer: the chain's final expression (``None``: no answer).
        correct: the exact checker's verdict on the chosen chain.
        tokens: proposer tokens spent (the compute counter).
        verifier_calls: number of verifier scores computed.
        proposals: number of chains or steps proposed.
    """

    strategy: str
    puzzle: Tuple[int, ...]
    steps: Optional[Tuple[Step, ...]]
    answer: Optional[str]
    correct: bool
    tokens: int
    verifier_calls: int
    proposals: int

    def row(self) -> Dict[str, object]:
        d = asdict(self)
        d["steps"] = None if self.steps is None else ";".join(s.text for s in self.steps)
        d["puzzle"] = " ".join(map(str, self.puzzle))
        return d


def final_answer(puzzle: Iterable, steps: Sequence[Step]) -> Optional[str]:
    """The chain's final answer, or ``None`` when it is incomplete, does not claim 24, or uses absent numbers."""
    try:
        state = state_after(puzzle, steps)
    except ValueError:
        return None
    if len(state) != 1 or state[0] != TARGET:
        return None
    return canonical_expression(puzzle, steps)


def _outcome(name, puzzle, steps, tokens, calls, proposals) -> Outcome:
    ans = None if steps is None else final_answer(puzzle, steps)
    ok = ans is not None and check_chain(puzzle, steps).solved
    return Outcome(name, tuple(int(x) for x in puzzle), None if steps is None else tuple(steps), ans, ok,
                   int(tokens), int(calls), int(proposals))


def _pick(rng: np.random.Generator, items: List, key: Callable) -> object:
    """The item with the largest key; ties broken uniformly at random with ``rng``."""
    keys = [key(x) for x in items]
    best = max(keys)
    tied = [x for x, k in zip(items, keys) if k == best]
    return tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]


def single(proposer: Proposer, puzzle, rng=None) -> Outcome:
    """One chain from the proposer, taken as is (chain-of-thought, one sample)."""
    rng = as_rng(rng)
    p = proposer.extend(puzzle, (), 1, rng)[0]
    return _outcome("single", puzzle, p.steps, p.tokens, 0, 1)


def self_consistency(proposer: Proposer, puzzle, rng=None, *, n: int = 5) -> Outcome:
    """Majority vote over the final answers of ``n`` chains (Wang et al. 2022).

    Chains without an answer do not vote; if none answers the outcome has no
    answer.  Ties: uniformly at random among the most frequent answers.
    """
    n = positive_int("n", n)
    rng = as_rng(rng)
    props = proposer.extend(puzzle, (), n, rng)
    tokens = sum(p.tokens for p in props)
    by_answer: Dict[str, Proposal] = {}
    votes: Counter = Counter()
    for p in props:
        a = final_answer(puzzle, p.steps)
        if a is not None:
            votes[a] += 1
            by_answer.setdefault(a, p)
    if not votes:
        return _outcome("self_consistency", puzzle, None, tokens, 0, n)
    winner = _pick(rng, sorted(votes), lambda a: votes[a])
    return _outcome("self_consistency", puzzle, by_answer[winner].steps, tokens, 0, n)


def best_of_n(proposer: Proposer, puzzle, rng=None, *, n: int = 5, verifier=None) -> Outcome:
    """``n`` chains, keep the one the outcome ``verifier`` scores highest (ties at random).

    ``verifier`` has ``score(puzzle, steps) -> float`` (see
    :mod:`frontier.reasoning.verifiers`); required.
    """
    n = positive_int("n", n)
    if verifier is None:
        raise ValueError("best_of_n needs a verifier")
    rng = as_rng(rng)
    props = proposer.extend(puzzle, (), n, rng)
    scores = [verifier.score(puzzle, p.steps) for p in props]
    idx = _pick(rng, list(range(n)), lambda i: scores[i])
    return _outcome("best_of_n", puzzle, props[idx].steps, sum(p.tokens for p in props), n, n)


def weighted_best_of_n(proposer: Proposer, puzzle, rng=None, *, n: int = 5, verifier=None) -> Outcome:
    """``n`` chains; sum the verifier's scores of the chains behind each answer; keep the best answer.

    A vote weighted by the verifier (as in Snell et al. 2024's "weighted
    best-of-N"); chains without an answer do not vote.
    """
    n = positive_int("n", n)
    if verifier is None:
        raise ValueError("weighted_best_of_n needs a verifier")
    rng = as_rng(rng)
    props = proposer.extend(puzzle, (), n, rng)
    tokens = sum(p.tokens for p in props)
    weight: Dict[str, float] = defaultdict(float)
    first: Dict[str, Proposal] = {}
    calls = 0
    for p in props:
        a = final_answer(puzzle, p.steps)
        if a is None:
            continue
        weight[a] += verifier.score(puzzle, p.steps)
        calls += 1
        first.setdefault(a, p)
    if not weight:
        return _outcome("weighted_best_of_n", puzzle, None, tokens, calls, n)
    winner = _pick(rng, sorted(weight), lambda a: weight[a])
    return _outcome("weighted_best_of_n", puzzle, first[winner].steps, tokens, calls, n)


def tree_search(proposer: Proposer, puzzle, rng=None, *, breadth: int = 5, proposals: int = 5,
                prm=None) -> Outcome:
    """Breadth-first search over steps scored by a process verifier (Tree of Thoughts, BFS).

    From each of the ``breadth`` kept partial chains, ask the proposer for
    ``proposals`` next steps, drop duplicates, score every new partial chain
    with ``prm`` and keep the ``breadth`` best (ties in random order).  After
    the last step, return the best complete chain *if the PRM accepts it*,
    else no answer, so that with the exact PRM the search never returns a
    wrong answer.
    """
    breadth = positive_int("breadth", breadth)
    proposals = positive_int("proposals", proposals)
    if prm is None:
        raise ValueError("tree_search needs a process verifier (prm)")
    rng = as_rng(rng)
    n_left = len(to_numbers(puzzle))
    beam: List[Tuple[Step, ...]] = [()]
    tokens = calls = n_prop = 0
    scored: List[Tuple[float, Tuple[Step, ...]]] = []
    for _ in range(n_left - 1):
        cands: Dict[Tuple[Step, ...], None] = {}
        for prefix in beam:
            for p in proposer.extend(puzzle, prefix, proposals, rng, max_steps=1):
                tokens += p.tokens
                n_prop += 1
                if len(p.steps) == len(prefix) + 1:
                    cands.setdefault(p.steps, None)
        if not cands:
            return _outcome("tree_search", puzzle, None, tokens, calls, n_prop)
        keys = list(cands)
        order = rng.permutation(len(keys))
        scored = []
        for i in order:
            scored.append((prm.score(puzzle, keys[i]), keys[i]))
            calls += 1
        scored.sort(key=lambda t: -t[0])          # stable: random order among equal scores
        beam = [s for _, s in scored[:breadth]]
    best_score, best = scored[0]
    chosen = best if accepted(best_score) and final_answer(puzzle, best) is not None else None
    return _outcome("tree_search", puzzle, chosen, tokens, calls, n_prop)


def revision(proposer: Proposer, puzzle, rng=None, *, rounds: int = 3, prm=None) -> Outcome:
    """Propose, verify, revise: resample from the first step the process verifier rejects.

    Start with one chain.  Score its prefixes with ``prm``; if every prefix is
    accepted and the chain answers, stop.  Otherwise keep the steps before the
    first rejected one and let the proposer continue from there.  At most
    ``rounds`` revisions; the last chain is returned whatever its score.
    """
    rounds = positive_int("rounds", rounds)
    if prm is None:
        raise ValueError("revision needs a process verifier (prm)")
    rng = as_rng(rng)
    p = proposer.extend(puzzle, (), 1, rng)[0]
    tokens, calls, n_prop = p.tokens, 0, 1
    steps = p.steps
    for _ in range(rounds):
        bad = None
        for i in range(len(steps)):
            calls += 1
            if not accepted(prm.score(puzzle, steps[: i + 1])):
                bad = i
                break
        if bad is None and final_answer(puzzle, steps) is not None:
            break
        keep = steps[:bad] if bad is not None else steps[:-1]
        p = proposer.extend(puzzle, keep, 1, rng)[0]
        tokens += p.tokens
        n_prop += 1
        steps = p.steps
    return _outcome("revision", puzzle, steps, tokens, calls, n_prop)


STRATEGIES: Dict[str, Callable[..., Outcome]] = {
    "single": single, "self_consistency": self_consistency, "best_of_n": best_of_n,
    "weighted_best_of_n": weighted_best_of_n, "tree_search": tree_search, "revision": revision,
}
#: the knob each strategy scales compute with (None: fixed compute)
KNOBS: Dict[str, Optional[str]] = {"single": None, "self_consistency": "n", "best_of_n": "n",
                                   "weighted_best_of_n": "n", "tree_search": "breadth", "revision": "rounds"}


def run_strategy(name: str, proposer: Proposer, puzzle, rng=None, **kwargs) -> Outcome:
    """Run the strategy called ``name`` (one of :data:`STRATEGIES`); ValueError for an unknown name."""
    choice("strategy", name, list(STRATEGIES))
    puzzle = tuple(int(x) for x in to_numbers(puzzle))          # validates: four whole numbers in 1-13
    return STRATEGIES[name](proposer, puzzle, as_rng(rng), **kwargs)


def evaluate(name: str, proposer: Proposer, puzzles: Sequence[Sequence[int]], *, seed: int = 0,
             **kwargs) -> List[Dict[str, object]]:
    """Run a strategy on every puzzle; one row (dict) per puzzle, with ``difficulty`` and ``solve_rate``.

    ``seed`` seeds one generator shared by the whole run, so the run is reproducible.
    """
    from .solver import difficulty, solve_rate

    rng = as_rng(seed)
    knob = KNOBS[choice("strategy", name, list(STRATEGIES))]
    rows = []
    for p in puzzles:
        out = run_strategy(name, proposer, p, rng, **kwargs)
        r = out.row()
        r.update(knob=knob, knob_value=kwargs.get(knob) if knob else 1, solve_rate=solve_rate(p),
                 difficulty=difficulty(p), proposer=getattr(proposer, "name", type(proposer).__name__))
        rows.append(r)
    return rows
