"""Shared pytest configuration: skip GPU and browser tests where they cannot run."""
from __future__ import annotations

import shutil
import time

import pytest

_SESSION_START = time.time()


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


def pytest_collection_modifyitems(config, items):
    gpu_reason = browser_reason = None
    gpu_checked = browser_checked = False
    for item in items:
        if "gpu" in item.keywords:
            if not gpu_checked:
                gpu_reason, gpu_checked = _gpu_reason(), True
            if gpu_reason:
                item.add_marker(pytest.mark.skip(reason=gpu_reason))
        if "browser" in item.keywords:
            if not browser_checked:
                browser_reason, browser_checked = _browser_reason(), True
            if browser_reason:
                item.add_marker(pytest.mark.skip(reason=browser_reason))


def pytest_terminal_summary(terminalreporter):
    """Print the notebook wall-time table when the execution test ran."""
    from pathlib import Path

    table = Path(__file__).resolve().parents[1] / "build" / "notebook-times.txt"
    if table.exists() and table.stat().st_mtime >= _SESSION_START:
        terminalreporter.write_sep("=", "notebook wall times (SMOKE mode, 2 jobs)")
        terminalreporter.write_line(table.read_text())


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread: faster and steadier for tiny tensors on a shared CI machine.

    Opt in per module with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    from frontier.models.train import torch_threads

    with torch_threads(1):
        yield
