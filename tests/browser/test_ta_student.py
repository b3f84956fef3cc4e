"""The student's side of nbgrader's exchange, in JupyterLab's *Assignments* panel (Nbgrader -> Assignment List).

Same server and fresh course copy as test_ta_formgrader.py (``ta_lab``): the TA releases the first assignment with
nbgrader's own commands; the panel lists it, *Fetch* copies it into the student's folder (the server's root, as for
a student on JupyterHub) and *Submit* puts a time-stamped copy in the exchange's inbound folder, where the TA's
``nbgrader collect`` finds it. Screenshots go to ``build/screenshots/ta/``.
"""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def _inbound(ta_course, user: str, name: str):
    inbound = ta_course.exchange / "inbound"
    return sorted(p for p in inbound.glob(f"{user}+{name}+*") if p.is_dir()) if inbound.is_dir() else []


def test_assignments_panel_lists_fetches_and_submits(page, open_lab, ta_course, released, screenshots):
    from nbgrader.utils import get_username

    name, user = released, get_username()
    before = _inbound(ta_course, user, name)
    student_copy = ta_course.root / name / f"{name}.ipynb"
    assert not student_copy.exists()

    open_lab(page, "student")
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    page.locator("li[data-command='nbgrader:open-assignment-list']").click()
    item = page.locator("#released_assignments_list .list_item", has_text=name)
    item.wait_for(timeout=60_000)
    assert "llm-frontiers" in item.inner_text()
    page.screenshot(path=str(screenshots("ta") / "08_assignments_released.png"))

    item.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=name).first
    fetched.wait_for(timeout=60_000)
    assert student_copy.is_file(), f"Fetch did not bring {name} into the student's folder"
    assert "YOUR CODE HERE" in student_copy.read_text()

    fetched.get_by_role("button", name="Submit").click()
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=name).first
    submitted.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshots("ta") / "09_assignments_submitted.png"))
    after = _inbound(ta_course, user, name)
    new = [p for p in after if p not in before]
    assert len(new) == 1, f"Submit left {len(new)} new submissions in the exchange: {after}"
    assert (new[0] / f"{name}.ipynb").read_bytes() == student_copy.read_bytes()
