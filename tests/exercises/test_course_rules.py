"""Rules of the assignments as the course ships them: no lesson points to solutions/, every assignment says what
students may call, and the frozen expected values match the library (`python -m frontier.grading freeze --check`)."""
from __future__ import annotations

import nbformat
import pytest

from frontier.exercises import ASSIGNMENTS, assignment_module
from frontier.grading import Course
from frontier.notebooks import REPO_ROOT


def test_no_lesson_names_the_solutions_folder():
    hits = [f"{p.relative_to(REPO_ROOT)} cell {i}" for p in sorted((REPO_ROOT / "course").rglob("*.ipynb"))
            for i, c in enumerate(nbformat.read(p, as_version=4).cells) if "solutions/" in c.source]
    assert hits == [], "lessons must not point students to the worked solutions"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_assignment_states_what_students_may_call(assignment):
    release = Course(REPO_ROOT).release_notebooks(assignment)
    text = "\n".join(c.source for p in release for c in nbformat.read(p, as_version=4).cells)
    assert "What you may call" in text
    for module in assignment_module(assignment).LIBRARY_FORBIDDEN:
        if not module.startswith("frontier.exercises") and module.count(".") >= 2 and "kernels" not in module \
                and "mixer_timing" not in module:
            assert f"`{module}`" in text or module.rsplit(".", 1)[0] in text, module


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_frozen_values_are_up_to_date(assignment):
    from frontier.grading.freeze import freeze_assignment

    changes, unused = freeze_assignment(Course(REPO_ROOT), assignment, check=True)
    assert changes == {}, (f"the library and the frozen expected values of {assignment} drifted apart: run "
                           f"`python -m frontier.grading freeze {assignment}` and `make assignments` "
                           f"(and check that the library change is right): {changes}")
    assert unused == []


def test_freeze_rewrites_a_region_and_reports_drift():
    from frontier.grading.freeze import freeze_source, frozen_names

    src = "x = 1\n# BEGIN FROZEN _A\n_A = 'stale'\n# END FROZEN\nassert _A"
    out, changed = freeze_source(src, {"_A": [1, 2]})
    assert changed == ["_A"] and "_A = [1, 2]" in out and frozen_names(out) == ["_A"]
    assert freeze_source(out, {"_A": [1, 2]}) == (out, [])
    with pytest.raises(KeyError, match="_A"):
        freeze_source(src, {})
    with pytest.raises(ValueError, match="END FROZEN"):
        freeze_source("# BEGIN FROZEN _A\n_A = 1", {"_A": 1})
