"""Experimental claims the section's lessons make, each at the smallest size that shows it (seeded, slow)."""
from __future__ import annotations

import pytest

from frontier.reasoning import agent_tasks as at
from frontier.reasoning import experiments, lm, solver, tools, verifiers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def test_learned_prm_is_nearly_exact_with_two_numbers_left():
    # lesson 2.1: "with two numbers left it is nearly exact; with three it has to judge pairs ... that is where it errs"
    train, test = solver.split_puzzles()
    prm = verifiers.LearnedPRM(seed=0).fit(train[:200], steps=150, seed=0)
    rates = {r["numbers_left"]: r for r in verifiers.prm_error_rates(prm, test[:100])}
    assert rates[2]["accuracy"] > 0.97 and rates[1]["accuracy"] > 0.99
    assert rates[3]["false_positive"] + rates[3]["false_negative"] > rates[2]["false_positive"] + rates[2]["false_negative"]


@pytest.mark.long
def test_tree_search_with_a_process_verifier_beats_one_sample_of_a_trained_proposer():
    # lesson 2.1: search "is how a proposer that rarely writes a whole correct chain can still find one"
    train, test = solver.split_puzzles()
    model, _ = lm.train_proposer("small", train, steps=SEARCH_STEPS, seed=0, progress=False)
    prop = lm.LMProposer(model)
    held = test[::10][:30]
    prm = verifiers.NoisyProcessVerifier(0.0, 0.0)
    rows = experiments.sweep(prop, held, [("single", {}), ("tree_search", {"breadth": 2, "proposals": 3, "prm": prm})],
                             seed=0)
    acc = {s["strategy"]: s["accuracy"] for s in experiments.summarize(rows)}
    assert acc["tree_search"] > acc["single"] + 0.15
    assert all(r["correct"] for r in rows if r["strategy"] == "tree_search" and r["answer"] is not None)


def test_calculator_calls_beat_direct_arithmetic_on_long_numbers():
    # lesson 2.2: the model alone fails on multi-digit numbers; the tool-calling model mostly copies correctly
    direct, _ = tools.train_translator("arithmetic", "direct", steps=200, seed=0, progress=False)
    caller, _ = tools.train_translator("arithmetic", "tool", steps=200, seed=0, progress=False)
    alone = tools.arithmetic_accuracy(direct, "direct", [3, 4], n=30, seed=1)
    with_tool = tools.arithmetic_accuracy(caller, "tool", [3, 4], n=30, seed=1)
    assert all(t["accuracy"] > a["accuracy"] + 0.5 for a, t in zip(alone, with_tool))


@pytest.mark.long
def test_formalise_then_solve_beats_answering_directly():
    # lesson 2.2: the formaliser + z3 solves word problems the model alone gets wrong
    direct, _ = tools.train_translator("word", "direct", steps=300, seed=0, progress=False)
    formaliser, _ = tools.train_translator("word", "formalise", steps=300, seed=0, progress=False)
    alone = tools.word_problem_accuracy(direct, "direct", n=30, seed=2)
    solved = tools.word_problem_accuracy(formaliser, "formalise", n=30, seed=2, solver="z3")
    assert solved["accuracy"] > alone["accuracy"] + 0.3


@pytest.mark.long
def test_trained_agent_is_reliable_on_trained_lengths_and_fails_on_a_longer_one():
    # lesson 2.3: "solved 238 of the 240 baskets of one to four items and none of the 60 five-item baskets"
    model, _ = at.train_policy((1, 2, 3, 4), steps=AGENT_STEPS, seed=0, progress=False)
    rows = at.run_tasks(at.LMPolicy(model), at.make_tasks([2, 4, 5], 15, seed=0), at.make_tools())
    success = {r["steps"]: r["success"] for r in at.success_by_steps(rows)}
    assert success[4] >= 0.9 and success[6] >= 0.9 and success[7] <= 0.2


SEARCH_STEPS = lm.SIZES["small"].steps   # the lesson's full-mode budget for the small proposer (cached: trained once)
AGENT_STEPS = 1500       # the lesson's full-mode budget for the agent policy (cached)
