"""A TA's day in JupyterLab, in a real browser: nbgrader's Formgrader on a fresh copy of the course.

One JupyterLab (``ta_lab`` in conftest.py) serves a fresh copy of the course for every test here and in
test_ta_student.py. It is started as ``.venv/bin/jupyter lab`` with a ``PATH`` that lacks ``.venv/bin`` and with no
``grading/`` folder, so these tests fail if ``nbgrader_config.py`` stops putting the environment on ``PATH`` (nbgrader
runs the ``alembic`` command to create the gradebook) or stops creating ``grading/`` and its exchange.

What the TA does here: open the Formgrader from the *Nbgrader* menu and see every assignment of ``solutions/`` with
its status; *Generate* the student version and *Preview* it (no solutions); open a collected, autograded submission,
read the scores and the written answer beside its rubric, enter a score and a comment (read back through nbgrader's
Gradebook API); *Generate feedback* and *Release feedback* (no hidden tests, no rubrics). Fake students submit and
the TA collects and autogrades with the course's commands, as docs/ta_guide.md tells a TA. Each test saves a
screenshot to ``build/screenshots/ta/`` (docs/ta_guide.md shows them).
"""
from __future__ import annotations

import json
import re
import shutil
import stat
import urllib.request
from pathlib import Path
from typing import Dict, List

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

#: The fake students: one answers everything (the solution's code, a written answer of their own), one hands in
#: the blank release.
WRITTEN_ANSWER = "Ada's own answer: Mixtral is cheaper per token because only two of its experts run."
GRADER_COMMENT = "Good reasoning; give the FLOP counts at 4,096 tokens as well."
_MARKERS = re.compile(r"(###|<!--) (BEGIN|END) (SOLUTION|HIDDEN TESTS|MARK SCHEME)")


