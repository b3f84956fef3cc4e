"""The TA commands end to end on the toy assignment: autograde a folder, regenerate feedback, export grades."""
from __future__ import annotations

import csv

import nbformat
import pytest

from frontier.grading.__main__ import main
from frontier.grading.rehearsal import make_submission

pytestmark = pytest.mark.slow


def test_autograde_command_grades_a_folder_and_survives_bad_entries(toy_course, tmp_path, capsys):
    root = str(toy_course.root)
    assert main(["--root", root, "release", "toy"]) == 0
    src = nbformat.read(toy_course.source_notebooks("toy")[0], as_version=4)
    rel = nbformat.read(toy_course.release_notebooks("toy")[0], as_version=4)
    inbox = tmp_path / "inbox"
    (inbox / "ada").mkdir(parents=True)
    nbformat.write(make_submission("solution", src, rel), inbox / "ada" / "toy.ipynb")
    nbformat.write(make_submission("blank", src, rel), inbox / "bob.ipynb")
    (inbox / "cy").mkdir()  # an empty folder: nothing submitted

    status = main(["--root", root, "autograde", "toy", str(inbox), "--timeout", "30"])
    out = capsys.readouterr().out
    assert status == 2, out  # one failure, reported, not fatal
    assert "imported 3 submission(s)" in out
    assert "FAILED" in out.split("cy", 1)[1].splitlines()[0]

    with open(toy_course.root / "grading" / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["ada"]["score"]) == 3.0 and float(rows["ada"]["max_score"]) == 4.0
    assert float(rows["bob"]["score"]) == 0.0 and float(rows["cy"]["score"]) == 0.0
    assert (toy_course.feedback_dir("toy", "ada") / "toy.html").is_file()
    html = (toy_course.feedback_dir("toy", "ada") / "toy.html").read_text()
    assert "secret case" not in html and "doubles things" not in html

    # after grading by hand, feedback and grades are regenerated; export works on its own too
    assert main(["--root", root, "feedback", "toy", "--student", "ada"]) == 0
    assert main(["--root", root, "export", "--grades", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text().count("\n") == 4  # header + 3 students
