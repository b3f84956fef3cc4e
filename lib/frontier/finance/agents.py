"""Financial tools for the agent loop, multi-step questions with and without tools, and multi-agent reliability.

* :func:`financial_tools` a :class:`~frontier.agents.ToolRegistry` with a ratio calculator, period-over-period
  growth, portfolio weights and a read-only SQL tool (JSON schemas, validated with ``jsonschema``)
* :func:`reasoning_questions` multi-step quantitative questions over the database with known answers and step
  counts (a look-up is one step; every further look-up or calculation adds one)
* :func:`tool_policy` a scripted ReAct policy that answers them with the tools through
  :func:`frontier.agents.run_episode` (each step checked by the tool, so the answer is exact or an error)
* :func:`pipeline_success` research -> analysis -> execution: three agents run with
  :func:`~frontier.agents.run_episode`, each making a wrong move with a given probability (an injected fault, a
  stand-in for a model's error rate); the measured end-to-end success is compared with the product of the
  per-agent success rates

The scripted policies are not language models: they make the loop, the tools and the arithmetic of compounding
errors concrete and measurable.  Section 2 trains real (tiny) policies.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..agents import Action, Finish, Tool, ToolRegistry, run_episode
from ..validation import fraction, positive_int
from .database import COLUMNS
from .sql import execute_safely

__all__ = ["financial_tools", "ReasoningQuestion", "reasoning_questions", "tool_policy", "answer_with_tools",
           "pipeline_success"]

_NUM = {"type": "number"}


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        raise ValueError("denominator is zero")
    return numerator / denominator


def _growth(current: float, previous: float) -> float:
    if previous == 0:
        raise ValueError("previous value is zero: growth is undefined")
    return 100.0 * (current - previous) / abs(previous)


def _weights(values: List[float]) -> List[float]:
    total = float(sum(values))
    if total <= 0:
        raise ValueError("values must have a positive sum")
    return [v / total for v in values]


def financial_tools(db_path: Union[str, os.PathLike]) -> ToolRegistry:
    """Tools over the database at ``db_path``: ``ratio``, ``growth`` (percent), ``weights``, ``sql``."""
    path = str(db_path)

    def run_sql(query: str) -> Dict[str, Any]:
        return execute_safely(path, query, max_rows=50).as_dict()

    return ToolRegistry([
        Tool("ratio", "Divide numerator by denominator (e.g. net income / revenue for the net margin).",
             {"type": "object", "properties": {"numerator": _NUM, "denominator": _NUM},
              "required": ["numerator", "denominator"], "additionalProperties": False}, _ratio),
        Tool("growth", "Percentage change from previous to current: 100 * (current - previous) / |previous|.",
             {"type": "object", "properties": {"current": _NUM, "previous": _NUM},
              "required": ["current", "previous"], "additionalProperties": False}, _growth),
        Tool("weights", "Portfolio weights proportional to the values (they sum to 1).",
             {"type": "object", "properties": {"values": {"type": "array", "items": _NUM, "minItems": 1}},
              "required": ["values"], "additionalProperties": False}, _weights),
        Tool("sql", "Run one read-only SELECT on the finance database; returns ok, columns, rows, error.",
             {"type": "object", "properties": {"query": {"type": "string", "minLength": 1}},
              "required": ["query"], "additionalProperties": False}, run_sql),
    ])


@dataclass(frozen=True)
class ReasoningQuestion:
    """A multi-step question: ``text``, ``answer`` (float), ``steps`` (look-ups + calculations), and ``plan``, the
    tool calls that solve it (``[(tool, arguments or a template)]``, see :func:`tool_policy`)."""

    text: str
    answer: float
    steps: int
    plan: Tuple[Tuple[str, Any], ...]


def _lookup_sql(metric: str, company: str, period: str) -> str:
    table, col = COLUMNS[metric]
    return (f"SELECT s.{col} FROM {table} s JOIN companies c ON s.company_id = c.company_id JOIN periods p "
            f"ON s.period_id = p.period_id WHERE c.name = '{company}' AND p.label = '{period}'")


def reasoning_questions(corpus, n: int = 40, *, seed: int = 0) -> List[ReasoningQuestion]:
    """``n`` questions with 1 to 4 steps over ``corpus`` (the one the database was written from):
    a figure (1 step), growth between two quarters (3), a margin (3), portfolio weights by revenue of two
    companies, the first weight (4)."""
    n = positive_int("n", n)
    rng = np.random.default_rng(seed)
    names = [c.name for c in corpus.companies]
    periods = [p.label for p in corpus.periods]
    out = []
    for i in range(n):
        kind = i % 4
        c = names[int(rng.integers(len(names)))]
        p = int(rng.integers(1, len(periods)))
        if kind == 0:
            m = list(COLUMNS)[int(rng.integers(len(COLUMNS)))]
            v = float(corpus.fact(corpus.company(c).ticker, m, periods[p]).value)
            out.append(ReasoningQuestion(f"What was {c}'s {m} in {periods[p]}?", v, 1,
                                         (("sql", _lookup_sql(m, c, periods[p])),)))
        elif kind == 1:
            t = corpus.company(c).ticker
            cur, prev = (float(corpus.fact(t, "revenue", q).value) for q in (periods[p], periods[p - 1]))
            out.append(ReasoningQuestion(f"By how many percent did {c}'s revenue grow from {periods[p - 1]} to "
                                         f"{periods[p]}?", _growth(cur, prev), 3,
                                         (("sql", _lookup_sql("revenue", c, periods[p])),
                                          ("sql", _lookup_sql("revenue", c, periods[p - 1])), ("growth", None))))
        elif kind == 2:
            t = corpus.company(c).ticker
            ni, rev = (float(corpus.fact(t, m, periods[p]).value) for m in ("net income", "revenue"))
            out.append(ReasoningQuestion(f"What was {c}'s net margin in {periods[p]}?", _ratio(ni, rev), 3,
                                         (("sql", _lookup_sql("net income", c, periods[p])),
                                          ("sql", _lookup_sql("revenue", c, periods[p])), ("ratio", None))))
        else:
            d = names[(names.index(c) + 1 + int(rng.integers(len(names) - 1))) % len(names)]
            a, b = (float(corpus.fact(corpus.company(x).ticker, "revenue", periods[p]).value) for x in (c, d))
            out.append(ReasoningQuestion(f"Weighting {c} and {d} by revenue in {periods[p]}, what weight does "
                                         f"{c} get?", a / (a + b), 4,
                                         (("sql", _lookup_sql("revenue", c, periods[p])),
                                          ("sql", _lookup_sql("revenue", d, periods[p])), ("weights", None),
                                          ("pick", 0))))
    return out


def tool_policy(question: ReasoningQuestion, *, error_rate: float = 0.0, rng: Optional[np.random.Generator] = None):
    """A scripted ReAct policy that follows ``question.plan``; with probability ``error_rate`` per step it sends a
    malformed call instead (the tool returns a structured error and the policy retries the step)."""
    error_rate = fraction("error_rate", error_rate)
    rng = rng if rng is not None else np.random.default_rng(0)
    state = {"k": 0, "values": []}

    def policy(task, trace):
        if trace and trace[-1]["ok"] and trace[-1]["action"] != "finish":
            obs = trace[-1]["observation"]
            state["values"].append(_parse(obs))
            state["k"] += 1
        plan = question.plan
        while state["k"] < len(plan) and plan[state["k"]][0] == "pick":
            state["values"].append(state["values"][-1][plan[state["k"]][1]])
            state["k"] += 1
        if state["k"] >= len(plan):
            return Finish(state["values"][-1], "done")
        tool, arg = plan[state["k"]]
        if rng.random() < error_rate:
            return Action(tool, {"bogus": 1}, "a slip")
        if tool == "sql":
            return Action("sql", {"query": arg}, "look the figure up")
        v = state["values"]
        if tool == "growth":
            return Action("growth", {"current": v[0], "previous": v[1]}, "percentage change")
        if tool == "ratio":
            return Action("ratio", {"numerator": v[0], "denominator": v[1]}, "divide")
        return Action("weights", {"values": v[:2]}, "normalise")
    return policy


def _parse(obs: str):
    import ast
    import json
    try:
        val = json.loads(obs)
    except (ValueError, TypeError):
        try:
            val = ast.literal_eval(obs)
        except (ValueError, SyntaxError):
            return obs
    if isinstance(val, dict) and "rows" in val:
        return float(val["rows"][0][0]) if val.get("ok") and val["rows"] else math.nan
    return val


def answer_with_tools(question: ReasoningQuestion, tools: ToolRegistry, *, error_rate: float = 0.0, seed: int = 0,
                      max_steps: int = 12):
    """Run :func:`tool_policy` through :func:`frontier.agents.run_episode`; returns the episode."""
    pol = tool_policy(question, error_rate=error_rate, rng=np.random.default_rng(seed))
    return run_episode(pol, tools, question.text, max_steps=max_steps, observation_limit=10_000)


def pipeline_success(error_rates: Sequence[float], *, trials: int = 200, seed: int = 0,
                     max_steps: int = 1) -> Dict[str, float]:
    """Measured end-to-end success of a chain of agents against the product of per-agent success rates.

    Each agent is one :func:`~frontier.agents.run_episode` with a ``max_steps`` budget whose policy, with
    probability ``error_rates[i]`` per step, calls a tool with invalid arguments (so the step fails) and
    otherwise finishes with the value handed on; the chain succeeds when every agent finishes.  With
    ``max_steps = 1`` an agent's success rate is ``1 - p``; a larger budget lets it retry.
    """
    rates = [fraction("error rate", p) for p in error_rates]
    if not rates:
        raise ValueError("error_rates must name at least one agent")
    trials, max_steps = positive_int("trials", trials), positive_int("max_steps", max_steps)
    rng = np.random.default_rng(seed)
    reg = ToolRegistry([Tool("hand_on", "Pass a value to the next agent.",
                             {"type": "object", "properties": {"value": _NUM}, "required": ["value"],
                              "additionalProperties": False}, lambda value: value)])
    ok = 0
    for _ in range(trials):
        value, alive = 1.0, True
        for p in rates:
            def policy(task, trace, p=p, value=value):
                if rng.random() < p:
                    return Action("hand_on", {"value": "not a number"}, "a slip")
                return Finish(value, "hand on")
            ep = run_episode(policy, reg, "stage", max_steps=max_steps)
            if not ep.finished:
                alive = False
                break
            value = ep.answer
        ok += alive
    predicted = float(np.prod([1 - (p ** max_steps) for p in rates]))
    return {"measured": ok / trials, "predicted": predicted, "trials": float(trials)}
