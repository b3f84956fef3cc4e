"""Fixtures for the grading tests.

Every assignment under ``solutions/`` is tested (``assignment`` is
parametrised over them, so Exercises 2-5 are picked up when they appear).
Nothing is shared with the repository's own ``grading/``: each fixture works
in a temporary copy of the course.

The test budget (tests/conftest.py, area ``grading``) allows about a minute
per assignment of nbgrader round trips, so the expensive work is shared:

* :func:`graded` autogrades one batch of fake students per assignment, once per
  session, in one course copy; every test that needs a graded submission, a
  regenerated release or feedback reads that batch;
* the robustness students (tampered, looping, crash, warns, corrupt) exercise
  nbgrader's pipeline, which is the same for every assignment, so they run on
  :data:`ROBUSTNESS_ASSIGNMENT` only; every assignment gets the solution, the
  blank release and its own gaming students (frontier.exercises);
* the exchange round trip and the plain ``nbgrader`` commands run for one
  assignment.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from frontier.grading import Course, copy_course
from frontier.notebooks import REPO_ROOT, colab_badge

ASSIGNMENTS = Course(REPO_ROOT).assignments()
#: The assignment whose batch also holds the robustness students.
ROBUSTNESS_ASSIGNMENT = ASSIGNMENTS[0] if ASSIGNMENTS else None
ROBUSTNESS_KINDS = ("tampered", "looping", "crash", "warns", "corrupt")

#: Per-cell timeout for the batch of fake students (the looping one costs this much).
LOOP_TIMEOUT = 10

_GRADED: dict = {}


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", ASSIGNMENTS, scope="module")


@pytest.fixture(scope="session")
def repo_course() -> Course:
    """The repository's own course (read only in these tests)."""
    return Course(REPO_ROOT)


@pytest.fixture
def fresh_course(tmp_path, assignment) -> Course:
    """A private copy of the course with just ``assignment`` (solutions and committed release)."""
    return copy_course(REPO_ROOT, tmp_path / "course", assignments=[assignment])


def batch_kinds(assignment: str) -> list:
    """The fake students graded for ``assignment`` in the shared batch (see the module docstring)."""
    from frontier.grading.rehearsal import gaming_kinds

    kinds = ["solution", "blank", *gaming_kinds(assignment)]
    if assignment == ROBUSTNESS_ASSIGNMENT:
        kinds += list(ROBUSTNESS_KINDS)
    return kinds


@pytest.fixture(scope="module")
def graded(tmp_path_factory, assignment):
    """The fake students of ``assignment`` autograded, with feedback and grades.csv, in a private copy.

    Made once per session and assignment (several test modules read it); the copy's release was regenerated
    from ``solutions/`` by the rehearsal, so it also serves the release tests.
    """
    from frontier.grading.rehearsal import rehearse

    if assignment not in _GRADED:
        _GRADED[assignment] = rehearse(REPO_ROOT, assignment, tmp_path_factory.mktemp(f"rehearse-{assignment}"),
                                       timeout=LOOP_TIMEOUT, kinds=batch_kinds(assignment))
    return _GRADED[assignment]


@pytest.fixture
def needs(graded):
    """``needs(kind)``: the result of fake student ``kind``, or skip (robustness students run on one assignment)."""
    def _needs(kind: str):
        if kind not in graded.results:
            pytest.skip(f"the {kind} student runs on {ROBUSTNESS_ASSIGNMENT} only (test budget, "
                        f"tests/grading/conftest.py)")
        return graded.results[kind]
    return _needs


# -- a toy assignment, for fast tests that need a course but not a real exercise ----------

def _nbg(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def toy_notebook():
    """A small, valid source notebook following every convention the lint checks."""
    cells = [
        new_markdown_cell(f"# Toy\n\n{colab_badge('assignments/toy/toy.ipynb')}"),
        new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=_nbg("answer", solution=True)),
        new_code_cell("assert double(2) == 4, 'double(2) should be 4'", metadata=_nbg("test-visible", grade=True,
                                                                                     locked=True, points=1)),
        new_code_cell("# hidden\n### BEGIN HIDDEN TESTS\nassert double(21) == 42, 'secret case'\n"
                      "### END HIDDEN TESTS", metadata=_nbg("test-hidden", grade=True, locked=True, points=2)),
        new_markdown_cell("Why?\n<!-- BEGIN MARK SCHEME -->\nOne point for saying it doubles things.\n"
                          "<!-- END MARK SCHEME -->", metadata=_nbg("question", locked=True)),
        new_markdown_cell("<!-- BEGIN SOLUTION -->\nBecause it multiplies by two.\n<!-- END SOLUTION -->",
                          metadata=_nbg("written", grade=True, solution=True, points=1)),
    ]
    for i, c in enumerate(cells):
        c["id"] = f"toy-{i}"
    nb = new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


@pytest.fixture
def toy_course(tmp_path) -> Course:
    """A course with only the toy assignment (source written, no release yet)."""
    root = tmp_path / "toy_course"
    (root / "solutions" / "toy").mkdir(parents=True)
    (root / "assignments").mkdir()
    shutil.copy2(Path(REPO_ROOT) / "nbgrader_config.py", root / "nbgrader_config.py")
    nbformat.write(toy_notebook(), root / "solutions" / "toy" / "toy.ipynb")
    return Course(root)
