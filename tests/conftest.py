"""Shared pytest configuration: skip GPU and browser tests where they cannot run, and keep the suite in budget.

The suite's budget (issue 9): ``make test`` must finish in 15 minutes from a fresh clone on 2 cores. Every test
item belongs to one *area* (:func:`area_of`); at the end of every run a table gives each area's time against its
allowance (:data:`BUDGET`), and the run fails when an area takes more than :data:`OVERRUN` times its allowance.
Set ``FRONTIER_TEST_BUDGET=report`` to print the table without failing (a slow laptop, a profiler).
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import time
from collections import defaultdict

import pytest

_SESSION_START = time.time()

# -- the budget -----------------------------------------------------------------------------------------------
#: Seconds each area may take in a full `make test` on a 2-core CI machine (summed test time: setup, call and
#: teardown of every item, so session fixtures such as a course copy or an executed-notebook batch count once,
#: in the area of the first test that needs them). `make test` runs two pytest-xdist workers; notebooks, grading
#: and browser each stay on one worker (SHARED_FIXTURE_AREAS) while library and claim tests fill the other, so the
#: wall time is about half the sum. The allowances add up to 1,080 s of test time, about 9 minutes of wall time,
#: leaving the rest of the 15 minutes for set-up, collection and imbalance between the workers. Measured on a
#: fresh clone with an empty model cache (2 cores, 2026-12-01): library 61 s, notebooks 213 s, grading 231 s,
#: browser 133 s (279 s in a later run: the browser tests vary most), claims 100 s; 6.5 minutes of wall time.
#: A new section's tests go into these areas: raise an allowance only by taking the same time from another one,
#: and first make the tests share servers, course copies and trained models.
BUDGET = {
    "library": 90,       # fast unit and property tests of frontier (tests/architecture, models, exercises, ...)
    "notebooks": 300,    # executing every lesson and solution in SMOKE mode (2 jobs), hygiene, make html
    "grading": 300,      # nbgrader round trips of five assignments: rehearsal batches, releases, exchange, CLI
    "browser": 240,      # JupyterLab (two lessons, the TA's screens), Voila, offline HTML, the site
    "claims": 150,       # slow-marked experiment claims of the lessons (seeded, seconds each; `long` ones excluded)
}
#: An area fails the run when it takes more than this multiple of its allowance.
OVERRUN = 1.5

#: How an item finds its area: the first rule whose marker the item has, or whose glob matches its path.
AREA_RULES = (
    ("browser", {"marker": "browser"}),
    ("browser", {"paths": ("tests/browser/*", "tests/test_lab.py")}),
    ("notebooks", {"paths": ("tests/notebooks/*", "tests/test_html.py")}),
    ("grading", {"paths": ("tests/grading/*",)}),
    ("claims", {"marker": "slow"}),
    ("library", {}),
)


def area_of(nodeid: str, keywords) -> str:
    """The budget area of a test item from its node id (``tests/x/test_y.py::test_z``) and keywords (markers)."""
    path = nodeid.split("::", 1)[0].replace(os.sep, "/")
    for area, rule in AREA_RULES:
        if "marker" in rule and rule["marker"] in keywords:
            return area
        if "paths" in rule and any(fnmatch.fnmatch(path, g) for g in rule["paths"]):
            return area
        if not rule:
            return area
    return "library"


_AREA_SECONDS: dict = defaultdict(float)
_AREA_ITEMS: dict = defaultdict(set)


def pytest_runtest_logreport(report):
    """Add each phase's duration to its area (works under pytest-xdist too: reports carry node id and keywords)."""
    area = area_of(report.nodeid, report.keywords)
    _AREA_SECONDS[area] += getattr(report, "duration", 0.0) or 0.0
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _AREA_ITEMS[area].add(report.nodeid)


def budget_overruns(seconds=None) -> list:
    """``[(area, seconds, allowance), ...]`` for every area over :data:`OVERRUN` times its allowance."""
    seconds = _AREA_SECONDS if seconds is None else seconds
    return [(a, s, BUDGET[a]) for a, s in seconds.items() if a in BUDGET and s > OVERRUN * BUDGET[a]]


