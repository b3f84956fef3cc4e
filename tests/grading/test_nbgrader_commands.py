"""nbgrader's own commands on a fresh copy of the course, as its documentation says to run them.

A TA who follows the nbgrader docs runs ``nbgrader generate_assignment``, ``autograde``, ``generate_feedback`` and
``export`` from the repository root with the environment's ``bin`` on PATH, on a clone that has no ``grading/``
yet. The course configuration must create what nbgrader needs (it used to fail with "error accessing the nbgrader
database" and delete the committed student notebook). One assignment: the commands are the same for all of them
(the test budget, tests/grading/conftest.py).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from frontier.grading import Course, copy_course, find_leaks
from frontier.grading.rehearsal import make_submission
from frontier.notebooks import REPO_ROOT

pytestmark = pytest.mark.slow


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("NBGRADER_EXCHANGE_ROOT", None)
    return subprocess.run([str(bindir / "nbgrader"), *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_plain_nbgrader_commands_work_on_a_fresh_copy(tmp_path):
    assignment = Course(REPO_ROOT).assignments()[0]
    course = copy_course(REPO_ROOT, tmp_path / "course", assignments=[assignment])
    root = course.root
    assert not (root / "grading").exists()
    committed = {p.name: p.read_text(encoding="utf-8") for p in course.release_notebooks(assignment)}

    # exactly as the docs say: the committed release exists, so nbgrader keeps it and records the assignment
    run = _nbgrader(root, "generate_assignment", assignment)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "error accessing the nbgrader database" not in run.stdout + run.stderr
    assert {p.name for p in course.release_notebooks(assignment)} == set(committed), "the student notebook is gone"
    run = _nbgrader(root, "generate_assignment", assignment, "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    released = {p.name: p.read_text(encoding="utf-8") for p in course.release_notebooks(assignment)}
    assert released == committed, "nbgrader's generate_assignment must give the committed release back, byte for byte"

    src = course.source_notebooks(assignment)[0]
    dest = course.submitted_dir(assignment, "ada")
    dest.mkdir(parents=True)
    nbformat.write(make_submission("solution", nbformat.read(src, as_version=4),
                                   nbformat.read(course.release_dir(assignment) / src.name, as_version=4)),
                   dest / src.name)

    run = _nbgrader(root, "autograde", assignment, "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    run = _nbgrader(root, "generate_feedback", assignment, "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    grades = tmp_path / "grades.csv"
    run = _nbgrader(root, "export", "--to", str(grades))
    assert run.returncode == 0, run.stdout + run.stderr

    with open(grades, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["student_id"] == "ada" and r["assignment"] == assignment]
    auto = course.points(assignment)["auto"]
    assert len(rows) == 1 and float(rows[0]["score"]) == pytest.approx(auto), rows
    feedback = list(course.feedback_dir(assignment, "ada").glob("*.html"))
    assert len(feedback) == 1
    assert find_leaks(course, assignment, feedback, kinds=("hidden_tests", "mark_scheme"),
                      allowed=course.visible_text(assignment, "ada"), skip_frozen=True) == []
