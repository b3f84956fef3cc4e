"""Tools described by JSON Schema, and a registry that never lets a bad call crash the caller.

A :class:`Tool` is a name, a description, a JSON Schema for its arguments
(an ``"object"`` schema, as in the function-calling APIs of OpenAI, Anthropic
and Gemini) and a Python function.  :meth:`ToolRegistry.call` validates the
arguments with ``jsonschema`` and returns an :class:`Observation`: either the
tool's result, or a structured :class:`ToolError` that names the offending
field, which the agent loop hands back to the model as its observation::

    reg = ToolRegistry([Tool("add", "Add two numbers.", {
        "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"], "additionalProperties": False}, lambda a, b: a + b)])
    reg.call("add", {"a": 1, "b": "two"})
    # Observation(ok=False, content=None, error=ToolError(kind='invalid_arguments', field='b', ...))

Nothing a model writes can make :meth:`ToolRegistry.call` or
:meth:`ToolRegistry.call_text` raise; mistakes in *registering* a tool (an
empty name, an invalid schema) raise at once, because they are the
programmer's.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

import jsonschema

__all__ = ["Tool", "ToolError", "Observation", "ToolRegistry", "error_field"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class Tool:
    """A callable tool.

    Attributes:
        name: letters, digits, ``_`` or ``-`` (1-64 characters).
        description: one or two sentences for the model.
        parameters: JSON Schema (draft 2020-12) of the keyword arguments; must
            be of ``"type": "object"``.
        fn: called as ``fn(**arguments)`` with validated arguments; its return
            value becomes the observation's ``content`` (keep it JSON-serialisable).
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    fn: Callable[..., Any] = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("tool name must be a non-empty string")
        if not _NAME_RE.match(self.name):
            raise ValueError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        if not isinstance(self.parameters, Mapping) or self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON Schema with \"type\": \"object\"")
        try:
            jsonschema.Draft202012Validator.check_schema(dict(self.parameters))
        except jsonschema.SchemaError as e:
            raise ValueError(f"tool {self.name!r}: invalid parameters schema: {e.message}") from None
        if not callable(self.fn):
            raise TypeError(f"tool {self.name!r}: fn must be callable")

    def spec(self) -> Dict[str, Any]:
        """The description a model sees: ``{"name", "description", "parameters"}``."""
        return {"name": self.name, "description": self.description, "parameters": dict(self.parameters)}


@dataclass(frozen=True)
class ToolError:
    """Why a call failed.

    Attributes:
        kind: ``"malformed_call"`` (not a call at all), ``"unknown_tool"``,
            ``"invalid_arguments"`` (schema violation) or ``"tool_failed"``
            (the tool raised).
        message: a human- and model-readable explanation.
        field: the offending argument as a ``/``-separated path (``"b"``,
            ``"items/2"``), when there is one.
    """

    kind: str
    message: str
    field: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return {"error": self.kind, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Observation:
    """The result of a tool call: ``ok`` and ``content``, or ``error``."""

    ok: bool
    content: Any = None
    error: Optional[ToolError] = None

    def text(self, limit: int = 500) -> str:
        """The observation as the model reads it (JSON for errors), cut to ``limit`` characters."""
        if self.ok:
            c = self.content
            s = c if isinstance(c, str) else json.dumps(c, default=str)
        else:
            s = json.dumps(self.error.as_dict())
        return s if len(s) <= limit else s[: limit - 3] + "..."


def error_field(err: jsonschema.ValidationError, instance: Any = None, schema: Mapping = None) -> Optional[str]:
    """The argument a ``jsonschema`` error is about, as a ``/``-separated path.

    ``required`` and ``additionalProperties`` errors sit on the parent object,
    so their field is read from the error itself (the missing or unexpected key).
    """
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required":
        m = re.match(r"'([^']*)' is a required property", err.message)
        if m:
            path.append(m.group(1))
    elif err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = set((err.schema or {}).get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            path.append(str(extra[0]))
    return "/".join(path) if path else None


class ToolRegistry:
    """A set of tools by name; :meth:`call` validates and runs, never raising."""

    def __init__(self, tools: Iterable[Tool] = ()):
        self._tools: Dict[str, Tool] = {}
        self._validators: Dict[str, jsonschema.Draft202012Validator] = {}
        for t in tools:
            self.register(t)

    def register(self, tool: Tool) -> Tool:
        """Add a tool; ValueError if the name is taken."""
        if not isinstance(tool, Tool):
            raise TypeError(f"tool must be a Tool, got {type(tool).__name__}")
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        self._validators[tool.name] = jsonschema.Draft202012Validator(dict(tool.parameters))
        return tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    @property
    def names(self) -> List[str]:
        return list(self._tools)

    def specs(self) -> List[Dict[str, Any]]:
        """Every tool's :meth:`Tool.spec`, for a model's prompt."""
        return [t.spec() for t in self._tools.values()]

    def validate(self, name: Any, arguments: Any) -> Optional[ToolError]:
        """``None`` if ``name(**arguments)`` is a valid call, else the first error (fields in path order)."""
        if not isinstance(name, str) or not name.strip():
            return ToolError("malformed_call", "the tool name must be a non-empty string", "name")
        if name not in self._tools:
            return ToolError("unknown_tool", f"no tool named {name!r}; available: {', '.join(self.names)}", "name")
        if not isinstance(arguments, Mapping):
            return ToolError("malformed_call", f"arguments must be a JSON object, got {type(arguments).__name__}",
                             "arguments")
        errors = sorted(self._validators[name].iter_errors(dict(arguments)),
                        key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            e = errors[0]
            f = error_field(e)
            where = f"argument {f!r}" if f else "arguments"
            return ToolError("invalid_arguments", f"{where}: {e.message}", f)
        return None

    def call(self, name: Any, arguments: Any = None) -> Observation:
        """Validate and run a call; every failure comes back as ``Observation(ok=False, error=...)``."""
        arguments = {} if arguments is None else arguments
        err = self.validate(name, arguments)
        if err is not None:
            return Observation(False, None, err)
        try:
            return Observation(True, self._tools[name].fn(**dict(arguments)))
        except Exception as e:          # the tool's own failure is an observation, not a crash
            return Observation(False, None, ToolError("tool_failed", f"{type(e).__name__}: {e}"))

    def call_text(self, text: str) -> Observation:
        """Run a call written as JSON, ``{"name": ..., "arguments": {...}}``; malformed JSON is an error too."""
        if not isinstance(text, str):
            return Observation(False, None, ToolError("malformed_call", "a call must be a JSON string"))
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            return Observation(False, None, ToolError("malformed_call", f"not valid JSON: {e.msg} at {e.pos}"))
        if not isinstance(obj, dict) or "name" not in obj:
            return Observation(False, None, ToolError("malformed_call", "expected an object with a 'name'", "name"))
        return self.call(obj.get("name"), obj.get("arguments", {}))
