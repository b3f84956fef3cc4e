"""Every committed notebook is clean; the hygiene checker catches each kind of problem."""
import json
import shutil

import nbformat
import pytest

from frontier.notebooks import COLAB_SETUP_SOURCE, REPO_ROOT, colab_badge, colab_url
from frontier.notebooks.hygiene import clean_notebook, hygiene_problems, tracked_notebooks

NOTEBOOKS = tracked_notebooks()


def test_there_are_notebooks():
    rel = {p.relative_to(REPO_ROOT).as_posix() for p in NOTEBOOKS}
    assert {"course/00_start_here.ipynb", "course/01_architecture/01_attention_cost.ipynb"} <= rel


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_notebook_is_clean(path):
    assert hygiene_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_cleaning_a_clean_notebook_changes_nothing(path):
    assert clean_notebook(path, write=False) is False, "run `make clean-notebooks`"


def _lesson(tmp_path, rel="course/99_x/01_demo.ipynb", badge=True, setup=True, params="SMOKE = False"):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Demo\n\n" + (colab_badge(rel) if badge else "")))
    if setup:
        nb.cells.append(nbformat.v4.new_code_cell(COLAB_SETUP_SOURCE))
    if params is not None:
        c = nbformat.v4.new_code_cell(params)
        c.metadata["tags"] = ["parameters"]
        nb.cells.append(c)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    path = REPO_ROOT / rel
    return nb, path


@pytest.fixture
def scratch():
    folder = REPO_ROOT / "course" / "99_x"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_a_good_lesson_passes(scratch, tmp_path):
    nb, path = _lesson(tmp_path)
    assert hygiene_problems(_write(nb, path)) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(badge=False), "Open-in-Colab badge"),
    (dict(setup=False), "install the package only on Colab"),
    (dict(params=None), "tagged 'parameters'"),
    (dict(params="SEED = 0"), "does not define SMOKE"),
    (dict(params="SMOKE = False\nN = 10 if SMOKE else 100"), "next cell"),
])
def test_each_problem_is_reported(scratch, tmp_path, kwargs, message):
    nb, path = _lesson(tmp_path, **kwargs)
    problems = hygiene_problems(_write(nb, path))
    assert any(message in p for p in problems), problems


def test_a_badge_for_another_path_is_reported(scratch, tmp_path):
    nb, path = _lesson(tmp_path)
    nb.cells[0].source = "# Demo\n\n" + colab_badge("course/elsewhere.ipynb")
    assert any("badge" in p for p in hygiene_problems(_write(nb, path)))


@pytest.mark.filterwarnings("ignore::nbformat.warnings.DuplicateCellId")
def test_outputs_duplicate_ids_and_widget_state_are_reported_and_cleaned(scratch, tmp_path):
    nb, path = _lesson(tmp_path)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[-1].execution_count = 3
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    _write(nb, path)
    raw = json.loads(path.read_text())          # nbformat.write repairs duplicate ids, so break them by hand
    raw["cells"][-1]["id"] = raw["cells"][-2]["id"]
    path.write_text(json.dumps(raw))
    problems = hygiene_problems(path)
    assert any("outputs" in p for p in problems) and any("duplicate" in p for p in problems)
    assert any("widget state" in p for p in problems)
    assert clean_notebook(path) is True
    assert hygiene_problems(path) == []
    assert clean_notebook(path) is False


def test_old_nbformat_is_upgraded(scratch, tmp_path):
    nb, path = _lesson(tmp_path)
    _write(nb, path)
    raw = json.loads(path.read_text())
    raw["nbformat_minor"] = 4
    for c in raw["cells"]:
        c.pop("id", None)
    path.write_text(json.dumps(raw))
    assert any("4.5" in p for p in hygiene_problems(path))
    clean_notebook(path)
    assert hygiene_problems(path) == []


def test_colab_url_matches_path_and_rejects_escapes():
    assert colab_url("course/a.ipynb").endswith("/blob/main/course/a.ipynb")
    with pytest.raises(ValueError):
        colab_url("../outside.ipynb")
