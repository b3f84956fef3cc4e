"""The ReAct loop: thought -> action -> observation, with a step budget and a readable trace.

A *policy* looks at the task and the trace so far and returns its next move:
an :class:`Action` (call a tool), a :class:`Finish` (give the answer), or
plain text, which :func:`parse_action` turns into one of those (or into an
:class:`Invalid` when it cannot).  The loop runs the action through a
:class:`~frontier.agents.tools.ToolRegistry`, appends the observation, and
repeats until the policy finishes or the budget of ``max_steps`` actions is
spent.  Nothing the policy writes can raise out of the loop: malformed output
and failed calls become observations the policy can react to (retry).

Text form of an action (what a language-model policy writes)::

    Thought: I need the price of apples
    Action: lookup {"key": "apple"}
    Action: finish {"answer": 29}

Every step is one row of :attr:`Episode.trace` (a dict: ``step``,
``thought``, ``action``, ``arguments``, ``observation``, ``ok``, ``error``),
so an episode prints as a table.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Sequence, Union

from ..validation import positive_int
from .tools import Observation, ToolError, ToolRegistry

__all__ = ["Action", "Finish", "Invalid", "Episode", "parse_action", "format_action", "run_episode", "Policy",
           "FINISH"]

FINISH = "finish"


@dataclass(frozen=True)
class Action:
    """Call tool ``name`` with ``arguments``."""

    name: str
    arguments: Mapping[str, Any]
    thought: str = ""


@dataclass(frozen=True)
class Finish:
    """Stop and answer."""

    answer: Any
    thought: str = ""


@dataclass(frozen=True)
class Invalid:
    """Policy output that is neither an action nor a finish."""

    text: str
    reason: str
    thought: str = ""


Move = Union[Action, Finish, Invalid]
#: ``policy(task, trace) -> Action | Finish | str``; ``trace`` is the list of rows so far.
Policy = Callable[[str, Sequence[Dict[str, Any]]], Union[Action, Finish, Invalid, str]]

_ACTION_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*(\{.*\})?\s*$", re.S)


def parse_action(text: str) -> Move:
    """Read ``"Thought: ...\\nAction: name {json}"`` (the thought line is optional).

    ``finish {"answer": x}`` gives :class:`Finish`; anything unreadable gives
    :class:`Invalid` with the reason.  Never raises.
    """
    if not isinstance(text, str):
        return Invalid(repr(text), f"expected text, got {type(text).__name__}")
    thought = ""
    m = re.search(r"Thought:\s*(.*?)\s*(?:\n|$)", text)
    if m:
        thought = m.group(1)
    a = re.search(r"Action:\s*(.*)$", text, re.S)
    body = a.group(1).strip() if a else text.strip()
    m = _ACTION_RE.match(body)
    if not m:
        return Invalid(text, "expected 'name {json arguments}'", thought)
    name, raw = m.group(1), m.group(2) or "{}"
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as e:
        return Invalid(text, f"arguments are not valid JSON ({e.msg})", thought)
    if not isinstance(args, dict):
        return Invalid(text, "arguments must be a JSON object", thought)
    if name == FINISH:
        if "answer" not in args:
            return Invalid(text, "finish needs an 'answer'", thought)
        return Finish(args["answer"], thought)
    return Action(name, args, thought)


def format_action(move: Union[Action, Finish]) -> str:
    """The text form :func:`parse_action` reads (compact JSON, no thought)."""
    if isinstance(move, Finish):
        return f"{FINISH} {json.dumps({'answer': move.answer}, separators=(',', ':'))}"
    return f"{move.name} {json.dumps(dict(move.arguments), separators=(',', ':'))}"


@dataclass
class Episode:
    """One run of the loop.

    Attributes:
        task: the task text.
        answer: the final answer (``None`` if the policy never finished).
        finished: the policy gave an answer within the budget.
        stop_reason: ``"finished"`` or ``"budget"``.
        steps: actions taken (the finish counts as one).
        trace: one dict per step (see the module docstring).
    """

    task: str
    answer: Any = None
    finished: bool = False
    stop_reason: str = "budget"
    steps: int = 0
    trace: List[Dict[str, Any]] = field(default_factory=list)

    def table(self):
        """The trace as a ``pandas.DataFrame`` (pandas imported on demand)."""
        import pandas as pd

        return pd.DataFrame(self.trace, columns=["step", "thought", "action", "arguments", "observation", "ok",
                                                 "error"])


def run_episode(policy: Policy, tools: ToolRegistry, task: str, *, max_steps: int = 8,
                observation_limit: int = 500) -> Episode:
    """Run the ReAct loop until the policy finishes or ``max_steps`` actions have been taken.

    Args:
        policy: ``policy(task, trace) -> Action | Finish | str`` (text is parsed
            with :func:`parse_action`).  An exception raised *by the policy*
            is a programming error and propagates.
        tools: the registry the actions call.
        task: the task text.
        max_steps: the step budget (every action, invalid ones included, costs one).
        observation_limit: observations are cut to this many characters.

    Returns:
        An :class:`Episode`; ``stop_reason == "budget"`` when it ran out of steps.
    """
    max_steps = positive_int("max_steps", max_steps)
    if not isinstance(tools, ToolRegistry):
        raise TypeError(f"tools must be a ToolRegistry, got {type(tools).__name__}")
    ep = Episode(task=task)
    for step in range(1, max_steps + 1):
        move = policy(task, list(ep.trace))
        if isinstance(move, str):
            move = parse_action(move)
        ep.steps = step
        if isinstance(move, Finish):
            ep.trace.append(dict(step=step, thought=move.thought, action=FINISH,
                                 arguments=json.dumps({"answer": move.answer}, default=str),
                                 observation="", ok=True, error=None))
            ep.answer, ep.finished, ep.stop_reason = move.answer, True, "finished"
            return ep
        if isinstance(move, Invalid):
            obs = Observation(False, None, ToolError("malformed_call", move.reason))
            name, args = "?", move.text
        elif isinstance(move, Action):
            obs = tools.call(move.name, move.arguments)
            name, args = move.name, json.dumps(dict(move.arguments), default=str)
        else:
            raise TypeError(f"policy returned {type(move).__name__}; expected Action, Finish, Invalid or str")
        ep.trace.append(dict(step=step, thought=move.thought, action=name, arguments=args,
                             observation=obs.text(observation_limit), ok=obs.ok,
                             error=None if obs.error is None else obs.error.kind))
    return ep
