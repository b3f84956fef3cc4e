"""Fake students, autograded as a TA would: scores, contained failures, feedback that keeps hidden tests hidden.

One batch per assignment (the ``graded`` fixture, in a private copy of the course, shared by the grading tests):
the solution, the blank release and the students who game the assignment (frontier.exercises: delegating to the
library, hard-coding numbers, looping where a parallel scan is asked for) on every assignment; the robustness
students (tampered, looping, crash, warns, corrupt; frontier.grading.rehearsal) on one.
"""
from __future__ import annotations

import csv

import nbformat
import pytest

from frontier.grading import Course, find_leaks
from frontier.grading.rehearsal import gaming_students, is_test_cell
from frontier.grading.sanitize import DELIMITERS, HIDDEN_TESTS_NOTE

pytestmark = pytest.mark.slow


def _autograded(graded, student):
    course, a = graded.course, graded.assignment
    return [nbformat.read(p, as_version=4) for p in sorted(course.autograded_dir(a, student).glob("*.ipynb"))]


def _auto_cells(graded, student):
    return {k: v for k, v in graded.course.cell_scores(graded.assignment, student).items() if v["auto"]}


def _errors(graded, student):
    return [o for nb in _autograded(graded, student) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_every_fake_student_scores_as_expected(graded):
    assert {"solution", "blank"} <= set(graded.results)
    assert graded.problems == []


def test_solution_gets_every_autograded_point(graded):
    r = graded.results["solution"]
    assert r.ok and r.auto_score == r.max_auto_score > 0
    for gid, cell in _auto_cells(graded, "solution").items():
        assert cell["score"] == cell["max_score"], gid
    # written answers are left for a person
    assert r.needs_manual_grade


def test_unanswered_release_gets_zero(graded):
    r = graded.results["blank"]
    assert r.ok and r.score == 0
    assert not r.needs_manual_grade, "unchanged written answers are scored zero automatically"
    # and no test cell with code passes unanswered (what `validate` checks on the release)
    for gid, cell in _auto_cells(graded, "blank").items():
        assert cell["score"] == 0, gid


def test_gaming_students_score_what_a_ta_would_give(graded):
    specs = gaming_students(graded.assignment)
    if not specs:
        pytest.skip(f"{graded.assignment} has no gaming students in frontier.exercises")
    for kind, spec in specs.items():
        r = graded.results[kind]
        assert r.ok, (kind, r.error)
        assert r.auto_score == spec["auto_score"], f"{kind}: {r.auto_score:g} points, a TA gives {spec['auto_score']:g}: {spec['ta']}"


def test_a_delegating_student_is_told_why(graded):
    if "delegates" not in graded.results:
        pytest.skip(f"{graded.assignment} has no delegating student")
    errors = _errors(graded, "delegates")
    assert any(o.get("ename") == "DelegationError" for o in errors), {o.get("ename") for o in errors}
    html = "".join(f.read_text(encoding="utf-8")
                   for f in graded.course.feedback_dir(graded.assignment, "delegates").glob("*.html"))
    assert "from the course library" in html and "DelegationError" in html


def test_tests_replaced_by_pass_are_restored_and_score_zero(graded, needs):
    r = needs("tampered")
    assert r.ok and r.auto_score == 0
    sources = {c.metadata.nbgrader["grade_id"]: c.source
               for p in graded.course.source_notebooks(graded.assignment)
               for c in nbformat.read(p, as_version=4).cells if is_test_cell(c)}
    for nb in _autograded(graded, "tampered"):
        for cell in nb.cells:
            if is_test_cell(cell):
                assert cell.source == sources[cell.metadata.nbgrader["grade_id"]], "test cell not restored"


def test_infinite_loop_is_stopped_by_the_timeout_and_scored(graded, needs):
    r = needs("looping")
    assert r.ok, r.error
    assert r.auto_score < r.max_auto_score
    errors = _errors(graded, "looping")
    assert any("Timeout" in o.get("ename", "") or "KeyboardInterrupt" in o.get("ename", "") for o in errors), \
        [o.get("ename") for o in errors]
    # the cells after the loop still ran
    last_test = [c for nb in _autograded(graded, "looping") for c in nb.cells if is_test_cell(c)][-1]
    assert last_test.get("execution_count") is not None


def test_raising_at_import_scores_zero(graded, needs):
    r = needs("crash")
    assert r.ok and r.auto_score == 0
    assert "ModuleNotFoundError" in {o.get("ename") for o in _errors(graded, "crash")}


def test_harmless_warnings_do_not_cost_points(graded, needs):
    r = needs("warns")
    assert r.ok and r.auto_score == r.max_auto_score
    for nb in _autograded(graded, "warns"):
        for cell in nb.cells:
            if is_test_cell(cell):
                assert not any(o.get("name") == "stderr" for o in cell.get("outputs", [])), cell.source[:80]


def test_an_unreadable_submission_fails_alone_and_scores_zero(graded, needs):
    r = needs("corrupt")
    assert not r.ok and r.score == 0
    assert all(graded.results[s].ok for s in graded.results if s != "corrupt"), "the batch must go on"


def test_grades_csv_has_every_student(graded):
    with open(graded.grades, newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == graded.assignment}
    assert set(rows) == set(graded.results)
    for student, r in graded.results.items():
        assert float(rows[student]["score"]) == pytest.approx(r.score)
        assert float(rows[student]["max_score"]) == pytest.approx(r.max_score)
    assert float(rows["solution"]["score"]) == graded.results["solution"].max_auto_score


def test_feedback_for_every_graded_submission_without_hidden_tests_or_rubrics(graded):
    course, a = graded.course, graded.assignment
    assert graded.feedback_errors == {}
    for student, r in graded.results.items():
        files = list(course.feedback_dir(a, student).glob("*.html"))
        if not r.ok:
            continue
        assert len(files) == len(course.source_notebooks(a)), student
        assert find_leaks(course, a, files, kinds=("hidden_tests", "mark_scheme"),
                          allowed=course.visible_text(a, student), skip_frozen=True) == [], student
        text = "".join(f.read_text(encoding="utf-8") for f in files)
        for begin, end in (DELIMITERS["hidden_tests"], DELIMITERS["mark_scheme"]):
            assert begin not in text and end not in text
        if any(DELIMITERS["hidden_tests"][0] in c.source for p in course.source_notebooks(a)
               for c in nbformat.read(p, as_version=4).cells):
            assert HIDDEN_TESTS_NOTE in text


def test_nbgrader_default_feedback_would_reveal_hidden_tests(graded):
    """The control: without our preprocessor nbgrader's feedback quotes hidden tests, our check sees it,
    and Course.feedback deletes such files instead of handing them out."""
    from nbgrader.converters import GenerateFeedback

    a = graded.assignment
    defaults = GenerateFeedback.class_traits()["preprocessors"].default()
    plain = Course(graded.course.root, overrides={
        "GenerateFeedback": {"preprocessors": defaults},
        "CourseDirectory": {"feedback_directory": "grading/feedback_unfiltered"}})
    if not any(DELIMITERS["hidden_tests"][0] in c.source for p in plain.source_notebooks(a)
               for c in nbformat.read(p, as_version=4).cells):
        pytest.skip("this assignment has no hidden tests")
    assert plain.api().generate_feedback(a, "blank")["success"]
    files = list(plain.feedback_dir(a, "blank").glob("*.html"))
    assert files and find_leaks(plain, a, files, kinds=("hidden_tests",))
    errors = plain.feedback(a, ["blank"])
    assert "quoted hidden material" in errors.get("blank", "")
    assert not list(plain.feedback_dir(a, "blank").glob("*.html"))
