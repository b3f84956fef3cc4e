"""The TA workflow for the course's nbgrader assignments, as Python calls and commands.

Command line (run from the repository root; ``--help`` on each)::

    python -m frontier.grading list                         # assignments and their points
    python -m frontier.grading release [ASSIGNMENT ...]     # solutions/ -> assignments/ (make assignments)
    python -m frontier.grading release --check              # exit 1 if assignments/ is stale
    python -m frontier.grading validate [ASSIGNMENT ...]    # solutions pass, blank releases score nothing
    python -m frontier.grading autograde ASSIGNMENT [SUBMISSIONS_DIR]
                                                            # import, autograde, feedback, grades.csv
    python -m frontier.grading feedback ASSIGNMENT          # again, after grading written answers
    python -m frontier.grading export                       # grading/grades.csv
    python -m frontier.grading freeze [--check]             # expected values in hidden tests, from the library

Everything goes through nbgrader's Python API (:class:`nbgrader.apps.NbGraderAPI`,
:class:`nbgrader.validator.Validator`) with the configuration in the course's
``nbgrader_config.py``; docs/ta_guide.md walks through it.

:class:`Course` is the object behind the commands and the grading tests: a
course directory (the repository root or a temporary copy of it) whose
``nbgrader_config.py`` says where everything lives.

Modules, one responsibility each (importing them does not import nbgrader;
the calls that need it do):

* :mod:`~frontier.grading.cells`      which cells are answers, tests and rubrics (the one place that decides)
* :mod:`~frontier.grading.course`     :class:`Course`: the course directory and every nbgrader step on it
* :mod:`~frontier.grading.release`    comparing a generated release with the committed one
* :mod:`~frontier.grading.leaks`      solution, hidden-test and rubric text where students could read it
* :mod:`~frontier.grading.autograde`  submissions nbgrader could not grade count as zero
* :mod:`~frontier.grading.freeze`     expected values written into hidden test cells (``freeze``)
* :mod:`~frontier.grading.sanitize`   the preprocessors ``nbgrader_config.py`` plugs into nbgrader
* :mod:`~frontier.grading.rehearsal`  fake students for dry runs and the grading tests

What the exercises' hidden tests use (case generators, the guard against
delegating to the library) lives in :mod:`frontier.exercises`, not here.
"""
from __future__ import annotations

from .course import Course, GradingError, StudentResult, copy_course, log
from .leaks import find_leaks
from .release import NotebookDiff, compare_releases

__all__ = [
    "Course", "GradingError", "StudentResult", "NotebookDiff",
    "copy_course", "compare_releases", "find_leaks", "log",
]
