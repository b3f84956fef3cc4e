"""Execute every lesson and solution notebook in SMOKE mode, two at a time, and report wall times."""
from pathlib import Path

import pytest

from frontier.notebooks import REPO_ROOT
from frontier.notebooks.runner import format_table, run_notebooks

#: Each notebook's SMOKE budget on a 2-core machine is 60 s (see the printed table); the test only fails on a
#: notebook that runs away (twice the budget), so that a slow CI machine does not turn a budget into a flaky test.
RUNAWAY_SECONDS = 120


@pytest.fixture(scope="session")
def executed():
    paths = [p for p in (REPO_ROOT / "course", REPO_ROOT / "solutions") if any(p.rglob("*.ipynb"))]
    results = run_notebooks(paths, out_dir=REPO_ROOT / "build" / "executed", smoke=True, jobs=2, progress=False)
    table = format_table(results)
    out = REPO_ROOT / "build" / "notebook-times.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    return results


@pytest.mark.slow
def test_every_notebook_executes(executed):
    failed = [f"{r.path} {r.error}" for r in executed if not r.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.slow
def test_no_notebook_runs_away(executed):
    slow = [f"{r.path}: {r.seconds:.0f} s" for r in executed if r.seconds > RUNAWAY_SECONDS]
    assert not slow, slow


@pytest.mark.slow
def test_headless_runs_show_static_figures(executed):
    import nbformat

    lesson = next(r for r in executed if r.path.endswith("01_attention_cost.ipynb"))
    nb = nbformat.read(lesson.output, as_version=4)
    mimes = {k for c in nb.cells if c.cell_type == "code" for o in c.outputs for k in o.get("data", {})}
    assert "application/vnd.plotly.v1+json" in mimes and "text/html" in mimes
