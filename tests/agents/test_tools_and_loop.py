"""JSON-schema tools and the ReAct loop."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.agents import (Action, Finish, Invalid, Tool, ToolRegistry, format_action, parse_action,
                             run_episode)

ADD = Tool("add", "Add two numbers.", {
    "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
    "required": ["a", "b"], "additionalProperties": False}, lambda a, b: a + b)
LOOKUP = Tool("lookup", "Price of an item.", {
    "type": "object", "properties": {"key": {"type": "string", "enum": ["apple", "pear"]}},
    "required": ["key"], "additionalProperties": False}, lambda key: {"apple": 7, "pear": 4}[key])
NESTED = Tool("basket", "Total of a basket.", {
    "type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}, "required": ["qty"]}}},
    "required": ["items"]}, lambda items: sum(i["qty"] for i in items))
BOOM = Tool("boom", "Always fails.", {"type": "object", "properties": {}}, lambda: 1 / 0)


@pytest.fixture
def reg():
    return ToolRegistry([ADD, LOOKUP, NESTED, BOOM])


@pytest.mark.parametrize("name, args, field, kind", [
    ("add", {"a": 1, "b": "two"}, "b", "invalid_arguments"),             # wrong type
    ("add", {"a": 1}, "b", "invalid_arguments"),                         # missing
    ("add", {"a": 1, "b": 2, "c": 3}, "c", "invalid_arguments"),         # not in the schema
    ("lookup", {"key": "banana"}, "key", "invalid_arguments"),           # outside the enum
    ("basket", {"items": [{"qty": 2}, {"qty": 0}]}, "items/1/qty", "invalid_arguments"),   # nested
    ("basket", {"items": [{"qty": 2}, {}]}, "items/1/qty", "invalid_arguments"),           # nested, missing
    ("nope", {}, "name", "unknown_tool"),
    ("", {}, "name", "malformed_call"),
    ("add", [1, 2], "arguments", "malformed_call"),
])
def test_schema_invalid_calls_are_rejected_with_the_field_named(reg, name, args, field, kind):
    obs = reg.call(name, args)
    assert not obs.ok and obs.content is None
    assert obs.error.kind == kind
    assert obs.error.field == field
    if kind == "invalid_arguments":
        assert repr(field) in obs.error.message or field.split("/")[-1] in obs.error.message


def test_valid_calls_run_and_tool_failures_are_observations(reg):
    assert reg.call("add", {"a": 2, "b": 3.5}).content == 5.5
    assert reg.call("basket", {"items": [{"qty": 2}, {"qty": 3}]}).content == 5
    obs = reg.call("boom", {})
    assert not obs.ok and obs.error.kind == "tool_failed" and "ZeroDivisionError" in obs.error.message
    assert reg.call_text('{"name": "add", "arguments": {"a": 1, "b": 2}}').content == 3
    bad = reg.call_text('{"name": "add", "arguments": {"a": 1, "b": 2')
    assert bad.error.kind == "malformed_call" and "JSON" in bad.error.message


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.text(max_size=30), st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)),
                 st.integers(), st.none()))
def test_nothing_a_model_writes_raises(text):
    reg = ToolRegistry([ADD, LOOKUP])
    if isinstance(text, str):
        reg.call_text(text)
        parse_action(text)
    reg.call("add", text)
    reg.call(text if isinstance(text, str) else "add", {"a": text, "b": 1})


def test_bad_tool_definitions_raise_at_once():
    with pytest.raises(ValueError, match="name"):
        Tool("", "empty", {"type": "object"}, lambda: 0)
    with pytest.raises(ValueError, match="name"):
        Tool("has space", "x", {"type": "object"}, lambda: 0)
    with pytest.raises(ValueError, match="object"):
        Tool("t", "x", {"type": "string"}, lambda: 0)
    with pytest.raises(ValueError, match="schema"):
        Tool("t", "x", {"type": "object", "properties": {"a": {"type": "no-such-type"}}}, lambda a: 0)
    with pytest.raises(ValueError, match="already"):
        ToolRegistry([ADD, ADD])


def test_parse_and_format_actions_round_trip():
    a = Action("add", {"a": 1, "b": 2})
    assert parse_action(format_action(a)) == a
    assert parse_action("Thought: done\nAction: finish {\"answer\": 29}") == Finish(29, "done")
    assert isinstance(parse_action("add {a: 1}"), Invalid)
    assert isinstance(parse_action("finish {}"), Invalid)
    assert isinstance(parse_action("!!"), Invalid)


def test_loop_stops_at_its_step_budget(reg):
    calls = itertools.count()

    def stubborn(task, trace):
        next(calls)
        return Action("add", {"a": 1, "b": 1})

    ep = run_episode(stubborn, reg, "never finishes", max_steps=5)
    assert ep.stop_reason == "budget" and not ep.finished and ep.answer is None
    assert ep.steps == 5 and len(ep.trace) == 5 and next(calls) == 5


def test_loop_runs_a_react_episode_and_recovers_from_errors(reg):
    script = iter([
        "Thought: look up apples\nAction: lookup {\"key\": \"apples\"}",      # schema error: enum
        "Thought: fix the key\nAction: lookup {\"key\": \"apple\"}",
        "Action: add {\"a\": 7, \"b\": 4}",
        "I think it is 11",
        "Action: finish {\"answer\": 11}",
    ])
    ep = run_episode(lambda task, trace: next(script), reg, "apple + pear", max_steps=8)
    assert ep.finished and ep.answer == 11 and ep.steps == 5
    assert [r["ok"] for r in ep.trace] == [False, True, True, False, True]
    assert ep.trace[0]["error"] == "invalid_arguments" and "key" in ep.trace[0]["observation"]
    assert ep.trace[1]["observation"] == "7"
    assert ep.trace[3]["error"] == "malformed_call"
    df = ep.table()
    assert list(df.columns)[:3] == ["step", "thought", "action"] and len(df) == 5


def test_loop_bad_input(reg):
    with pytest.raises(ValueError, match="max_steps"):
        run_episode(lambda t, h: Finish(1), reg, "x", max_steps=0)
    with pytest.raises(TypeError, match="tools"):
        run_episode(lambda t, h: Finish(1), {"add": ADD}, "x")