def format_budget_table(seconds=None, items=None) -> str:
    seconds = _AREA_SECONDS if seconds is None else seconds
    items = _AREA_ITEMS if items is None else items
    lines = [f"{'area':<11}{'tests':>7}{'seconds':>10}{'allowance':>11}{'used':>7}  status"]
    for area, allowance in BUDGET.items():
        s = seconds.get(area, 0.0)
        status = "OVER BUDGET" if s > OVERRUN * allowance else ("over allowance" if s > allowance else "ok")
        lines.append(f"{area:<11}{len(items.get(area, ())):>7}{s:>10.1f}{allowance:>11}{s / allowance:>7.0%}  {status}")
    total = sum(seconds.values())
    lines.append(f"{'total':<11}{sum(len(v) for v in items.values()):>7}{total:>10.1f}{sum(BUDGET.values()):>11}"
                 f"{total / sum(BUDGET.values()):>7.0%}")
    return "\n".join(lines)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("FRONTIER_TEST_BUDGET", "").lower() == "report" or hasattr(session.config, "workerinput"):
        return
    if budget_overruns() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _gpu_reason():
    from frontier.env import cupy_status

    ok, reason = cupy_status()
    return None if ok else f"no usable GPU: {reason}"


def _browser_reason():
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (it comes with `make setup`, the test extra)"
    for exe in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if exe and shutil.which(exe):
            return None
    return "Chromium is not installed (apt-get install chromium)"


#: Areas whose tests share session fixtures (a server, a course copy, one batch of executed notebooks): under
#: pytest-xdist (`make test` runs two workers) each of these areas stays on one worker (found by path, as the
#: scheduler sees only node ids), so its fixtures are made once; library and claim tests spread over both workers.
SHARED_FIXTURE_AREAS = ("notebooks", "grading", "browser")


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # optional: the Colab check runs without pytest-xdist
def pytest_xdist_make_scheduler(config, log):
    """Under ``make test``'s ``-n 2 --dist loadgroup``: every test of a shared-fixture area forms one scope that a
    single worker runs (so its server, course copies or executed notebooks are made once); every other test is a
    scope of its own and goes to whichever worker is free. (xdist's own ``xdist_group`` markers are not used: with
    this pytest the node-id suffix they rely on does not take effect.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class AreaScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            area = area_of(nodeid, ())
            return f"area:{area}" if area in SHARED_FIXTURE_AREAS else nodeid

    return AreaScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    gpu_reason = browser_reason = None
    gpu_checked = browser_checked = False
    for item in items:
        if "gpu" in item.keywords:
            if not gpu_checked:
                gpu_reason, gpu_checked = _gpu_reason(), True
            if gpu_reason:
                item.add_marker(pytest.mark.skip(reason=gpu_reason))
        if "long" in item.keywords and os.environ.get("FRONTIER_LONG_CLAIMS") != "1":
            item.add_marker(pytest.mark.skip(reason="a long claim test (its model trains for minutes): "
                                                    "`make test-long` runs it, and scheduled CI"))
        if "browser" in item.keywords:
            if not browser_checked:
                browser_reason, browser_checked = _browser_reason(), True
            if browser_reason:
                item.add_marker(pytest.mark.skip(reason=browser_reason))


def pytest_terminal_summary(terminalreporter):
    """Print the notebook wall-time table when the execution test ran, then the per-area budget table."""
    from pathlib import Path

    table = Path(__file__).resolve().parents[1] / "build" / "notebook-times.txt"
    if table.exists() and table.stat().st_mtime >= _SESSION_START:
        terminalreporter.write_sep("=", "notebook wall times (SMOKE mode, 2 jobs)")
        terminalreporter.write_line(table.read_text())
    if hasattr(terminalreporter.config, "workerinput") or not _AREA_SECONDS:
        return
    terminalreporter.write_sep("=", f"test time per area (budget: tests/conftest.py BUDGET; fail above {OVERRUN:g}x)")
    terminalreporter.write_line(format_budget_table())
    for area, seconds, allowance in budget_overruns():
        terminalreporter.write_line(
            f"BUDGET EXCEEDED: area '{area}' took {seconds:.0f} s, more than {OVERRUN:g} x its allowance of "
            f"{allowance} s ({OVERRUN * allowance:.0f} s). Make its tests share fixtures or move the slowest to "
            f".ci/run; see BUDGET in tests/conftest.py. (FRONTIER_TEST_BUDGET=report only reports.)", red=True)


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread: faster and steadier for tiny tensors on a shared CI machine.

    Opt in per module with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    try:  # the module is being renamed (issue 9: models/train.py -> models/training.py)
        from frontier.models.training import torch_threads
    except ImportError:
        from frontier.models.train import torch_threads

    with torch_threads(1):
        yield
