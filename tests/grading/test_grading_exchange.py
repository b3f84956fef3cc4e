"""The exchange round trip on one machine: release, fetch, submit, collect, autograde, feedback, fetch feedback.

The instructor side goes through NbGraderAPI (what the formgrader uses); the
students' side through nbgrader's exchange classes (what ``nbgrader fetch_assignment``
and ``nbgrader submit`` run), each student with a home directory of their own.
The exchange root is a temporary directory. The exchange works the same for every assignment, so the round trip
runs for one (the test budget, tests/grading/conftest.py).
"""
from __future__ import annotations

import nbformat
import pytest
from traitlets.config import Config

from frontier.grading import Course, copy_course, find_leaks
from frontier.grading.rehearsal import make_submission
from frontier.notebooks import REPO_ROOT

pytestmark = [pytest.mark.slow,
              # nbgrader's API misspells a keyword when releasing feedback; harmless
              pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")]


def _run_student_step(course, exchange, home, student, assignment, step):
    """Run one exchange step (FetchAssignment, Submit, FetchFeedback) as ``student`` working in ``home``."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    cfg = Config()
    cfg.CourseDirectory.course_id = course.course_id
    cfg.CourseDirectory.student_id = student
    cfg.CourseDirectory.assignment_id = assignment
    cfg.CourseDirectory.root = str(home)
    cfg.Exchange.root = str(exchange)
    cfg.Exchange.assignment_dir = str(home)
    cfg.Exchange.cache = str(home / ".nbgrader_cache")  # never the real ~/.local/share/jupyter
    home.mkdir(parents=True, exist_ok=True)
    app = getattr(ExchangeFactory(config=cfg), step)(
        coursedir=CourseDirectory(config=cfg), authenticator=Authenticator(config=cfg), config=cfg)
    return app.start()


def test_exchange_round_trip(tmp_path):
    assignment = Course(REPO_ROOT).assignments()[0]
    exchange, homes = tmp_path / "exchange", tmp_path / "home"
    fresh_course = copy_course(REPO_ROOT, tmp_path / "course", assignments=[assignment])
    course = fresh_course.with_overrides({"Exchange": {"root": str(exchange)}})
    api = course.api()

    course.generate(assignment)
    assert api.release_assignment(assignment)["success"]
    assert assignment in course.api().get_released_assignments()

    students = {"ada": "solution"}  # the fake-student batch covers other kinds; one keeps this test quick
    for student, kind in students.items():
        _run_student_step(course, exchange, homes / student, student, assignment, "FetchAssignment")
        for path in (homes / student / assignment).glob("*.ipynb"):
            src = nbformat.read(course.source_notebooks(assignment)[0].parent / path.name, as_version=4)
            nbformat.write(make_submission(kind, src, nbformat.read(path, as_version=4)), path)
        _run_student_step(course, exchange, homes / student, student, assignment, "Submit")

    assert api.collect(assignment)["success"]
    assert course.submitted_students(assignment) == sorted(students)

    results = course.autograde(assignment)
    assert results["ada"].ok and results["ada"].auto_score == results["ada"].max_auto_score > 0
    assert course.feedback(assignment) == {}
    assert api.release_feedback(assignment)["success"]

    for student in students:
        _run_student_step(course, exchange, homes / student, student, assignment, "FetchFeedback")
        fetched = list((homes / student / assignment / "feedback").rglob("*.html"))
        assert len(fetched) == len(course.source_notebooks(assignment)), student
        assert find_leaks(course, assignment, fetched, kinds=("hidden_tests", "mark_scheme")) == []
