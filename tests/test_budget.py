"""The test suite's budget (tests/conftest.py): areas, the per-area table, and a run that fails on an overrun."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _conftest():
    spec = importlib.util.spec_from_file_location("_frontier_root_conftest", ROOT / "tests" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_items_are_classified_by_marker_then_path():
    ct = _conftest()
    assert ct.area_of("tests/architecture/test_params.py::test_x", {}) == "library"
    assert ct.area_of("tests/architecture/test_ssm.py::test_claim", {"slow": 1}) == "claims"
    assert ct.area_of("tests/grading/test_grading_autograde.py::test_x[ex1]", {"slow": 1}) == "grading"
    assert ct.area_of("tests/notebooks/test_execute_all.py::test_every_notebook_executes", {"slow": 1}) == "notebooks"
    assert ct.area_of("tests/grading/test_formgrader.py::test_ta", {"slow": 1, "browser": 1}) == "browser"
    assert ct.area_of("tests/test_lab.py::test_lab_starts", {"slow": 1}) == "browser"
    assert set(ct.BUDGET) == {area for area, _ in ct.AREA_RULES}


def test_overruns_are_areas_above_one_and_a_half_allowances():
    ct = _conftest()
    allowance = ct.BUDGET["grading"]
    assert ct.budget_overruns({"grading": allowance * 1.49}) == []
    assert ct.budget_overruns({"grading": allowance * 1.51}) == [("grading", allowance * 1.51, allowance)]
    table = ct.format_budget_table({"grading": allowance * 1.2, "library": 1.0}, {"grading": {"a"}, "library": {"b"}})
    assert "over allowance" in table and "total" in table


def test_a_run_over_budget_fails_and_names_the_area(tmp_path):
    """A copy of the conftest with a tiny allowance: the run's tests pass, the run fails, the message names it."""
    (tmp_path / "tests").mkdir()
    text = (ROOT / "tests" / "conftest.py").read_text()
    text = text.replace('"claims": 150,', '"claims": 0.05,')
    (tmp_path / "tests" / "conftest.py").write_text(text)
    (tmp_path / "tests" / "test_slow_claim.py").write_text(
        "import time, pytest\n\n@pytest.mark.slow\ndef test_sleeps():\n    time.sleep(0.3)\n\n"
        "def test_fast():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n    gpu: gpu\n    browser: browser\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "FRONTIER_TEST_BUDGET"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=env)
    assert "2 passed" in run.stdout, run.stdout
    assert run.returncode == 1, run.stdout
    assert "BUDGET EXCEEDED: area 'claims'" in run.stdout
    assert "test time per area" in run.stdout
    env_run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120,
                             env={**__import__("os").environ, "FRONTIER_TEST_BUDGET": "report"})
    assert env_run.returncode == 0, env_run.stdout
    shutil.rmtree(tmp_path / "tests")
