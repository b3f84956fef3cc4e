"""A lesson served as a standalone web app with Voilà (`make app NB=...`) works in a real browser.

Voilà runs every cell when the page is requested and shows only the outputs, with live widgets. The test starts
Voilà the documented way, opens the page in Chromium, checks that no cell failed, moves every control of every
interactive figure and checks that its figure changed, and that the page logged no errors beyond offline noise.
Screenshot: ``build/screenshots/voila/<lesson>.png`` (the whole page, after the interaction).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from frontier.notebooks import REPO_ROOT

#: The lesson the issue names for `make app`; any other lesson with interactive figures would do.
LESSON = "course/01_architecture/01_attention_cost.ipynb"


def _plotly_png_cache_error(entry: str) -> bool:
    """jupyterlab-plotly's renderer, once a figure is drawn, stores a PNG snapshot of it in the output's model with
    ``model.setData(...)``; Voilà's output models have no ``setData``, so the promise rejects. The figure itself is
    drawn and redrawn normally (this test moves every control and checks each redraw), so this one error of a
    third-party pair is tolerated, and only with exactly this message from jupyterlab-plotly's bundle."""
    return "setData is not a function" in entry and "/jupyterlab-plotly/static/" in entry


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_voila_serves_a_lesson_whose_controls_move_their_figures(voila_app, page, screenshots, figure_driver):
    rel = LESSON if (REPO_ROOT / LESSON).exists() else "course/00_start_here.ipynb"
    app = voila_app(rel)
    # Voilà streams the page while it executes the cells. Do not wait for the "load" event: one subresource that
    # neither loads nor fails on an offline machine (a CDN font, say) holds it back indefinitely (seen once in CI
    # here). Wait instead for what the test needs: the first interactive figure drawn inside a widget output.
    # Voilà itself is occasionally flaky here (about one page load in four on the loaded 2-core CI machine): the
    # page stalls, or a widget view asks for its model before the model has arrived ("model not found"). A fresh
    # page load (a fresh Voilà kernel) is allowed once; the retry is recorded, and a second failure fails.
    retries = []
    for attempt in (1, 2):
        page.console_log.entries.clear()
        page.goto(app.url("/"), wait_until="commit", timeout=120_000)
        try:
            page.wait_for_selector(".widget-output .js-plotly-plot", timeout=150_000)
        except Exception as exc:  # playwright's TimeoutError
            first_problem = f"no figure drawn within 150 s ({type(exc).__name__})"
        else:
            page.wait_for_timeout(1000)
            missing = [e for e in page.console_log.real_errors() if "model not found" in e]
            first_problem = f"widget model not found: {missing[0][:200]}" if missing else ""
        if not first_problem or attempt == 2:
            break
        retries.append(first_problem)
    assert not first_problem, f"{rel} in Voilà, twice: {first_problem}"

    driver = figure_driver(page, root="body")
    layout = driver.wait_for_figures()
    problems = [f"interactive figure {k} never showed a plot" for k in driver.wait_rendered(len(layout["blocks"]))]
    problems += [f"control outside any interactive figure (not exercised): {o}" for o in layout["orphans"]]
    if not layout["blocks"]:
        problems.append("no interactive figure found on the page")
    layout, results = driver.exercise()
    problems += [f"control did not move its figure: {r}" for r in results if r.problem]
    problems += [f"error shown on the page: {e}" for e in driver.dom_errors()]
    # After a retry, the abandoned first page asks Voilà to shut its kernel down as it unloads (during the second
    # goto, after the log was cleared); Voilà answers 403. That request belongs to the retry, not to the lesson.
    tolerated = [e for e in page.console_log.real_errors()
                 if _plotly_png_cache_error(e) or (retries and "/voila/api/shutdown/" in e)]
    problems += [f"browser console: {e}" for e in page.console_log.real_errors() if e not in tolerated]

    out_dir = screenshots("voila")
    name = "--".join(Path(rel).with_suffix("").parts[1:])
    if layout["blocks"]:  # Voilà scrolls inside its own panel: bring the last figure that moved into view
        page.locator(f'[data-fb="{layout["blocks"][-1]["k"]}"]').evaluate("(el) => el.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
    page.screenshot(path=str(out_dir / f"{name}.png"))
    (out_dir / f"{name}.json").write_text(json.dumps({
        "lesson": rel, "figures": len(layout["blocks"]), "retried_after": retries,
        "controls": [{**vars(r), "visible": r.visible} for r in results],
        "offline_noise": page.console_log.noise(), "tolerated": tolerated, "problems": problems}, indent=1))
    problems = list(dict.fromkeys(problems))  # the same cell error can be seen twice
    assert not problems, f"{rel} in Voilà:\n  " + "\n  ".join(problems)
