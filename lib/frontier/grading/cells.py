"""The one place that decides what a cell of an assignment notebook is: an answer, a test, a rubric.

Every other part of :mod:`frontier.grading` (the lint, the points, the fake students, the leak search, the
feedback filter, the frozen expected values) asks these functions instead of reading nbgrader's metadata itself.

========================= ==================================================================================
kind (:func:`cell_kind`)  nbgrader metadata
========================= ==================================================================================
``"answer"``              code cell with ``solution``: the student writes code here (autograded by the tests
                          after it)
``"written"``             markdown cell with ``solution`` (and ``grade``): a written answer, graded by a person
``"test"``                code cell with ``grade`` and without ``solution``: visible and hidden tests
``"rubric"``              read-only cell holding a ``BEGIN MARK SCHEME`` region (the question above a written
                          answer)
``"locked"``              any other read-only cell (setup, data)
``"plain"``               a cell nbgrader does not track
========================= ==================================================================================
"""
from __future__ import annotations

from typing import Dict, List, Tuple

__all__ = ["DELIMITERS", "nbgrader_meta", "cell_kind", "is_answer_cell", "is_code_answer", "is_written_answer",
           "is_test_cell", "is_rubric_cell", "is_graded", "is_autograded", "cell_points", "region_lines",
           "hidden_test_source",
           "FROZEN_BEGIN", "FROZEN_END"]

#: The region markers nbgrader understands (its defaults), by kind.
DELIMITERS: Dict[str, Tuple[str, str]] = {
    "solution": ("BEGIN SOLUTION", "END SOLUTION"),
    "hidden_tests": ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
    "mark_scheme": ("BEGIN MARK SCHEME", "END MARK SCHEME"),
}

#: Markers of the expected values that ``python -m frontier.grading freeze`` writes into hidden test cells.
FROZEN_BEGIN = "# BEGIN FROZEN"
FROZEN_END = "# END FROZEN"


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata (empty dict when it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_answer_cell(cell) -> bool:
    """A cell the student writes in (nbgrader ``solution``), code or markdown."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_code_answer(cell) -> bool:
    """An answer cell with code (autograded by the test cells after it)."""
    return cell.get("cell_type") == "code" and is_answer_cell(cell)


def is_written_answer(cell) -> bool:
    """An answer cell with prose (graded by a person with the rubric above it)."""
    return cell.get("cell_type") == "markdown" and is_answer_cell(cell)


def is_test_cell(cell) -> bool:
    """An autograded test cell (``grade`` but not ``solution``, code)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_rubric_cell(cell) -> bool:
    """A read-only cell (or nbgrader task) that holds a mark-scheme region."""
    meta = nbgrader_meta(cell)
    return (bool(meta.get("locked")) or bool(meta.get("task"))) and DELIMITERS["mark_scheme"][0] in cell.get("source", "")


def is_graded(cell) -> bool:
    """A cell that carries points (a test, a written answer or a task)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) or bool(meta.get("task"))


def is_autograded(cell) -> bool:
    """A graded cell whose points a test earns (not a written answer, not a task)."""
    meta = nbgrader_meta(cell)
    return is_graded(cell) and cell.get("cell_type") == "code" and not meta.get("solution") and not meta.get("task")


def cell_points(cell) -> float:
    """Points of a graded cell (0 for any other)."""
    return float(nbgrader_meta(cell).get("points", 0) or 0) if is_graded(cell) else 0.0


def cell_kind(cell) -> str:
    """One of ``answer``, ``written``, ``test``, ``rubric``, ``locked``, ``plain`` (see the module table)."""
    if is_code_answer(cell):
        return "answer"
    if is_written_answer(cell):
        return "written"
    if is_test_cell(cell):
        return "test"
    if is_rubric_cell(cell):
        return "rubric"
    if nbgrader_meta(cell).get("locked"):
        return "locked"
    return "plain"


def hidden_test_source(cell) -> str:
    """The lines inside the hidden-test regions of a cell (empty when it has none)."""
    begin, end = DELIMITERS["hidden_tests"]
    out, inside = [], False
    for line in cell.get("source", "").split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return "\n".join(out)


def region_lines(nb, kind: str, min_length: int = 12, skip_frozen: bool = False) -> List[str]:
    """The distinctive lines inside ``kind`` regions of a notebook (``kind`` in :data:`DELIMITERS`).

    Lines shorter than ``min_length`` characters after stripping (``pass``,
    ``)``, blank lines) are left out: they are not evidence of a leak. With
    ``skip_frozen``, lines of frozen expected values are left out too: a
    hidden test's failure message quotes the case that failed, on purpose.
    """
    if kind not in DELIMITERS:
        raise ValueError(f"kind must be one of {sorted(DELIMITERS)}, got {kind!r}")
    begin, end = DELIMITERS[kind]
    lines: List[str] = []
    for cell in nb.cells:
        inside = frozen = False
        for line in cell.source.split("\n"):
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif FROZEN_BEGIN in line:
                frozen = True
            elif line.strip() == FROZEN_END:
                frozen = False
            elif inside and len(line.strip()) >= min_length and not (skip_frozen and frozen):
                lines.append(line.strip())
    return lines
