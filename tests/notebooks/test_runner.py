"""The notebook runner: parameters reach the notebook, failures are named, bad paths are clear errors."""
import subprocess
import sys

import nbformat
import pytest

from frontier.notebooks.runner import format_table, run_notebooks


def _nb(path, *sources, params="SMOKE = False"):
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell(params)
    c.metadata["tags"] = ["parameters"]
    nb.cells.append(c)
    for s in sources:
        nb.cells.append(nbformat.v4.new_code_cell(s))
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_smoke_reaches_the_next_cell_and_failures_are_named(tmp_path):
    good = _nb(tmp_path / "good.ipynb", "N = 2 if SMOKE else 10\nassert N == 2, N\nimport os\n"
                                        "assert os.environ['FRONTIER_HEADLESS'] == '1'")
    bad = _nb(tmp_path / "bad.ipynb", "x = 1", "raise RuntimeError('boom in cell two')")
    results = run_notebooks([tmp_path], out_dir=tmp_path / "out", smoke=True, jobs=2, progress=False)
    by_name = {r.path.rsplit("/", 1)[-1]: r for r in results}
    assert by_name["good.ipynb"].ok, by_name["good.ipynb"].error
    b = by_name["bad.ipynb"]
    assert not b.ok and "RuntimeError" in b.error and "boom in cell two" in b.error
    assert b.cell_id and "raise RuntimeError" in b.error
    table = format_table(results)
    assert "FAILED" in table and "bad.ipynb" in table
    executed = nbformat.read(tmp_path / "out" / "good.ipynb", as_version=4) \
        if (tmp_path / "out" / "good.ipynb").exists() else None
    assert executed is None or executed.cells  # written under out/, never in place
    assert nbformat.read(good, as_version=4).cells[1].outputs == []


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        run_notebooks([tmp_path / "no-such-folder"], progress=False)
    r = subprocess.run([sys.executable, "-m", "frontier.notebooks", "run", str(tmp_path / "nope.ipynb")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "nope.ipynb" in r.stderr


def test_cli_exit_code_is_non_zero_on_failure(tmp_path):
    _nb(tmp_path / "bad.ipynb", "1/0")
    r = subprocess.run([sys.executable, "-m", "frontier.notebooks", "run", str(tmp_path), "--smoke",
                        "--no-progress", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "ZeroDivisionError" in r.stdout and "bad.ipynb" in r.stdout