def _nb(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _nbgrader(cell) -> Dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _region_lines(source: str, kind: str) -> List[str]:
    """Lines between ``BEGIN kind`` and ``END kind`` markers (stripped, long enough to be distinctive)."""
    lines, inside = [], False
    for line in source.splitlines():
        if f"BEGIN {kind}" in line:
            inside = True
        elif f"END {kind}" in line:
            inside = False
        elif inside and len(line.strip()) >= 20:
            lines.append(line.strip())
    return lines


def _plain(markdown_line: str) -> str:
    """The text a markdown line renders to, for the simple lines we look for (emphasis and code marks removed)."""
    return re.sub(r"[*_`]", "", markdown_line).strip(" -")


def _secrets(source_nb: nbformat.NotebookNode) -> Dict[str, List[str]]:
    """What no student may see, from the instructor's notebook: solution lines, hidden-test lines, rubric lines."""
    out = {"SOLUTION": [], "HIDDEN TESTS": [], "MARK SCHEME": []}
    for cell in source_nb.cells:
        for kind in out:
            out[kind] += _region_lines(cell.source, kind)
    return out


def _written(source_nb) -> tuple:
    """(question cell, answer cell) of the first written answer: a graded markdown answer below its rubric."""
    cells = source_nb.cells
    for i, cell in enumerate(cells):
        meta = _nbgrader(cell)
        if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade") and i:
            return cells[i - 1], cell
    pytest.fail("the assignment has no written answer")


def _formgrader_frame(page):
    """Open the Formgrader from JupyterLab's *Nbgrader* menu; return its frame once the assignment table is filled."""
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    page.locator("li[data-command='nbgrader:open-formgrader']").click()
    page.wait_for_function("() => [...document.querySelectorAll('iframe')].some((f) => f.src.includes('/formgrader'))")
    frame = page.frame_locator("iframe[src*='/formgrader']")
    frame.locator("td.name a").first.wait_for(timeout=60_000)
    return frame


def _wait_modal(frame):
    """The Formgrader's result dialog, once it has faded in completely (for a clean screenshot)."""
    modal = frame.locator(".modal.in, .modal.show").last
    modal.wait_for(timeout=120_000)
    modal.locator(".modal-dialog").evaluate("""(el) => new Promise((resolve) => { const t0 = Date.now();
        const tick = () => (getComputedStyle(el.closest('.modal')).opacity === '1' || Date.now() - t0 > 3000)
            ? setTimeout(resolve, 100) : requestAnimationFrame(tick); tick(); })""")
    return modal


def _close_modal(frame) -> str:
    """Wait for the Formgrader's result dialog, return its text and close it."""
    modal = _wait_modal(frame)
    text = modal.inner_text()
    modal.locator(".modal-footer button").last.click()
    modal.wait_for(state="hidden")
    return text


def test_server_without_the_environment_on_path_serves_the_formgrader_api(ta_course, ta_lab):
    """The regression the issue reported: PATH lacks .venv/bin and grading/ does not exist -> 500. Now 200."""
    with urllib.request.urlopen(ta_lab.url("/formgrader/api/assignments"), timeout=60) as r:
        assert r.status == 200
        listed = json.load(r)
    assert sorted(a["name"] for a in listed) == ta_course.assignments()
    grading = ta_course.root / "grading"
    for sub in ("submitted", "autograded", "feedback"):
        assert (grading / sub).is_dir(), sub
    assert (grading / "gradebook.db").is_file()
    mode = stat.S_IMODE((grading / "exchange").stat().st_mode)
    assert mode & 0o777 == 0o777, f"the exchange must be writable by everyone, as nbgrader sets it: {oct(mode)}"


def test_formgrader_opens_from_the_menu_and_lists_every_assignment(page, open_lab, ta_course, screenshots):
    open_lab(page, "formgrader")
    frame = _formgrader_frame(page)
    expected = ta_course.assignments()
    assert expected, "no assignment under solutions/"
    rows = frame.locator("#main-table tbody tr, table tbody tr").filter(has=frame.locator("td.name a"))
    page.wait_for_timeout(300)
    shown = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        shown[row.locator("td.name").inner_text().strip()] = row.locator("td.status").inner_text().strip()
    assert sorted(shown) == expected
    for name, status in shown.items():
        truth = "released" if (ta_course.exchange / "outbound" / name).is_dir() else "draft"
        assert status == truth, f"{name}: the Formgrader shows {status!r}, the exchange says {truth!r}"
    page.screenshot(path=str(screenshots("ta") / "01_formgrader_assignments.png"))


def test_generate_makes_the_release_and_preview_shows_it_without_solutions(page, open_lab, ta_course, screenshots):
    name = ta_course.assignments()[0]
    release = ta_course.root / "assignments" / name
    shutil.rmtree(release)  # Generate must write it afresh
    open_lab(page, "generate")
    frame = _formgrader_frame(page)
    row = frame.locator("tr").filter(has=frame.locator("td.name", has_text=re.compile(rf"^{re.escape(name)}$")))
    row.locator("td.assign a").click()
    _wait_modal(frame)
    page.screenshot(path=str(screenshots("ta") / "02_generate.png"))
    text = _close_modal(frame)
    assert "Successfully created the student version" in text, text

    student_nb = release / f"{name}.ipynb"
    assert student_nb.is_file(), f"Generate did not write {student_nb}"
    source = _nb(ta_course.root / "solutions" / name / f"{name}.ipynb")
    released = _nb(student_nb)
    assert [c.id for c in released.cells] == [c.id for c in source.cells]
    text = "\n".join(c.source for c in released.cells)
    hidden = _secrets(source)
    assert all(kind for kind in hidden.values()), "the assignment has solutions, hidden tests and rubrics"
    for kind, lines in hidden.items():
        leaked = [line for line in lines if line in text]
        assert not leaked, f"the release contains {kind} lines: {leaked[:3]}"
    assert not _MARKERS.search(text)
    assert "YOUR CODE HERE" in text and "YOUR ANSWER HERE" in text

    # Preview: JupyterLab's file browser goes to the release; open the notebook there.
    frame.locator("tr").filter(has=frame.locator("td.name", has_text=re.compile(rf"^{re.escape(name)}$"))) \
        .locator("td.preview a").click()
    page.locator(".jp-FileBrowser .jp-BreadCrumbs", has_text=name).wait_for()
    page.locator(".jp-DirListing-item", has_text=f"{name}.ipynb").dblclick()
    shown = page.wait_for_function("""(path) => { const w = window.jupyterapp.shell.currentWidget;
        if (!(w && w.context && w.context.path === path && w.context.isReady && w.content)) return false;
        const text = w.content.widgets.map((c) => c.model.sharedModel.getSource()).join('\\n');
        return text.length > 0 && text; }""", arg=f"assignments/{name}/{name}.ipynb").json_value()
    assert "YOUR CODE HERE" in shown
    for kind, lines in hidden.items():
        assert not [line for line in lines if line in shown], f"the preview shows {kind}"
    page.locator(".jp-Notebook .jp-Cell", has_text="YOUR CODE HERE").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots("ta") / "03_preview_student_version.png"))


