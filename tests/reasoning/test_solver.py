"""The exact Game-of-24 solver and the step representation."""
from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.reasoning.proposer import RandomStepProposer
from frontier.reasoning.solver import (all_puzzles, count_solvable, difficulty, n_solution_chains, puzzle_table,
                                       solution_chains, solutions, solvable, solve_rate)
from frontier.reasoning.steps import (Step, apply_step, chain_text, check_chain, canonical_expression,
                                      expression_value, legal_steps, parse_chain, parse_step, prompt_text,
                                      to_numbers)


def test_counts_match_the_published_puzzle_set():
    # 1,820 multisets of four numbers from 1-13; 1,362 solvable (= rows of ToT's data/24/24.csv)
    assert len(all_puzzles()) == 1820
    assert count_solvable() == (1820, 1362)
    assert len(puzzle_table()) == 1362


@pytest.mark.parametrize("puzzle", [(1, 1, 1, 1), (1, 1, 1, 2), (1, 1, 2, 2), (13, 13, 13, 13), (1, 1, 5, 9)])
def test_known_unsolvable_sets_have_no_solution(puzzle):
    assert not solvable(puzzle)
    assert solutions(puzzle) == []
    assert n_solution_chains(puzzle) == 0


def test_famous_fraction_puzzle_has_its_one_solution():
    assert solutions([3, 3, 8, 8]) == ["8/(3-(8/3))"]
    assert solutions([1, 5, 5, 5]) == ["(5-(1/5))*5"]
    assert solutions([1, 6, 11, 13]) == ["((11*13)+1)/6"]


def _leaves(expr: str):
    return sorted(int(x) for x in re.findall(r"\d+", expr))


def test_every_solution_evaluates_to_24_and_uses_each_number_once():
    rng = np.random.default_rng(0)
    table = puzzle_table()
    for i in rng.choice(len(table), 40, replace=False):
        puzzle = table[i].puzzle
        sols = solutions(puzzle)
        assert sols, puzzle
        for e in sols:
            assert expression_value(e) == 24, (puzzle, e)
            assert _leaves(e) == sorted(puzzle), (puzzle, e)
        for chain in solution_chains(puzzle)[:20]:
            assert check_chain(puzzle, chain).solved


def test_legal_steps_from_four_distinct_numbers():
    steps = legal_steps(to_numbers([1, 2, 3, 4]))
    assert len(steps) == 36                     # 6 pairs x (+, *, a-b, b-a, a/b, b/a)
    assert all(s.correct for s in steps)
    assert len(legal_steps(to_numbers([4, 4, 4, 4]))) == 4     # one pair of values: +, *, -, /


def test_solve_rate_matches_a_random_proposer():
    puzzle = (4, 4, 6, 8)
    p = solve_rate(puzzle)
    rng = np.random.default_rng(1)
    props = RandomStepProposer().extend(puzzle, (), 2000, rng)
    hits = sum(check_chain(puzzle, q.steps).solved for q in props)
    se = np.sqrt(p * (1 - p) / 2000)
    assert abs(hits / 2000 - p) < 4 * se


def test_difficulty_bins_are_roughly_quartiles():
    counts = Counter(difficulty(r.puzzle) for r in puzzle_table())
    assert set(counts) == {"hard", "medium", "easy", "very easy"}
    assert all(300 < c < 400 for c in counts.values())
    with pytest.raises(ValueError, match="not solvable"):
        difficulty((1, 1, 1, 1))


def test_step_text_round_trip_and_wrong_arithmetic_is_caught():
    s = parse_step("(8/3)*9=24")
    assert s.text == "(8/3)*9=24"
    assert (s.a, s.op, s.b, s.result) == (Fraction(8, 3), "*", 9, 24) and s.correct
    assert parse_step("4-8=-4[-4 6 8]").correct
    bad = parse_step("4+8=13")
    assert not bad.correct
    chk = check_chain((4, 4, 6, 8), [bad])
    assert not chk.valid and chk.first_error == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 13), min_size=4, max_size=4), st.integers(0, 2**31 - 1))
def test_chains_survive_their_text_form(puzzle, seed):
    props = RandomStepProposer(error_rate=0.3).extend(puzzle, (), 1, np.random.default_rng(seed))
    steps = props[0].steps
    parsed, ok = parse_chain(chain_text(puzzle, steps))
    assert ok and tuple(parsed) == steps
    # the expression a correct chain builds evaluates to the value it ends with
    if check_chain(puzzle, steps).valid:
        state = to_numbers(puzzle, puzzle=False)
        for s in steps:
            state = apply_step(state, s)
        assert expression_value(canonical_expression(puzzle, steps)) == state[0]


def test_prompt_text_and_step_order_do_not_change_the_expression():
    assert prompt_text([8, 4, 6, 4]) == "4 4 6 8:"
    a = [Step.make(4, "+", 8), Step.make(6, "-", 4), Step.make(12, "*", 2)]
    b = [Step.make(6, "-", 4), Step.make(4, "+", 8), Step.make(2, "*", 12)]
    assert canonical_expression((4, 4, 6, 8), a) == canonical_expression((4, 4, 6, 8), b) == "(4+8)*(6-4)"


@pytest.mark.parametrize("bad, err", [([0, 1, 2, 3], ValueError), ([1, 2, 3, 14], ValueError), ([1, 2, 3], ValueError),
                                      ([1, 2, 3, 4, 5], ValueError), ("1234", TypeError), ([1, 2, 3, 4.5], TypeError),
                                      ([], ValueError)])
def test_bad_puzzles_raise_clear_errors(bad, err):
    with pytest.raises(err, match="numbers|puzzle"):
        to_numbers(bad)


def test_parse_errors():
    for text in ["4+8", "4+8=x", "four plus eight=12", ""]:
        with pytest.raises(ValueError):
            parse_step(text)
    steps, ok = parse_chain("4+8=12[4 6 12];garbage")
    assert len(steps) == 1 and not ok
