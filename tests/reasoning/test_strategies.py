"""Test-time strategies against closed forms on proposers with known answer distributions."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.reasoning.proposer import CategoricalProposer, RandomStepProposer, proposal_tokens
from frontier.reasoning.solver import puzzle_table, solution_chains, solve_rate
from frontier.reasoning.steps import Step, check_chain, chain_text, prompt_text
from frontier.reasoning.strategies import (best_of_n, evaluate, final_answer, revision, run_strategy,
                                           self_consistency, single, tree_search, weighted_best_of_n)
from frontier.reasoning.theory import (best_of_n_accuracy, majority_vote_accuracy, pass_at_k, pass_at_n,
                                       wilson_interval)
from frontier.reasoning.verifiers import NoisyOutcomeVerifier, NoisyProcessVerifier

PUZZLE = (4, 4, 6, 8)
EASY = max(puzzle_table(), key=lambda r: r.solve_rate).puzzle       # solve rate ~0.10


def _wrong_chain_claiming_24():
    # 4+4=8, 8*6=48 (true), then 48-8 written as 24: an arithmetic slip that claims success
    return (Step.make(4, "+", 4), Step.make(8, "*", 6), Step(48, "-", 8, 24))


def _categorical():
    sols = solution_chains(PUZZLE)
    a, b = sols[0], next(c for c in sols if final_answer(PUZZLE, c) != final_answer(PUZZLE, sols[0]))
    chains = [a, b, _wrong_chain_claiming_24()]
    probs = [0.25, 0.2, 0.3]          # 0.25 mass: no answer
    return CategoricalProposer(chains, probs), chains, probs


def test_self_consistency_matches_closed_form_majority_vote():
    prop, chains, probs = _categorical()
    correct = [check_chain(PUZZLE, c).solved for c in chains]
    assert correct == [True, True, False]
    for n in (1, 3, 6):
        theory = majority_vote_accuracy(probs, correct, n)
        rng = np.random.default_rng(n)
        trials = 1000
        hits = sum(self_consistency(prop, PUZZLE, rng, n=n).correct for _ in range(trials))
        se = np.sqrt(theory * (1 - theory) / trials)
        assert abs(hits / trials - theory) < 4 * se, (n, hits / trials, theory)
    # when the single most likely answer is wrong, voting over more samples makes it win more often
    split = [0.15, 0.15, 0.3]
    assert majority_vote_accuracy(split, correct, 25) < 0.25 < majority_vote_accuracy(split, correct, 1)


def test_majority_vote_closed_form_small_cases_by_hand():
    # one answer with probability p: the vote is right iff at least one sample answers
    assert majority_vote_accuracy([0.3], [True], 4) == pytest.approx(1 - 0.7 ** 4)
    # two answers, n = 2, one vote each is a tie won half the time
    p, q = 0.6, 0.4
    expected = p * p + 2 * p * q * 0.5
    assert majority_vote_accuracy([p, q], [True, False], 2) == pytest.approx(expected)


def test_tie_rule_is_seeded_and_fair():
    sols = solution_chains(PUZZLE)
    prop = CategoricalProposer([sols[0], _wrong_chain_claiming_24()], [0.5, 0.5])
    outs = [self_consistency(prop, PUZZLE, np.random.default_rng(s), n=2) for s in range(400)]
    again = [self_consistency(prop, PUZZLE, np.random.default_rng(s), n=2) for s in range(400)]
    assert [o.answer for o in outs] == [o.answer for o in again]
    theory = majority_vote_accuracy([0.5, 0.5], [True, False], 2)           # = 0.5 by symmetry
    assert theory == pytest.approx(0.5)
    lo, hi = wilson_interval(sum(o.correct for o in outs), 400, z=3.5)
    assert lo < theory < hi


def test_best_of_n_with_a_perfect_verifier_is_pass_at_n():
    p = solve_rate(EASY)
    prop = RandomStepProposer()
    exact = NoisyOutcomeVerifier(0.0, 0.0)
    for n in (1, 4, 8):
        hits = []
        for s in range(150):
            out = best_of_n(prop, EASY, np.random.default_rng(s), n=n, verifier=exact)
            samples = prop.extend(EASY, (), n, np.random.default_rng(s))       # the same draws
            any_ok = any(check_chain(EASY, q.steps).solved for q in samples)
            assert out.correct == any_ok                                       # per trial, exactly
            hits.append(out.correct)
        se = np.sqrt(pass_at_n(p, n) * (1 - pass_at_n(p, n)) / 150)
        assert abs(np.mean(hits) - pass_at_n(p, n)) < 4 * se + 1e-9


@pytest.mark.parametrize("fp, fn, h", [(0.1, 0.2, 0.0), (0.05, 0.0, 1.5)])
def test_best_of_n_with_a_noisy_verifier_matches_closed_form(fp, fn, h):
    p = solve_rate(EASY)
    prop = RandomStepProposer()
    n, trials = 6, 600
    ver = NoisyOutcomeVerifier(fp, fn, overconfidence=h, consistent=False, seed=3)
    rng = np.random.default_rng(11)
    hits = sum(best_of_n(prop, EASY, rng, n=n, verifier=ver).correct for _ in range(trials))
    theory = best_of_n_accuracy(p, n, fp, fn, h)
    se = np.sqrt(theory * (1 - theory) / trials)
    assert abs(hits / trials - theory) < 4 * se, (hits / trials, theory)
    assert ver.calls == n * trials


def test_closed_forms_agree_with_each_other():
    p, fp, fn = 0.2, 0.1, 0.2
    for n in (1, 2, 5, 20):
        q = p * fn + (1 - p) * (1 - fp)
        a, r = p * (1 - fn) / (1 - q), p * fn / q
        assert best_of_n_accuracy(p, n, fp, fn) == pytest.approx((1 - q ** n) * a + q ** n * r)
        assert best_of_n_accuracy(p, n) == pytest.approx(pass_at_n(p, n))
    # over-confident false positives: accuracy rises, then falls as N grows
    curve = [best_of_n_accuracy(0.3, n, 0.1, 0.0, 1.0) for n in (1, 4, 64)]
    assert curve[1] > curve[0] > curve[2]
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 8, 3) == 1.0


def test_tree_search_with_an_exact_prm_never_returns_a_wrong_answer():
    prop = RandomStepProposer(error_rate=0.2)
    exact = NoisyProcessVerifier(0.0, 0.0)
    noisy = NoisyProcessVerifier(0.9, 0.0, seed=1)
    table = puzzle_table()
    rng = np.random.default_rng(0)
    answered = wrong_noisy = 0
    for i in rng.choice(len(table), 24, replace=False):
        puzzle = table[i].puzzle
        out = tree_search(prop, puzzle, rng, breadth=5, proposals=10, prm=exact)
        assert out.answer is None or out.correct
        answered += out.answer is not None
        o2 = tree_search(prop, puzzle, rng, breadth=5, proposals=10, prm=noisy)
        wrong_noisy += o2.answer is not None and not o2.correct
    assert answered >= 5                       # it does answer, and correctly
    assert wrong_noisy >= 1                    # a noisy PRM can be fooled: the guarantee is the PRM's


def test_revision_with_an_exact_prm_beats_one_sample():
    prop = RandomStepProposer()
    exact = NoisyProcessVerifier(0.0, 0.0)
    rng = np.random.default_rng(0)
    one = np.mean([single(prop, PUZZLE, rng).correct for _ in range(300)])
    rev = np.mean([revision(prop, PUZZLE, rng, rounds=6, prm=exact).correct for _ in range(300)])
    assert rev > one + 0.08


def test_compute_counters_equal_the_tokens_of_the_text():
    prop = RandomStepProposer(error_rate=0.2)
    rng = np.random.default_rng(0)
    props = prop.extend(PUZZLE, (), 5, rng)
    for q in props:
        # prompt read once, each generated character once, one end marker
        assert q.tokens == len(prompt_text(PUZZLE)) + len(chain_text(PUZZLE, q.steps)) + 1
    out = self_consistency(prop, PUZZLE, np.random.default_rng(5), n=5)
    same = prop.extend(PUZZLE, (), 5, np.random.default_rng(5))
    assert out.tokens == sum(q.tokens for q in same)
    # a one-step continuation reads the prompt and the prefix, then writes one step
    prefix = same[0].steps[:1]
    nxt = prop.extend(PUZZLE, prefix, 1, rng, max_steps=1)[0]
    head = prompt_text(PUZZLE) + chain_text(PUZZLE, prefix) + ";"
    written = chain_text(PUZZLE, nxt.steps)[len(chain_text(PUZZLE, prefix)) + 1:]
    assert nxt.tokens == len(head) + len(written) + 1 == proposal_tokens(PUZZLE, prefix, nxt.steps[1:])


def test_weighted_best_of_n_and_evaluate_rows():
    prop = RandomStepProposer()
    ver = NoisyOutcomeVerifier(0.0, 0.0)
    out = weighted_best_of_n(prop, EASY, np.random.default_rng(0), n=16, verifier=ver)
    assert out.proposals == 16 and out.verifier_calls <= 16
    rows = evaluate("best_of_n", prop, [EASY, PUZZLE], seed=0, n=4, verifier=ver)
    assert [r["knob_value"] for r in rows] == [4, 4] and {"difficulty", "tokens", "correct"} <= set(rows[0])


def test_bad_input_raises_clear_errors():
    prop = RandomStepProposer()
    with pytest.raises(ValueError, match="strategy"):
        run_strategy("beam_me_up", prop, PUZZLE)
    with pytest.raises(ValueError, match="1 to 13"):
        run_strategy("single", prop, (0, 4, 6, 8))
    with pytest.raises(ValueError, match="verifier"):
        best_of_n(prop, PUZZLE, n=3)
    with pytest.raises(ValueError, match="n must be"):
        self_consistency(prop, PUZZLE, n=0)
    with pytest.raises(ValueError, match="false_positive"):
        NoisyOutcomeVerifier(1.5, 0.0)
    with pytest.raises(ValueError, match="probs"):
        majority_vote_accuracy([0.7, 0.6], [True, False], 3)
