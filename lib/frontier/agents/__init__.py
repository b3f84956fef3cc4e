"""Shared agent tooling: JSON-schema tools, the ReAct loop, a sandboxed code tool, safe SQL.

* :mod:`frontier.agents.tools`    :class:`Tool`, :class:`ToolRegistry` (arguments validated with ``jsonschema``;
  a bad call returns a structured :class:`ToolError` naming the field, never an exception)
* :mod:`frontier.agents.loop`     the ReAct loop (:func:`run_episode`) with a step budget and traces as rows
* :mod:`frontier.agents.sandbox`  :func:`run_python_expression`: one expression in a subprocess with CPU,
  memory and file-size limits, no network, no file access
* :mod:`frontier.agents.sql`      :func:`execute_safely`: one read-only SELECT over known tables, parsed with
  ``sqlglot``, a ``mode=ro`` connection, a query budget and a row cap; returns :class:`SQLResult`

Used by section 2 (reasoning: agents lesson) and section 8 (finance).  A shared module: it imports no
course section (``tests/test_layering.py``).
"""
from .loop import Action, Episode, Finish, Invalid, format_action, parse_action, run_episode
from .sandbox import CodeResult, run_python_expression
from .sql import SQLResult, check_sql, connect_readonly, execute_safely
from .tools import Observation, Tool, ToolError, ToolRegistry

__all__ = ["Action", "Episode", "Finish", "Invalid", "format_action", "parse_action", "run_episode", "CodeResult",
           "run_python_expression", "SQLResult", "check_sql", "connect_readonly", "execute_safely", "Observation",
           "Tool", "ToolError", "ToolRegistry"]