def _fake_students(ta_course, name: str, folder: Path) -> Dict[str, Path]:
    """Ada answers from the solution (and writes her own text), Bob hands in the blank release."""
    source = _nb(ta_course.root / "solutions" / name / f"{name}.ipynb")
    solutions = {_nbgrader(c)["grade_id"]: c.source for c in source.cells if _nbgrader(c).get("solution")}
    blank = _nb(ta_course.root / "assignments" / name / f"{name}.ipynb")
    answered = _nb(ta_course.root / "assignments" / name / f"{name}.ipynb")
    for cell in answered.cells:
        gid = _nbgrader(cell).get("grade_id")
        if gid in solutions:
            cell.source = f"{WRITTEN_ANSWER} [{gid}]" if cell.cell_type == "markdown" else "\n".join(
                line for line in solutions[gid].splitlines() if not _MARKERS.search(line))
    dirs = {}
    for student, nb in (("ada", answered), ("bob", blank)):
        d = folder / student / name
        d.mkdir(parents=True)
        nbformat.write(nb, str(d / f"{name}.ipynb"))
        dirs[student] = d
    return dirs


@pytest.fixture(scope="module")
def graded(ta_course, released, tmp_path_factory):
    """Two fake students submit through the exchange; the TA collects and autogrades with the course's commands."""
    name = released
    folders = _fake_students(ta_course, name, tmp_path_factory.mktemp("students"))
    ta_course.run_together(*(["nbgrader", "submit", str(folder), "--course", "llm-frontiers", "--student", student]
                             for student, folder in folders.items()))
    ta_course.run("nbgrader", "collect", name, "--update")
    for student in ("ada", "bob"):
        assert (ta_course.root / "grading" / "submitted" / student / name / f"{name}.ipynb").is_file()
    ta_course.run("python", "-m", "frontier.grading", "autograde", name, "--no-feedback")
    return name


