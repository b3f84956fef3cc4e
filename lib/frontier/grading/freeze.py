"""``python -m frontier.grading freeze``: write the expected values of hidden tests into the cells themselves.

A hidden test that calls the course library for its expected value ships the answer key with the course: a
student can call the same function. Instead each assignment's support module
(``frontier.exercises.<assignment>.frozen_values()``) computes the values from the library, and this command
writes them, as Python literals, between markers in the source notebooks' cells::

    # BEGIN FROZEN _ATTENTION_CASES (python -m frontier.grading freeze; do not edit by hand)
    _ATTENTION_CASES = [...]
    # END FROZEN

``freeze --check`` (and tests/exercises) fails when the library and the frozen values have drifted apart: then
the library changed what it computes, and either the change or the exercise is wrong. Run ``freeze`` and then
``make assignments`` to take the change.
"""
from __future__ import annotations

import pprint
import re
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from .cells import FROZEN_BEGIN, FROZEN_END

__all__ = ["frozen_names", "render_frozen", "freeze_source", "freeze_notebook", "freeze_assignment"]

_BEGIN = re.compile(rf"^(?P<indent>[ \t]*){re.escape(FROZEN_BEGIN)} (?P<name>[A-Za-z_][A-Za-z0-9_]*)\b.*$")
_NOTE = "(python -m frontier.grading freeze; do not edit by hand)"


def render_frozen(name: str, value: object, indent: str = "") -> str:
    """The lines of one frozen region: begin marker, ``name = <literal>``, end marker."""
    literal = pprint.pformat(value, width=116 - len(indent) - len(name) - 3, compact=True, sort_dicts=False)
    body = f"{name} = " + literal.replace("\n", "\n" + " " * (len(name) + 3))
    lines = [f"{FROZEN_BEGIN} {name} {_NOTE}", *body.split("\n"), FROZEN_END]
    return "\n".join(indent + line for line in lines)


def frozen_names(source: str) -> List[str]:
    """Names of the frozen regions in a cell's source, in order."""
    return [m.group("name") for line in source.split("\n") for m in [_BEGIN.match(line)] if m]


def freeze_source(source: str, values: Mapping[str, object]) -> Tuple[str, List[str]]:
    """``source`` with every frozen region rewritten from ``values``; also the names whose text changed.

    Raises ``KeyError`` for a region whose name ``values`` lacks and ``ValueError`` for an unclosed region.
    """
    out: List[str] = []
    changed: List[str] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        m = _BEGIN.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        name, indent = m.group("name"), m.group("indent")
        j = i + 1
        while j < len(lines) and lines[j].strip() != FROZEN_END:
            if _BEGIN.match(lines[j]):
                raise ValueError(f"frozen region {name!r} is not closed before the next one")
            j += 1
        if j == len(lines):
            raise ValueError(f"frozen region {name!r} has no {FROZEN_END!r} line")
        if name not in values:
            raise KeyError(f"no frozen value named {name!r} (the support module offers {sorted(values)})")
        new = render_frozen(name, values[name], indent)
        if new != "\n".join(lines[i:j + 1]):
            changed.append(name)
        out.append(new)
        i = j + 1
    return "\n".join(out), changed


def freeze_notebook(path: str | Path, values: Mapping[str, object], check: bool = False) -> Dict[str, List[str]]:
    """Rewrite the frozen regions of one notebook (unless ``check``); ``{cell id: changed names}``."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changes: Dict[str, List[str]] = {}
    for cell in nb.cells:
        if FROZEN_BEGIN not in cell.source:
            continue
        cell.source, changed = freeze_source(cell.source, values)
        if changed:
            changes[cell.get("id", "?")] = changed
    if changes and not check:
        nbformat.write(nb, path)
    return changes


def freeze_assignment(course, assignment: str, check: bool = False) -> Tuple[Dict[str, Dict[str, List[str]]],
                                                                             List[str]]:
    """Freeze every source notebook of ``assignment``.

    Returns ``({notebook name: {cell id: changed names}}, unused)`` where ``unused`` lists values of the support
    module that no cell uses. An assignment without a support module in :mod:`frontier.exercises` has nothing to
    freeze.
    """
    from ..exercises import ASSIGNMENTS, assignment_module

    if assignment not in ASSIGNMENTS:
        return {}, []
    values = assignment_module(assignment).frozen_values()
    used = set()
    out: Dict[str, Dict[str, List[str]]] = {}
    import nbformat

    for path in course.source_notebooks(assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            used.update(frozen_names(cell.source))
        changes = freeze_notebook(path, values, check=check)
        if changes:
            out[path.name] = changes
    return out, sorted(set(values) - used)
