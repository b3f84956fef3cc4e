"""Fake students: submissions that exercise the grading pipeline, for tests and dry runs.

Each builder takes the instructor's source notebook and the generated
release, and returns what a particular kind of student would hand in.  The
grading tests submit all of them for every assignment; an author can do the
same before releasing a new assignment::

    python -m frontier.grading rehearse ex2_context_cost

========== ============================================================ ==========================
student    submission                                                   expected autograded score
========== ============================================================ ==========================
solution   the release with the instructor's solutions filled in        every autograded point
blank      the release, unanswered                                      zero
tampered   the release with every test cell replaced by ``pass``        zero (tests are restored)
looping    the solution, but its first answer cell never ends           stopped by the timeout, scored
crash      the solution, but every answer cell fails to import          zero
warns      the solution, but every cell prints a Python warning         every autograded point
corrupt    a file that is not a notebook                                zero; the batch goes on
========== ============================================================ ==========================

Each assignment with a support module in :mod:`frontier.exercises` adds students who game it, with the
autograded score a TA would give (``gaming_students()`` there): ``delegates`` (calls the course library instead of
writing the functions), ``hardcodes`` (returns the published or visible numbers) and, for Exercise 5,
``sequential`` (a "parallel" scan that loops over positions). :func:`gaming_kinds` lists them.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional

from .cells import DELIMITERS, is_answer_cell, is_code_answer, is_test_cell, nbgrader_meta

__all__ = ["FAKE_STUDENTS", "gaming_students", "gaming_kinds", "make_submission", "write_submissions", "is_answer_cell", "is_test_cell",
           "LOOP_LINE", "CRASH_LINE", "WARN_SOURCE", "check_expectations", "Rehearsal", "rehearse"]

#: Inserted at the top of the first answer cell of the ``looping`` student.
LOOP_LINE = "while True:  # a student's infinite loop\n    pass\n"
#: Inserted at the top of every answer code cell of the ``crash`` student.
CRASH_LINE = "import a_module_that_does_not_exist_anywhere  # fails at import\n"
#: Appended to the first answer cell of the ``warns`` student: every later cell writes a warning to stderr.
WARN_SOURCE = (
    "\n\nimport warnings as _warnings\n"
    "_warnings.simplefilter('always', UserWarning)\n"
    "get_ipython().events.register(\n"
    "    'pre_run_cell', lambda *_: _warnings.warn('a harmless warning from student code', UserWarning))\n"
)


_nbg = nbgrader_meta


def _answers(source_nb) -> Dict[str, str]:
    """``{grade_id: what a student who knew the solution would write}``."""
    begin, end = DELIMITERS["solution"]
    out = {}
    for cell in source_nb.cells:
        if is_answer_cell(cell):
            lines = [l for l in cell.source.split("\n") if begin not in l and end not in l]
            out[_nbg(cell)["grade_id"]] = "\n".join(lines)
    return out


def _solution(source_nb, release_nb):
    nb = copy.deepcopy(release_nb)
    answers = _answers(source_nb)
    for cell in nb.cells:
        if is_answer_cell(cell):
            cell.source = answers[_nbg(cell)["grade_id"]]
    return nb


def _blank(source_nb, release_nb):
    return copy.deepcopy(release_nb)


def _tampered(source_nb, release_nb):
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        if is_test_cell(cell):
            cell.source = "pass"
    return nb


def _answer_code_cells(nb) -> list:
    return [c for c in nb.cells if is_code_answer(c)]


def _looping(source_nb, release_nb):
    nb = _solution(source_nb, release_nb)
    cells = _answer_code_cells(nb)
    if cells:
        cells[0].source = LOOP_LINE + cells[0].source
    return nb


def _crash(source_nb, release_nb):
    nb = _solution(source_nb, release_nb)
    for cell in _answer_code_cells(nb):
        cell.source = CRASH_LINE + cell.source
    return nb


def _warns(source_nb, release_nb):
    nb = _solution(source_nb, release_nb)
    cells = _answer_code_cells(nb)
    if cells:
        cells[0].source = cells[0].source + WARN_SOURCE
    return nb


#: name -> builder(source_nb, release_nb) -> notebook (``corrupt`` writes bytes instead).
FAKE_STUDENTS: Dict[str, Optional[Callable]] = {
    "solution": _solution,
    "blank": _blank,
    "tampered": _tampered,
    "looping": _looping,
    "crash": _crash,
    "warns": _warns,
    "corrupt": None,
}


def gaming_students(assignment: Optional[str]) -> Dict[str, Dict[str, object]]:
    """``{kind: {"answers", "auto_score", "ta"}}`` of the students who game ``assignment`` (empty if none)."""
    from ..exercises import ASSIGNMENTS, assignment_module

    if assignment is None or assignment not in ASSIGNMENTS:
        return {}
    return assignment_module(assignment).gaming_students()


def gaming_kinds(assignment: Optional[str]) -> List[str]:
    """The kinds of gaming students ``assignment`` has (see :func:`gaming_students`)."""
    return list(gaming_students(assignment))


def make_submission(kind: str, source_nb, release_nb, assignment: Optional[str] = None):
    """The notebook a ``kind`` student hands in (see the table in the module docstring).

    Gaming kinds need ``assignment``: they are the solution with some answer cells replaced.
    """
    gaming = gaming_students(assignment)
    if kind in gaming:
        nb = _solution(source_nb, release_nb)
        answers = gaming[kind]["answers"]
        found = set()
        for cell in nb.cells:
            gid = _nbg(cell).get("grade_id")
            if is_answer_cell(cell) and gid in answers:
                cell.source = answers[gid]
                found.add(gid)
        missing = sorted(set(answers) - found)
        if missing:
            raise ValueError(f"{kind} student of {assignment}: no answer cells {missing} in the release")
        return nb
    if kind not in FAKE_STUDENTS or FAKE_STUDENTS[kind] is None:
        raise ValueError(f"kind must be one of {[k for k, v in FAKE_STUDENTS.items() if v] + list(gaming)}, "
                         f"got {kind!r}")
    return FAKE_STUDENTS[kind](source_nb, release_nb)


def write_submissions(course, assignment: str, folder: str | os.PathLike,
                      kinds: Optional[List[str]] = None) -> List[str]:
    """Write one folder per fake student (``folder/<kind>/<notebook>.ipynb``); returns the student ids.

    ``course`` is a :class:`~frontier.grading.Course` whose release of
    ``assignment`` exists.
    """
    import nbformat

    folder = Path(folder)
    kinds = list(kinds or [*FAKE_STUDENTS, *gaming_kinds(assignment)])
    releases = {p.name: p for p in course.release_notebooks(assignment)}
    for kind in kinds:
        dest = folder / kind
        dest.mkdir(parents=True, exist_ok=True)
        for src in course.source_notebooks(assignment):
            if kind == "corrupt":
                (dest / src.name).write_text('{"cells": [ this is not JSON', encoding="utf-8")
                continue
            nb = make_submission(kind, nbformat.read(src, as_version=4),
                                 nbformat.read(releases[src.name], as_version=4), assignment)
            nbformat.write(nb, dest / src.name)
    return kinds


def check_expectations(results: Mapping[str, object], assignment: Optional[str] = None) -> List[str]:
    """What went wrong with the fake students' scores (empty: everything as expected).

    ``results`` maps student kind to :class:`~frontier.grading.StudentResult`; with ``assignment``, its gaming
    students must score exactly what a TA would give (:func:`gaming_students`).
    """
    problems: List[str] = []

    def expect(kind, cond, what):
        if kind in results and not cond(results[kind]):
            r = results[kind]
            problems.append(f"{kind}: expected {what}; got auto {r.auto_score:g}/{r.max_auto_score:g}, "
                            f"written {r.written_score:g}, ok={r.ok} {r.error}")

    expect("solution", lambda r: r.ok and r.max_auto_score > 0 and r.auto_score == r.max_auto_score,
           "every autograded point")
    expect("blank", lambda r: r.ok and r.score == 0, "zero")
    expect("tampered", lambda r: r.ok and r.score == 0, "zero (test cells restored from the source)")
    expect("looping", lambda r: r.ok and r.auto_score < r.max_auto_score, "stopped by the timeout and scored")
    expect("crash", lambda r: r.ok and r.score == 0, "zero")
    expect("warns", lambda r: r.ok and r.auto_score == r.max_auto_score, "every autograded point despite warnings")
    expect("corrupt", lambda r: not r.ok and r.score == 0, "a failure scored zero")
    for kind, spec in gaming_students(assignment).items():
        want = float(spec["auto_score"])
        expect(kind, lambda r, want=want: r.ok and r.auto_score == want, f"{want:g} autograded points ({spec['ta']})")
    return problems


@dataclass
class Rehearsal:
    """The outcome of :func:`rehearse`: the course copy, each fake student's result, and what went wrong."""

    course: object
    assignment: str
    results: Dict[str, object]
    feedback_errors: Dict[str, str]
    grades: Path
    problems: List[str] = field(default_factory=list)


