"""Tools for exact computation: arithmetic pairs, word problems, z3 and sympy."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.reasoning import tools


def test_arithmetic_pairs_are_right():
    rng = np.random.default_rng(0)
    for _ in range(200):
        prompt, target, ans = tools.arithmetic_pair(rng, (1, 5), "direct")
        assert eval(prompt[2:-1]) == ans == int(target)
        prompt, target, ans = tools.arithmetic_pair(rng, (3, 3), "tool")
        assert target == f"calc({prompt[2:-1]})\n" and max(len(x) for x in prompt[2:-1].replace("*", "+").split("+")) == 3


def test_word_problems_have_one_solution_and_both_solvers_find_it():
    rng = np.random.default_rng(1)
    for _ in range(12):
        stmts, cons, vals = tools.word_problem(rng, int(rng.choice([2, 3])))
        assert len(stmts) == len(cons) == len(vals)
        assert tools.solve_z3(cons) == vals
        assert tools.solve_sympy(cons) == vals


def test_z3_says_none_and_many():
    assert tools.z3_status(["a==b+3", "a+b==10"])[0] == "none"
    assert tools.z3_status(["a==b+3"])[0] == "many"
    assert tools.z3_status(["a==b+3", "a+b==11"]) == ("unique", {"a": 7, "b": 4})
    assert tools.solve_sympy(["a==b+3", "a+b==10"]) is None          # 6.5 and 3.5: not integers


def test_parse_constraints_rejects_anything_else():
    assert tools.parse_constraints("a==b+3;a+b==11") == ["a==b+3", "a+b==11"]
    for bad in ["", "a=b+3", "a==b+3==c", "__import__('os')==1", "x==1"]:
        with pytest.raises(ValueError):
            tools.parse_constraints(bad)


def test_bad_modes():
    with pytest.raises(ValueError, match="mode"):
        tools.arithmetic_pair(np.random.default_rng(0), (1, 2), "guess")
    with pytest.raises(ValueError, match="n_vars"):
        tools.word_problem(np.random.default_rng(0), 5)
