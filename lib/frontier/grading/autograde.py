"""What autograding does when nbgrader fails on a submission: summarise the failure, score it zero."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:                       # annotations only: course.py imports nbgrader
    from .course import Course

__all__ = ["summarise_failure", "ensure_zero_submission"]


def summarise_failure(result: Mapping) -> str:
    text = (result.get("log", "") + "\n" + (result.get("error") or "")).strip()
    lines = [l for l in text.splitlines() if "[ERROR]" in l or "Error" in l]
    return (lines[0] if lines else text.splitlines()[-1] if text else "unknown error")[:300]


def ensure_zero_submission(course: Course, assignment: str, student: str) -> None:
    """Make a submission that nbgrader could not autograde count as zero, not as missing."""
    from nbgrader.api import Gradebook, MissingEntry

    from .course import _quiet_nbgrader

    with _quiet_nbgrader(), Gradebook(course.db_url, course.course_id) as gb:
        try:
            gb.find_student(student)
        except MissingEntry:
            gb.add_student(student)
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            gb.add_submission(assignment, student)


