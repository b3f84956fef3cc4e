"""Fast tests of the grading helpers: region stripping, release normalisation, feedback hiding,
leak detection, release comparison, metadata lint, importing submissions (no kernels run here)."""
from __future__ import annotations

import copy
import re
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from frontier.grading import Course, compare_releases, find_leaks
from frontier.grading.sanitize import (HIDDEN_TESTS_NOTE, WARNING_PATTERN, HideHiddenTests, normalize_notebook,
                                       region_lines, strip_regions)


# -- regions -----------------------------------------------------------------------------

def test_strip_regions_removes_markers_and_keeps_the_rest():
    src = "a = 1\n    ### BEGIN HIDDEN TESTS\n    assert secret\n    ### END HIDDEN TESTS\nb = 2"
    out, found = strip_regions(src, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "# hidden")
    assert found and out == "a = 1\n    # hidden\nb = 2"
    out, found = strip_regions("plain", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    assert (out, found) == ("plain", False)


@pytest.mark.parametrize("src, msg", [
    ("BEGIN X\nBEGIN X\nEND X", "nested"),
    ("BEGIN X\nno end", "not closed"),
    ("END X", "without"),
])
def test_strip_regions_rejects_malformed_regions(src, msg):
    with pytest.raises(ValueError, match=msg):
        strip_regions(src, "BEGIN X", "END X")


def test_region_lines_skips_short_lines():
    nb = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nreturn the_long_answer_here\npass\n### END SOLUTION")])
    assert region_lines(nb, "solution") == ["return the_long_answer_here"]
    with pytest.raises(ValueError, match="kind must be one of"):
        region_lines(nb, "answers")


# -- warnings on stderr --------------------------------------------------------------------

def test_warning_pattern_matches_python_warnings_only():
    proc = subprocess.run([sys.executable, "-c", "import warnings; warnings.warn('careful', UserWarning);"
                           "import numpy as np; np.log(np.zeros(1))"], capture_output=True, text=True)
    assert re.search(WARNING_PATTERN, proc.stderr), proc.stderr
    assert "RuntimeWarning" in proc.stderr
    assert not re.search(WARNING_PATTERN, "Traceback (most recent call last):\nValueError: bad\n")
    assert not re.search(WARNING_PATTERN, "something went wrong\n")


# -- release normalisation -----------------------------------------------------------------

def test_normalize_notebook_strips_volatile_parts_and_keeps_ids():
    cell = new_code_cell("x = 1", metadata={"tags": ["parameters"], "execution": {"iopub.status.idle": "2026-01-01"}, "scrolled": True,
                                           "nbgrader": {"grade": False}})
    cell["id"] = "keep-me"
    cell.outputs = [new_output("stream", name="stdout", text="1")]
    cell.execution_count = 3
    twin = new_code_cell("y = 2")
    kernel = {"name": "python3", "display_name": "Python 3"}
    nb = new_notebook(cells=[cell, twin])
    nb.cells[1]["id"] = "keep-me"  # a duplicate id: must be made unique
    nb.metadata.update(widgets={}, papermill={}, kernelspec=kernel,
                       language_info={"name": "python", "version": "3.11.7"})
    normalize_notebook(nb)
    assert nb.metadata == {"kernelspec": kernel, "language_info": {"name": "python"}}
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert set(nb.cells[0].metadata) == {"tags", "nbgrader"}
    assert nb.cells[0]["id"] == "keep-me" and nb.cells[1]["id"] != "keep-me"
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)


# -- feedback -------------------------------------------------------------------------------

def test_hide_hidden_tests_drops_source_rubrics_and_tracebacks():
    test = new_code_cell("# visible part\n### BEGIN HIDDEN TESTS\nassert f(3) == 9, 'f(3) should be 9'\n"
                         "### END HIDDEN TESTS")
    test.outputs = [new_output("error", ename="AssertionError", evalue="f(3) should be 9",
                               traceback=["----> 3 assert f(3) == 9, 'f(3) should be 9'"])]
    visible = new_code_cell("assert g() == 1")
    visible.outputs = [new_output("error", ename="AssertionError", evalue="", traceback=["----> 1 assert g() == 1"])]
    rubric = nbformat.v4.new_markdown_cell("Question?\n<!-- BEGIN MARK SCHEME -->\nsecret rubric\n"
                                           "<!-- END MARK SCHEME -->")
    nb = new_notebook(cells=[test, visible, rubric])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    assert "assert f(3)" not in nb.cells[0].source and HIDDEN_TESTS_NOTE in nb.cells[0].source
    assert nb.cells[0].outputs[0].traceback[0] == "AssertionError: f(3) should be 9"
    assert not any("assert f(3)" in line for line in nb.cells[0].outputs[0].traceback)
    assert nb.cells[1].outputs[0].traceback == ["----> 1 assert g() == 1"]  # visible tests keep theirs
    assert nb.cells[2].source == "Question?"


