"""Each assignment's sources are valid nbgrader assignments, and the committed release is what they generate."""
from __future__ import annotations

import shutil

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator

from frontier.grading import compare_releases, find_leaks
from frontier.grading.sanitize import DELIMITERS


# -- metadata (fast) -------------------------------------------------------------------------

def test_sources_pass_the_course_lint(repo_course, assignment):
    assert repo_course.lint(assignment) == []


def test_grade_ids_unique_and_graded_cells_have_points(repo_course, assignment):
    for path in repo_course.source_notebooks(assignment):
        nb = nbformat.read(path, as_version=4)
        MetadataValidator().validate_nb(nb)  # nbgrader's own check: ids, points, cell kinds
        ids, graded = [], 0
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task"):
                ids.append(meta["grade_id"])
            if meta.get("grade") or meta.get("task"):
                graded += 1
                assert float(meta.get("points", 0)) > 0, f"{meta['grade_id']} has no points"
        assert len(ids) == len(set(ids)), f"duplicate grade ids in {path.name}"
        assert graded > 0


def test_at_least_60_percent_of_points_are_autograded(repo_course, assignment):
    pts = repo_course.points(assignment)
    assert pts["auto"] / (pts["auto"] + pts["manual"]) >= 0.6, pts


def test_committed_release_exists_and_is_clean(repo_course, assignment):
    sources = {p.name for p in repo_course.source_notebooks(assignment)}
    releases = repo_course.release_notebooks(assignment)
    assert {p.name for p in releases} == sources, "run `make assignments`"
    for path in releases:
        nb = nbformat.read(path, as_version=4)
        src = nbformat.read(repo_course.source_notebooks(assignment)[0].parent / path.name, as_version=4)
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
        assert [c["id"] for c in nb.cells] == [c["id"] for c in src.cells], "cell ids must be stable"
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
        assert set(nb.metadata) <= {"kernelspec", "language_info"}


def test_committed_release_reveals_no_solution_hidden_test_or_rubric(repo_course, assignment):
    releases = repo_course.release_notebooks(assignment)
    assert find_leaks(repo_course, assignment, releases) == []
    for path in releases:
        text = path.read_text(encoding="utf-8")
        for begin, end in DELIMITERS.values():
            assert begin not in text and end not in text


# -- nbgrader's generator and validator (slow) --------------------------------------------------
# The solutions' full marks and the blank releases' zero are checked on the shared graded batch
# (test_grading_autograde.py); nbgrader's Validator (`make check-assignments`) runs on the toy assignment here
# and on the real ones in .ci/run, after `make test` (the test budget).

@pytest.mark.slow
def test_generating_the_release_reproduces_the_committed_one(graded, repo_course, assignment):
    """The graded batch's course copy regenerated the release from solutions/: it must equal the committed one."""
    generated, committed = graded.course.release_dir(assignment), repo_course.release_dir(assignment)
    assert compare_releases(generated, committed) == [], "assignments/ is stale: run `make assignments`"
    assert find_leaks(graded.course, assignment, generated.glob("*.ipynb")) == []
    # and byte for byte, so regenerating never shows up as a change in git
    for path in generated.glob("*.ipynb"):
        assert path.read_text(encoding="utf-8") == (committed / path.name).read_text(encoding="utf-8")


def test_frozen_expected_values_match_the_library(repo_course, assignment):
    """The hidden tests' expected values (python -m frontier.grading freeze) are what the library computes now."""
    from frontier.grading.freeze import freeze_assignment

    changes, unused = freeze_assignment(repo_course, assignment, check=True)
    assert changes == {}, f"stale frozen values (run `python -m frontier.grading freeze {assignment}`): {changes}"
    assert unused == []


@pytest.mark.slow
def test_validate_command_passes_the_solution_and_fails_a_broken_one(toy_course, capsys):
    from frontier.grading.__main__ import main

    root = str(toy_course.root)
    assert main(["--root", root, "release", "toy"]) == 0
    assert main(["--root", root, "validate", "toy"]) == 0, capsys.readouterr().out
    path = toy_course.source_notebooks("toy")[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("return 2 * x", "return 3 * x")
    nbformat.write(nb, path)
    assert main(["--root", root, "validate", "toy"]) == 1
    assert "test cell(s) fail" in capsys.readouterr().out


@pytest.mark.slow
def test_release_command_checks_and_regenerates(toy_course, capsys):
    """``release --check`` fails on a stale release and ``release`` fixes it, without touching grading/.

    (On the toy assignment: the command is the same for every assignment, and the test above already
    regenerates each real one.)
    """
    from frontier.grading.__main__ import main

    root = str(toy_course.root)
    # (four generations, each in a scratch copy: the test budget; up-to-date releases are checked above)
    assert main(["--root", root, "release"]) == 0
    assert toy_course.release_notebooks("toy"), "release wrote nothing"
    path = toy_course.source_notebooks("toy")[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nAn edit the release does not have yet."
    nbformat.write(nb, path)
    assert main(["--root", root, "release", "toy", "--check"]) == 1
    assert main(["--root", root, "release", "toy"]) == 0
    assert "An edit the release" in toy_course.release_notebooks("toy")[0].read_text()
    (toy_course.root / "assignments" / "gone").mkdir()  # a release whose source was deleted
    capsys.readouterr()
    assert main(["--root", root, "release", "--check"]) == 1
    out = capsys.readouterr().out
    assert "toy: up to date" in out and "gone: assignments/gone has no source" in out, out
    # the course configuration may create grading/'s empty folders (nbgrader_config.py), but release must not
    # write grading state: no gradebook, no files
    grading = toy_course.root / "grading"
    assert not [p for p in grading.rglob("*") if p.is_file()], "release must not touch the grading state"
