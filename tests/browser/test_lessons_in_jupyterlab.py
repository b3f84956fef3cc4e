"""Every lesson, opened in JupyterLab in a real browser, runs all its cells and every control moves its figure.

For each lesson (found afresh under ``course/``): open the SMOKE copy in JupyterLab, run all cells, check that no
cell shows an error, then move every control of every interactive figure (drag sliders, pick another dropdown
option, tick checkboxes) and check that the figure it drives changed (its title, ``layout.meta`` or data, read from
plotly's graph div in the page). Finally the page must have logged no errors beyond failed fetches of CDN
resources (there is no internet here). One screenshot per lesson, taken after the interaction, goes to
``build/screenshots/lab/`` with a JSON summary of every control moved; each figure also gets its own picture.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from frontier.notebooks import REPO_ROOT

ALL_LESSONS = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "course").rglob("*.ipynb")
                     if ".ipynb_checkpoints" not in p.parts)


#: The lessons ``make test`` opens in the browser: the start-here notebook and the first lesson, whose controllers
#: use every kind of control the course has (sliders, dropdowns, toggles, checkboxes).
SAMPLE = ("course/00_start_here.ipynb", "course/01_architecture/01_attention_cost.ipynb")


def sample_lessons(lessons):
    """The lessons of :data:`SAMPLE` that exist, in ``lessons``' order.

    Opening a lesson in JupyterLab, running it and moving every control costs 30-60 s on 2 cores, so the course's
    two dozen lessons do not fit in ``make test``'s 15 minutes (tests/conftest.py BUDGET). ``.ci/run`` opens all
    the others after ``make test`` (``make test-browser-rest``, which sets ``FRONTIER_BROWSER_LESSONS=rest``), so
    no lesson goes untested in CI; ``FRONTIER_BROWSER_LESSONS=all`` opens every lesson in one run.
    """
    return [rel for rel in lessons if rel in SAMPLE]


def selected_lessons(which: str):
    """``FRONTIER_BROWSER_LESSONS``: ``sample`` (the default, :func:`sample_lessons`), ``rest`` (the others) or ``all``."""
    sample = sample_lessons(ALL_LESSONS)
    if which == "all":
        return ALL_LESSONS
    if which == "rest":
        return [r for r in ALL_LESSONS if r not in sample]
    if which == "sample":
        return sample
    raise ValueError(f"FRONTIER_BROWSER_LESSONS must be 'sample', 'rest' or 'all', got {which!r}")


LESSONS = selected_lessons(os.environ.get("FRONTIER_BROWSER_LESSONS", "sample"))
#: Seconds allowed for "run all cells" of one SMOKE lesson in the browser (CI's notebook budget is 60 s).
RUN_ALL_TIMEOUT = 240


def _slug(rel: str) -> str:
    parts = Path(rel).with_suffix("").parts
    return "--".join(parts[1:] if parts and parts[0] == "course" else parts)


_OPEN = """(path) => { const app = window.jupyterapp; if (!app) return false;
  const w = app.shell.currentWidget; return !!(w && w.context && w.context.path === path && w.sessionContext); }"""

_RUN_ALL = """async (ms) => {
  const app = window.jupyterapp, w = app.shell.currentWidget;
  const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), ms));
  const ready = await Promise.race([Promise.all([w.context.ready, w.sessionContext.ready]).then(() => 'ready'), timeout]);
  if (ready !== 'ready') return 'the kernel did not start';
  const result = await Promise.race([app.commands.execute('notebook:run-all-cells'), timeout]);
  return result === 'timeout' ? 'timeout' : String(result);
}"""

_CELL_PROBLEMS = """() => {
  const w = window.jupyterapp.shell.currentWidget, problems = [];
  w.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    const first = cell.model.sharedModel.getSource().split('\\n')[0].slice(0, 70);
    for (const o of cell.model.outputs.toJSON())
      if (o.output_type === 'error') problems.push(`cell ${i} (${first}): ${o.ename}: ${String(o.evalue).slice(0, 300)}`);
    if (cell.model.executionCount === null && cell.model.sharedModel.getSource().trim())
      problems.push(`cell ${i} (${first}): was not executed`);
  });
  return problems;
}"""

_KERNEL_IDLE = """() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
  return !!k && k.status === 'idle'; }"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(RUN_ALL_TIMEOUT + 300)
@pytest.mark.parametrize("rel", LESSONS, ids=[_slug(r) for r in LESSONS])
def test_lesson_runs_and_every_control_moves_its_figure(rel, lab_server, page, screenshots, figure_driver):
    out_dir = screenshots("lab")
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    name = _slug(rel)
    problems = []

    page.goto(lab_server.url(f"/lab/workspaces/test-{name}/tree/{quote(rel)}"))
    page.wait_for_function(_OPEN, arg=rel, timeout=90_000)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")

    t0 = time.perf_counter()
    outcome = page.evaluate(_RUN_ALL, RUN_ALL_TIMEOUT * 1000)
    run_s = time.perf_counter() - t0
    if outcome != "true":
        problems.append(f"run all cells: {outcome} after {run_s:.0f} s")
    problems += page.evaluate(_CELL_PROBLEMS)
    try:
        page.wait_for_function(_KERNEL_IDLE, timeout=60_000)
    except Exception:
        problems.append("the kernel did not become idle within 60 s of running all cells")

    driver = figure_driver(page, root=".jp-NotebookPanel .jp-Notebook")
    layout = driver.wait_for_figures()
    missing = driver.wait_rendered(len(layout["blocks"]))
    problems += [f"interactive figure {k} never showed a plot" for k in missing]
    problems += [f"control outside any interactive figure (not exercised): {o}" for o in layout["orphans"]]

    layout, results = driver.exercise()
    problems += [f"control did not move its figure: {r}" for r in results if r.problem]
    problems += [f"error shown in the notebook: {e}" for e in driver.dom_errors()]
    problems += page.evaluate(_CELL_PROBLEMS)  # errors raised by widget callbacks into cell outputs
    problems += [f"browser console: {e}" for e in page.console_log.real_errors()]

    problems = list(dict.fromkeys(problems))  # the same cell error is seen before and after the interaction

    # Pictures after the interaction: each figure, then the page scrolled to the last figure that moved.
    for block in layout["blocks"]:
        fig = page.locator(f'[data-fb="{block["k"]}"]')
        fig.scroll_into_view_if_needed()
        fig.screenshot(path=str(out_dir / "figures" / f"{name}--figure{block['k']}.png"))
    if layout["blocks"]:
        page.locator(f'[data-fb="{layout["blocks"][-1]["k"]}"]').evaluate("(el) => el.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
    page.screenshot(path=str(out_dir / f"{name}.png"))
    (out_dir / f"{name}.json").write_text(json.dumps({
        "lesson": rel, "run_all_seconds": round(run_s, 1), "figures": len(layout["blocks"]),
        "controls": [{**vars(r), "visible": r.visible} for r in results],
        "meta_only": [str(r) for r in results if not r.problem and not r.visible],
        "offline_noise": page.console_log.noise(), "problems": problems,
    }, indent=1))

    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    assert not problems, f"{rel} in JupyterLab:\n  " + "\n  ".join(problems)
