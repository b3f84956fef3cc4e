"""The agents lesson's world: oracle, the p^n stand-in, poisoned observations, retries, planner-executor."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.agents import Finish, run_episode
from frontier.reasoning import agent_tasks as at
from frontier.reasoning.theory import wilson_interval

TASKS = at.make_tasks([1, 2, 3, 4], 60, seed=0)


def test_oracle_solves_every_task_in_k_plus_2_steps():
    tools = at.make_tools()
    rows = at.run_tasks(at.oracle_action, TASKS[::10], tools)
    assert all(r["success"] and r["steps_taken"] == r["n_steps"] for r in rows)
    assert all(all(r["step_ok"]) for r in rows)


def test_independent_fatal_errors_follow_p_to_the_n():
    rows = at.run_tasks(at.StochasticPolicy(0.15, seed=1), TASKS, at.make_tools())
    for r in at.success_by_steps(rows):
        lo, hi = wilson_interval(round(r["success"] * r["n"]), r["n"], z=3.3)
        assert lo <= 0.85 ** r["steps"] <= hi, r
    rates = at.step_error_rates(rows, 6)
    assert all(abs(x["error_rate"] - 0.15) < 0.12 for x in rates if x["episodes"] >= 40)


def test_a_wrong_observation_poisons_the_episode_without_a_wrong_action():
    rows = at.run_tasks(at.oracle_action, TASKS, at.make_tools(flaky=0.2, seed=3))
    assert all(all(r["step_ok"]) for r in rows)                    # every action was "right"
    poisoned = [r for r in rows if not all(r["observation_ok"])]
    assert poisoned and all(not r["success"] for r in poisoned)
    assert all(r["success"] for r in rows if all(r["observation_ok"]))


def test_retries_with_a_sql_verifier_recover_independent_tool_faults():
    flaky = at.make_tools(flaky=0.2, seed=4)
    once = np.mean([r["success"] for r in at.run_with_retries(at.oracle_action, TASKS[::3], flaky, retries=0)])
    thrice = np.mean([r["success"] for r in at.run_with_retries(at.oracle_action, TASKS[::3], flaky, retries=2)])
    assert thrice > once + 0.1 and thrice >= 0.85
    t = TASKS[0]
    assert at.verify_with_sql(flaky, t, t.answer) and not at.verify_with_sql(flaky, t, t.answer + 1)


def test_planner_executor_matches_its_closed_form():
    rows = at.run_planner_executor(TASKS, executor_step_error=0.05, planner_error=0.05, seed=0)
    for k in (1, 4):
        rs = [r for r in rows if r["k"] == k]
        lo, hi = wilson_interval(sum(r["success"] for r in rs), len(rs), z=3.3)
        assert lo <= 0.95 ** 2 * 0.95 ** (3 * k) <= hi


def test_compact_text_and_parsing():
    t = at.Task(((3, "apple"), (2, "pear")))
    ep = run_episode(at.oracle_action, at.make_tools(), t.text, max_steps=6)
    assert at.transcript(t.text, ep.trace) == ("Q:3 apple,2 pear\nlookup apple>7\nlookup pear>4\n"
                                                "calc 3*7+2*4>29\nfinish 29>\n")
    assert at.parse_compact("finish 29") == Finish(29)
    assert at.parse_compact("lookup apple").arguments == {"key": "apple"}
    assert type(at.parse_compact("buy apple")).__name__ == "Invalid"


def test_lm_policy_runs_in_the_loop_and_greedy_retries_repeat_themselves():
    import torch

    from frontier.models import TinyLM, TinyLMConfig

    torch.set_num_threads(1)
    model = TinyLM(TinyLMConfig(vocab_size=at._tokenizer().vocab_size, d_model=32, n_layers=1, n_heads=2, d_ff=64,
                                max_seq_len=192))
    policy = at.LMPolicy(model)
    rows = at.run_tasks(policy, TASKS[:2], at.make_tools(), max_steps_extra=0)
    assert all(len(r["trace"]) <= r["n_steps"] for r in rows) and policy.tokens_processed > 0
    a = at.run_tasks(at.LMPolicy(model), TASKS[:2], at.make_tools(), max_steps_extra=0)
    assert [r["trace"] for r in a] == [r["trace"] for r in rows]      # greedy: the same episode every time


def test_bad_input():
    with pytest.raises(ValueError, match="k"):
        at.make_task(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="flaky"):
        at.make_tools(flaky=1.5)
    with pytest.raises(ValueError, match="step_error"):
        at.StochasticPolicy(-0.1)