def test_hide_hidden_tests_is_enabled_when_registered():
    # nbconvert preprocessors are disabled by default; ours must run when nbgrader registers them
    assert HideHiddenTests().enabled


# -- leaks and release comparison --------------------------------------------------------

def test_find_leaks_in_notebooks_and_rendered_html(toy_course, tmp_path):
    clean = tmp_path / "clean.html"
    clean.write_text("<p>Why?</p><pre>assert double(2) == 4</pre>")
    leaky_html = tmp_path / "leaky.html"
    leaky_html.write_text("<p><strong>One point</strong> for saying it doubles things.</p>")
    leaky_nb = tmp_path / "leaky.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1\nassert double(21) == 42, 'secret case'")]), leaky_nb)
    assert find_leaks(toy_course, "toy", [clean]) == []
    assert find_leaks(toy_course, "toy", [leaky_html], kinds=("mark_scheme",))
    assert any("double(21)" in leak for leak in find_leaks(toy_course, "toy", [leaky_nb]))
    assert find_leaks(toy_course, "toy", [leaky_nb], kinds=("solution",)) == []
    # a line the student wrote themselves (or that the release shows) is no secret
    assert find_leaks(toy_course, "toy", [leaky_nb], allowed=["assert double(21) == 42, 'secret case'"]) == []