def test_submission_view_shows_scores_and_the_rubric_and_saves_a_manual_grade(page, open_lab, ta_course, graded,
                                                                                 ta_lab, screenshots):
    name = graded
    with ta_course.gradebook() as gb:
        ada = gb.find_submission_notebook(name, name, "ada")
        submission_id, auto_total, max_total = ada.id, ada.score, ada.max_score
        auto_scores = {g.name: g.auto_score for g in ada.grades if g.auto_score is not None}
    assert auto_total > 0, "the answered notebook scored nothing: the autograder did not run"

    open_lab(page, "grading")  # logs in; the Formgrader's pages then open as pages of their own
    page.goto(ta_lab.url(f"/formgrader/manage_submissions/{name}"))
    page.locator("td.student-id", has_text="ada").wait_for()
    score_cell = page.locator("tr", has=page.locator("td.student-id", has_text="ada")).locator("td.score")
    assert score_cell.inner_text().split() == [f"{auto_total:g}", "/", f"{max_total:g}"]
    page.screenshot(path=str(screenshots("ta") / "04_submissions.png"))

    page.goto(ta_lab.url(f"/formgrader/submissions/{submission_id}/?index=0"))
    source = _nb(ta_course.root / "solutions" / name / f"{name}.ipynb")
    question, answer = _written(source)
    gid = _nbgrader(answer)["grade_id"]
    score_box = page.locator(f"input.score[id='{gid}']")
    score_box.wait_for()
    for test_id, auto in auto_scores.items():  # every autograded cell shows its score
        if test_id != gid:
            box = page.locator(f"input.score[id='{test_id}']")
            box.wait_for()
            # The Formgrader shows an autograded score as the box's placeholder; a box a grader has touched shows
            # it as its value instead.
            for _ in range(75):  # the page fills the boxes from the gradebook after it loads: wait up to 15 s
                shown = box.get_attribute("placeholder") or box.input_value()
                if shown:
                    break
                page.wait_for_timeout(200)
            assert shown and float(shown) == auto, f"{test_id}: the Formgrader shows {shown!r}, the gradebook has {auto}"

    # The written answer, with the question and its rubric just above it.
    rubric_line = _plain(_region_lines(question.source, "MARK SCHEME")[0])
    answer_cell = page.locator(".nbgrader_cell", has_text=f"{WRITTEN_ANSWER} [{gid}]")
    assert answer_cell.count() == 1
    above = answer_cell.evaluate("""(el) => { let prev = el.closest('.cell') || el;
        prev = prev.previousElementSibling; return prev ? prev.innerText : ''; }""")
    assert rubric_line in above, f"no rubric above the written answer: {above[:300]!r}"

    points = float(_nbgrader(answer)["points"])
    manual = points - 1
    score_box.fill(f"{manual:g}")
    score_box.press("Tab")
    comment = page.locator(f"textarea#{gid}-comment")
    comment.fill(GRADER_COMMENT)
    comment.press("Tab")
    page.wait_for_function("(gid) => document.getElementById(gid).value !== ''", arg=gid)
    comment.scroll_into_view_if_needed()
    answer_cell.scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, -260)")  # the rubric above the answer in the picture
    page.wait_for_timeout(800)
    page.screenshot(path=str(screenshots("ta") / "05_grade_written_answer.png"))

    deadline_ms = 15_000
    for _ in range(deadline_ms // 250):
        with ta_course.gradebook() as gb:
            grade = gb.find_grade(gid, name, name, "ada")
            saved = (grade.manual_score, gb.find_comment(gid, name, name, "ada").manual_comment)
        if saved == (manual, GRADER_COMMENT):
            break
        page.wait_for_timeout(250)
    assert saved == (manual, GRADER_COMMENT), f"the gradebook holds {saved}"
    with ta_course.gradebook() as gb:
        assert gb.find_submission_notebook(name, name, "ada").score == pytest.approx(auto_total + manual)


def test_generate_and_release_feedback_hide_hidden_tests_and_rubrics(page, open_lab, ta_course, graded, ta_lab,
                                                                      screenshots):
    name = graded
    source = _nb(ta_course.root / "solutions" / name / f"{name}.ipynb")
    _, answer = _written(source)
    gid = _nbgrader(answer)["grade_id"]
    with ta_course.gradebook() as gb:  # a graded written answer (the previous test does it through the page)
        gb.find_comment(gid, name, name, "ada").manual_comment = GRADER_COMMENT
        gb.db.commit()
    feedback = ta_course.root / "grading" / "feedback"
    shutil.rmtree(feedback / "ada", ignore_errors=True)
    shutil.rmtree(feedback / "bob", ignore_errors=True)

    open_lab(page, "feedback")
    frame = _formgrader_frame(page)
    row = frame.locator("tr").filter(has=frame.locator("td.name", has_text=re.compile(rf"^{re.escape(name)}$")))
    row.locator("td.generate-feedback a").click()
    text = _close_modal(frame)
    assert "Success" in text, text
    row.locator("td.release-feedback a").click()
    _wait_modal(frame)
    page.screenshot(path=str(screenshots("ta") / "06_release_feedback.png"))
    text = _close_modal(frame)
    assert "Success" in text, text

    secrets_ = _secrets(source)
    pages = {s: feedback / s / name / f"{name}.html" for s in ("ada", "bob")}
    for student, html_path in pages.items():
        assert html_path.is_file(), f"no feedback for {student}"
        html = html_path.read_text()
        for kind in ("HIDDEN TESTS", "MARK SCHEME"):
            leaked = [line for line in secrets_[kind] if line in html]
            assert not leaked, f"{student}'s feedback shows {kind}: {leaked[:2]}"
        assert not _MARKERS.search(html)
    assert GRADER_COMMENT in pages["ada"].read_text(), "the grader's comment is missing from the feedback"
    released_pages = list((ta_course.exchange / "feedback").glob("*.html"))
    assert len(released_pages) == 2, f"Release feedback put {len(released_pages)} pages in the exchange"
    for p in released_pages:
        assert not [line for line in secrets_["HIDDEN TESTS"] + secrets_["MARK SCHEME"] if line in p.read_text()]

    page.goto(ta_lab.url(f"/files/grading/feedback/ada/{name}/{name}.html"))
    page.get_by_text(GRADER_COMMENT).first.scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, -300)")
    page.screenshot(path=str(screenshots("ta") / "07_feedback_page.png"))
