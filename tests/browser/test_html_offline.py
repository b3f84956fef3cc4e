"""A `make html` page, opened from disk with every network request refused, draws each of its figures."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from frontier.notebooks import REPO_ROOT

LESSON = "course/00_start_here.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_html_page_draws_its_figures_offline(browser, screenshots, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FRONTIER_HEADLESS"}
    for cmd in ([sys.executable, "-m", "frontier.notebooks", "run", LESSON, "--smoke", "--no-progress",
                 "--out", str(tmp_path / "executed")],
                ["make", "--no-print-directory", "html", f"HTML_SRC={tmp_path / 'executed'}",
                 f"HTML_OUT={tmp_path / 'html'}"]):
        done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    nb = nbformat.read(tmp_path / "executed" / LESSON, as_version=4)
    titles = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if PLOTLY_MIME in out.get("data", {}):
                t = out["data"][PLOTLY_MIME].get("layout", {}).get("title", {})
                titles.append(t.get("text", "") if isinstance(t, dict) else str(t or ""))
    assert titles, f"{LESSON} executed without a static figure; nothing to draw"

    refused, errors = [], []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        # Offline for real: everything but the page's own file is refused (CDN MathJax, require.js, fonts).
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                      else (refused.append(route.request.url), route.abort()))
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{exc.name}: {exc.message}"))
        page.goto((tmp_path / "html" / LESSON).with_suffix(".html").as_uri(), wait_until="load", timeout=120_000)
        page.wait_for_function(
            "(n) => [...document.querySelectorAll('.js-plotly-plot')].filter((g) => g._fullLayout).length >= n",
            arg=len(titles), timeout=60_000)
        drawn = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].filter((g) => g._fullLayout)"
                              ".map((g) => (g.layout.title && (g.layout.title.text ?? g.layout.title)) || '')")
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots("html") / (Path(LESSON).stem + ".png")))
    finally:
        context.close()
    assert sorted(drawn) == sorted(titles), f"drawn offline: {drawn}; the notebook's figures: {titles}"
    assert not errors, f"uncaught errors in the offline page: {errors}"