def test_compare_releases_reports_changed_missing_and_extra(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.cells[0]["id"] = "c0"
    nbformat.write(nb, a / "one.ipynb")
    nbformat.write(nb, b / "one.ipynb")
    executed = copy.deepcopy(nb)
    executed.cells[0].outputs = [new_output("stream", name="stdout", text="x")]
    nbformat.write(executed, b / "one.ipynb")
    assert compare_releases(a, b) == []  # outputs are not compared
    changed = copy.deepcopy(nb)
    changed.cells[0].source = "x = 2"
    nbformat.write(changed, b / "one.ipynb")
    nbformat.write(nb, a / "two.ipynb")
    diffs = {d.notebook: d.problems for d in compare_releases(a, b)}
    assert diffs["one.ipynb"] == ["cell 0 (c0) differs"]
    assert "not committed" in diffs["two.ipynb"][0]


# -- lint ----------------------------------------------------------------------------------

def test_toy_assignment_passes_lint(toy_course):
    assert toy_course.lint("toy") == []
    assert toy_course.points("toy") == {"auto": 3.0, "manual": 1.0}


@pytest.mark.parametrize("breakage, expected", [
    (lambda nb: nb.cells[4].metadata.nbgrader.update(grade_id="test-visible"), "grade id"),
    (lambda nb: nb.cells[3].metadata.nbgrader.update(points=0), "without positive points"),
    (lambda nb: nb.cells.__setitem__(5, nbformat.v4.new_markdown_cell("Why? (no rubric)")), "without a rubric"),
    (lambda nb: nb.cells[3].__setitem__("source", "### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS")
     or nb.cells[3].metadata.nbgrader.update(grade=False, points=None), "hidden tests region outside"),
    (lambda nb: [nb.cells.pop(4), nb.cells.pop(3)], "has no test cell after it"),
    (lambda nb: nb.cells[6].metadata.nbgrader.update(points=10), "points are autograded"),
    (lambda nb: nb.cells[1].metadata.update(tags=[]), "parameters"),
    (lambda nb: nb.cells[0].update(source="# Toy without a badge"), "Colab badge"),
    (lambda nb: nb.cells[4].update(source=nb.cells[4].source.replace(
        "### BEGIN HIDDEN TESTS\n", "### BEGIN HIDDEN TESTS\nfrom frontier.architecture import params as _ref\n")),
     "hidden test imports frontier.architecture"),
])
def test_lint_catches_broken_metadata(toy_course, breakage, expected):
    path = toy_course.source_notebooks("toy")[0]
    nb = nbformat.read(path, as_version=4)
    breakage(nb)
    for cell in nb.cells:  # keep the json valid after edits that set points=None
        if cell.metadata.get("nbgrader", {}).get("points", 0) is None:
            del cell.metadata.nbgrader["points"]
    nbformat.write(nb, path)
    problems = toy_course.lint("toy")
    assert any(expected in p for p in problems), problems


# -- courses and submissions ---------------------------------------------------------------

def test_course_needs_a_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no nbgrader_config.py"):
        Course(tmp_path)


def test_course_layout_follows_the_config(toy_course):
    assert toy_course.assignments() == ["toy"]
    assert toy_course.course_id == "llm-frontiers"
    assert toy_course.release_dir("toy") == toy_course.root / "assignments" / "toy"
    assert toy_course.submitted_dir("toy", "ada") == toy_course.root / "grading" / "submitted" / "ada" / "toy"
    assert toy_course.db_url == f"sqlite:///{toy_course.root / 'grading' / 'gradebook.db'}"
    with pytest.raises(ValueError, match="no assignment 'nope'"):
        toy_course.lint("nope")


def test_course_overrides_win_over_the_file(toy_course):
    c = Course(toy_course.root, overrides={"Execute": {"timeout": 7}})
    assert c.config.Execute.timeout == 7
    assert toy_course.config.Execute.timeout == 60
    d = c.with_overrides({"Execute": {"interrupt_on_timeout": False}})
    assert d.config.Execute.timeout == 7 and d.config.Execute.interrupt_on_timeout is False
    assert c.config.Execute.interrupt_on_timeout is True


def test_import_submissions_accepts_three_layouts(toy_course, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "ada").mkdir(parents=True)
    (inbox / "ada" / "toy.ipynb").write_text("{}")
    (inbox / "ada" / "timestamp.txt").write_text("2026-01-01 10:00:00 UTC")
    (inbox / "bob" / "toy").mkdir(parents=True)
    (inbox / "bob" / "toy" / "toy.ipynb").write_text("{}")
    (inbox / "cy").mkdir()
    (inbox / "cy" / "Copy of toy (1).ipynb").write_text("{}")  # renamed by the student
    (inbox / "dee.ipynb").write_text("{}")
    (inbox / ".DS_Store").write_text("")
    students = toy_course.import_submissions("toy", inbox)
    assert students == ["ada", "bob", "cy", "dee"]
    for s in students:
        assert (toy_course.submitted_dir("toy", s) / "toy.ipynb").is_file()
    assert (toy_course.submitted_dir("toy", "ada") / "timestamp.txt").is_file()
    assert toy_course.submitted_students("toy") == students
    # importing again replaces, never duplicates
    assert toy_course.import_submissions("toy", inbox) == students


@pytest.mark.parametrize("name", ["bad name", "a+b", "-x"])
def test_import_submissions_rejects_unusable_student_ids(toy_course, tmp_path, name):
    (tmp_path / "inbox" / name).mkdir(parents=True)
    with pytest.raises(ValueError, match="not a usable student id"):
        toy_course.import_submissions("toy", tmp_path / "inbox")


def test_cli_list_reports_points(toy_course, capsys):
    from frontier.grading.__main__ import main

    assert main(["--root", str(toy_course.root), "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"toy\s+3\s+1\s+75%", out), out


def test_cells_name_each_kind_of_the_toy_notebook(toy_course):
    from frontier.grading import cells

    nb = nbformat.read(toy_course.source_notebooks("toy")[0], as_version=4)
    assert [cells.cell_kind(c) for c in nb.cells] == ["plain", "plain", "answer", "test", "test", "rubric", "written"]
    assert [cells.cell_points(c) for c in nb.cells] == [0, 0, 0, 1, 2, 0, 1]
    assert cells.hidden_test_source(nb.cells[4]) == "assert double(21) == 42, 'secret case'"
    assert cells.hidden_test_source(nb.cells[3]) == ""
