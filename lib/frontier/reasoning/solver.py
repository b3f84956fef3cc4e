"""An exact solver for the Game of 24, with rational arithmetic.

Four numbers from 1 to 13 are combined with ``+ - * /`` (each number used
once, any bracketing) to make 24.  Every intermediate value is a
:class:`fractions.Fraction`, so ``8 / (3 - 8/3) = 24`` is found exactly and no
floating-point near miss is ever counted as a solution.

The search works on *steps* (:mod:`frontier.reasoning.steps`): pick two of the
remaining numbers and an operation, replace them by the result.  Four numbers
need three steps.  Results are memoised on the sorted multiset of remaining
values, so counting the solvable puzzles among all 1,820 multisets takes well
under a second.

Reference counts: of the 1,820 multisets of four numbers from 1-13, 1,362 are
solvable (the Tree-of-Thoughts paper's puzzle file has exactly 1,362 rows).
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Iterable, List, Tuple

from .steps import TARGET, Numbers, Step, apply_step, canonical_expression, legal_steps, pair_results, to_numbers

__all__ = ["solvable", "solutions", "solution_chains", "n_solution_chains", "n_chains", "solve_rate",
           "all_puzzles", "count_solvable", "PuzzleInfo", "puzzle_table", "children", "difficulty",
           "DIFFICULTY_EDGES", "DIFFICULTY_NAMES", "split_puzzles"]


@lru_cache(maxsize=None)
def children(numbers: Numbers) -> Tuple[Tuple[Step, Numbers], ...]:
    """``(step, next state)`` for every legal step from a state (memoised)."""
    return tuple((s, apply_step(numbers, s)) for s in legal_steps(numbers))


@lru_cache(maxsize=None)
def _next_states(numbers: Numbers) -> Tuple[Numbers, ...]:
    """The state after every legal step, in :func:`legal_steps` order, without building steps (fast path)."""
    out = []
    seen = set()
    n = len(numbers)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = numbers[i], numbers[j]
            if (a, b) in seen:
                continue
            seen.add((a, b))
            rest = numbers[:i] + numbers[i + 1:j] + numbers[j + 1:]
            for r in pair_results(a, b):
                out.append(tuple(sorted(rest + (r,))))
    return tuple(out)


@lru_cache(maxsize=None)
def _solvable(numbers: Numbers) -> bool:
    if len(numbers) == 1:
        return numbers[0] == TARGET
    if len(numbers) == 2:
        return TARGET in pair_results(*numbers)
    return any(_solvable(nxt) for nxt in _next_states(numbers))


def solvable(numbers: Iterable) -> bool:
    """True if the remaining ``numbers`` (any count >= 1) can still reach 24 exactly.

    This is the exact *process* signal: for a partial solution it says whether
    the state after the steps taken so far can still be completed.
    """
    return _solvable(to_numbers(numbers, puzzle=False))


@lru_cache(maxsize=None)
def _counts(numbers: Numbers) -> Tuple[int, int]:
    """(number of step chains from ``numbers`` to one value, number of those that end at 24)."""
    if len(numbers) == 1:
        return 1, int(numbers[0] == TARGET)
    if len(numbers) == 2:
        r = pair_results(*numbers)
        return len(r), r.count(TARGET)
    total = good = 0
    for nxt in _next_states(numbers):
        t, g = _counts(nxt)
        total, good = total + t, good + g
    return total, good


def n_chains(numbers: Iterable) -> int:
    """Number of distinct step chains from ``numbers`` down to a single value."""
    return _counts(to_numbers(numbers, puzzle=False))[0]


def n_solution_chains(numbers: Iterable) -> int:
    """Number of distinct step chains from ``numbers`` that end at exactly 24."""
    return _counts(to_numbers(numbers, puzzle=False))[1]


@lru_cache(maxsize=None)
def _solve_rate(numbers: Numbers) -> float:
    if len(numbers) == 1:
        return float(numbers[0] == TARGET)
    if len(numbers) == 2:
        r = pair_results(*numbers)
        return r.count(TARGET) / len(r)
    kids = _next_states(numbers)
    return sum(_solve_rate(nxt) for nxt in kids) / len(kids)


def solve_rate(numbers: Iterable) -> float:
    """Probability that a *random* proposer solves the puzzle.

    The proposer picks, at every step, one of the :func:`legal_steps` uniformly
    at random.  This is the success rate of guessing, and the course's main
    measure of difficulty (low = hard).
    """
    return float(_solve_rate(to_numbers(numbers, puzzle=False)))


def solution_chains(numbers: Iterable) -> List[Tuple[Step, ...]]:
    """Every step chain from ``numbers`` that ends at exactly 24 (a list of step tuples)."""
    start = to_numbers(numbers, puzzle=False)
    out: List[Tuple[Step, ...]] = []

    def walk(state: Numbers, prefix: Tuple[Step, ...]) -> None:
        if len(state) == 1:
            if state[0] == TARGET:
                out.append(prefix)
            return
        for s, nxt in children(state):
            if _solvable(nxt):
                walk(nxt, prefix + (s,))

    walk(start, ())
    return out


def solutions(numbers: Iterable) -> List[str]:
    """All distinct solutions of a puzzle as canonical expressions, sorted.

    Two chains that build the same expression tree (up to the order of the
    operands of ``+`` and ``*``) count once; ``(a+b)+c`` and ``a+(b+c)`` are
    different expressions.  ``solutions([1, 1, 1, 1]) == []``.
    """
    start = to_numbers(numbers, puzzle=False)
    return sorted({canonical_expression(start, chain) for chain in solution_chains(start)})


def all_puzzles(lo: int = 1, hi: int = 13) -> List[Tuple[int, int, int, int]]:
    """Every multiset of four numbers from ``lo`` to ``hi``, sorted (1,820 for 1-13)."""
    return list(itertools.combinations_with_replacement(range(lo, hi + 1), 4))


def count_solvable(lo: int = 1, hi: int = 13) -> Tuple[int, int]:
    """``(number of multisets, number solvable)``; ``(1820, 1362)`` for 1-13."""
    puzzles = all_puzzles(lo, hi)
    return len(puzzles), sum(solvable(p) for p in puzzles)


class PuzzleInfo(dict):
    """One row of :func:`puzzle_table` (a dict with attribute access)."""

    __getattr__ = dict.__getitem__


@lru_cache(maxsize=4)
def _table(lo: int, hi: int) -> Tuple[PuzzleInfo, ...]:
    rows = []
    for p in all_puzzles(lo, hi):
        total, good = _counts(to_numbers(p, puzzle=False))
        if good:
            rows.append(PuzzleInfo(puzzle=p, n_chains=total, n_solution_chains=good, solve_rate=solve_rate(p)))
    return tuple(rows)


def puzzle_table(lo: int = 1, hi: int = 13) -> List[PuzzleInfo]:
    """The solvable puzzles with their difficulty.

    Each row has ``puzzle`` (4 ints), ``n_chains`` (all step chains),
    ``n_solution_chains`` (those reaching 24) and ``solve_rate`` (a random
    proposer's success probability, see :func:`solve_rate`).  Counting
    distinct expressions (:func:`solutions`) is slower, so it is left out.
    """
    return list(_table(lo, hi))


#: Solve-rate edges of the four difficulty bins: roughly the quartiles over the 1,362 solvable puzzles.
DIFFICULTY_EDGES = (0.0, 0.0017, 0.0033, 0.0074, 1.0)
DIFFICULTY_NAMES = ("hard", "medium", "easy", "very easy")


def difficulty(numbers: Iterable) -> str:
    """``"hard"``, ``"medium"``, ``"easy"`` or ``"very easy"`` from :func:`solve_rate` (:data:`DIFFICULTY_EDGES`).

    Raises ValueError for an unsolvable puzzle.
    """
    r = solve_rate(numbers)
    if r == 0:
        raise ValueError(f"puzzle {list(numbers)} is not solvable, so it has no difficulty")
    for name, hi in zip(DIFFICULTY_NAMES, DIFFICULTY_EDGES[1:]):
        if r < hi:
            return name
    return DIFFICULTY_NAMES[-1]


def split_puzzles(test_fraction: float = 0.25, seed: int = 0) -> Tuple[List[Tuple[int, ...]], List[Tuple[int, ...]]]:
    """``(train, test)``: the 1,362 solvable puzzles split at random (seeded), so proposers and
    learned verifiers are trained on one part and evaluated on puzzles they never saw."""
    import numpy as np

    from ..validation import fraction

    f = fraction("test_fraction", test_fraction)
    puzzles = [r.puzzle for r in puzzle_table()]
    order = np.random.default_rng(seed).permutation(len(puzzles))
    n_test = int(round(f * len(puzzles)))
    test = sorted(puzzles[i] for i in order[:n_test])
    train = sorted(puzzles[i] for i in order[n_test:])
    return train, test