def rehearse(root: str | os.PathLike, assignment: str, workdir: str | os.PathLike, timeout: int = 15,
             kinds: Optional[List[str]] = None) -> Rehearsal:
    """Grade every fake student of ``assignment`` in a fresh copy of the course under ``workdir``.

    The copy has its own gradebook, so nothing of the real ``grading/`` is
    touched.  ``timeout`` is the per-cell limit (seconds); the ``looping``
    student costs that much.  Checks scores (:func:`check_expectations`) and
    that no feedback quotes hidden tests or rubrics.
    """
    from . import copy_course, find_leaks

    workdir = Path(workdir)
    course = copy_course(root, workdir / "course", assignments=[assignment])
    course = course.with_overrides({"Execute": {"timeout": int(timeout)}})
    course.generate(assignment)
    kinds = write_submissions(course, assignment, workdir / "inbox", kinds)
    students = course.import_submissions(assignment, workdir / "inbox")
    results = course.autograde(assignment, students)
    feedback_errors = course.feedback(assignment, [s for s in students if results[s].ok])
    grades = course.export_grades(workdir / "grades.csv")
    problems = check_expectations(results, assignment)
    for s, err in feedback_errors.items():
        problems.append(f"{s}: feedback: {err}")
    for s in students:
        if results[s].ok:
            files = list(course.feedback_dir(assignment, s).glob("*.html"))
            if not files:
                problems.append(f"{s}: no feedback generated")
            problems += [f"{s}: feedback leaks {leak}" for leak in
                         find_leaks(course, assignment, files, kinds=("hidden_tests", "mark_scheme"),
                                    allowed=course.visible_text(assignment, s), skip_frozen=True)]
    return Rehearsal(course, assignment, results, feedback_errors, grades, problems)
