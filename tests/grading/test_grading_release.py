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


# -- nbgrader's validator and generator (slow) ------------------------------------------------

@pytest.mark.slow
def test_solutions_pass_nbgraders_validator(fresh_course, assignment):
    for path in fresh_course.source_notebooks(assignment):
        result = fresh_course.validate(path)
        assert result == {}, result  # no failed, changed or type-changed cells


@pytest.mark.slow
def test_unanswered_release_passes_no_visible_test(fresh_course, assignment):
    for path in fresh_course.release_notebooks(assignment):
        passed = fresh_course.validate(path, invert=True).get("passed", [])
        # cells that hold only hidden tests are comments in the release and pass trivially
        visible = [c for c in passed if any(l.strip() and not l.strip().startswith("#")
                                            for l in c["source"].splitlines())]
        assert visible == [], visible


@pytest.mark.slow
def test_generating_the_release_reproduces_the_committed_one(fresh_course, assignment):
    committed = fresh_course.root / "committed"
    shutil.move(str(fresh_course.release_dir(assignment)), committed)
    fresh_course.generate(assignment)
    generated = fresh_course.release_dir(assignment)
    assert compare_releases(generated, committed) == [], "assignments/ is stale: run `make assignments`"
    assert find_leaks(fresh_course, assignment, generated.glob("*.ipynb")) == []
    # and byte for byte, so regenerating never shows up as a change in git
    for path in generated.glob("*.ipynb"):
        assert path.read_text(encoding="utf-8") == (committed / path.name).read_text(encoding="utf-8")


@pytest.mark.slow
def test_release_command_checks_and_regenerates(toy_course):
    """``release --check`` fails on a stale release and ``release`` fixes it, without touching grading/.

    (On the toy assignment: the command is the same for every assignment, and the test above already
    regenerates each real one.)
    """
    from frontier.grading.__main__ import main

    root = str(toy_course.root)
    assert main(["--root", root, "release", "--check"]) == 1  # nothing committed yet
    assert main(["--root", root, "release"]) == 0
    assert main(["--root", root, "release", "--check"]) == 0
    path = toy_course.source_notebooks("toy")[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nAn edit the release does not have yet."
    nbformat.write(nb, path)
    assert main(["--root", root, "release", "toy", "--check"]) == 1
    assert main(["--root", root, "release", "toy"]) == 0
    assert "An edit the release" in toy_course.release_notebooks("toy")[0].read_text()
    (toy_course.root / "assignments" / "gone").mkdir()  # a release whose source was deleted
    assert main(["--root", root, "release", "--check"]) == 1
    assert not (toy_course.root / "grading").exists(), "release must not touch the grading state"
