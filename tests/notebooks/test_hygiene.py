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


# --------------------------------------------------------------------------- Colab install cells with extras
from frontier.notebooks import COLAB_EXTRAS, colab_install_cell, parse_colab_install  # noqa: E402


def test_colab_install_cell_renders_sorted_unique_extras_and_parses_back():
    src = colab_install_cell(["knowledge", "finance", "knowledge"])
    assert '"llm-frontiers[finance,knowledge] @ git+https://github.com/' in src
    assert parse_colab_install(src) == ("finance", "knowledge")
    assert parse_colab_install(COLAB_SETUP_SOURCE) == ()
    assert colab_install_cell([]) == COLAB_SETUP_SOURCE
    for extra in COLAB_EXTRAS:
        assert parse_colab_install(colab_install_cell([extra])) == (extra,)


@pytest.mark.parametrize("extras, exc", [(["gpu"], ValueError), (["course"], ValueError), ("knowledge", TypeError)])
def test_colab_install_cell_rejects_unknown_extras(extras, exc):
    with pytest.raises(exc, match="extras"):
        colab_install_cell(extras)


def test_hygiene_accepts_extras_and_rejects_other_install_cells(scratch, tmp_path):
    nb, path = _lesson(tmp_path)
    nb.cells[1].source = colab_install_cell(["reasoning", "hf"])
    assert hygiene_problems(_write(nb, path)) == []
    for bad in (COLAB_SETUP_SOURCE.replace("llm-frontiers @", "llm-frontiers[gpu] @"),      # not a Colab extra
                COLAB_SETUP_SOURCE.replace('if "google.colab" in sys.modules:\n    ', ""),   # not guarded
                "%pip install -q llm-frontiers"):                                            # not from the repo
        nb.cells[1].source = bad
        problems = hygiene_problems(_write(nb, path))
        assert any("only on Colab" in p for p in problems), (bad, problems)


# --------------------------------------------------------------------------- control characters, answered questions
from frontier.notebooks.hygiene import ANSWER_BLOCK, unanswered_questions  # noqa: E402

_ANSWER = "<details><summary>Answer</summary>\n\nForty-two.\n</details>"


@pytest.mark.parametrize("char", ["\f", "\t", "\r", "\x00", "\x1b"])
@pytest.mark.parametrize("kind", ["markdown", "code"])
def test_control_characters_are_reported_in_any_cell(scratch, tmp_path, char, kind):
    nb, path = _lesson(tmp_path)
    new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    nb.cells.append(new(f"$C = \\lceil x {char}imes y \\rceil$"))
    problems = hygiene_problems(_write(nb, path))
    assert any("control characters" in p and repr(char) in p for p in problems), problems


def test_control_characters_are_reported_outside_lessons_too(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("a\fb"))
    path = tmp_path / "elsewhere.ipynb"
    nbformat.write(nb, path)
    assert any("control characters" in p for p in hygiene_problems(path))


def _with_questions(nb, *markdown):
    for text in markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(text))
    return nb


def test_answered_questions_pass(scratch, tmp_path):
    nb, path = _lesson(tmp_path)
    _with_questions(nb, f"## Check your understanding\n\n1. Why?\n   Really why?\n\n{_ANSWER}\n\n"
                        "2) How much?\n",
                    "<details>\n<summary>Answer</summary>\n\nA list inside an answer is not a question:\n\n"
                    "1. one\n2. two\n</details>\n\n## Summary\n\n1. Not a question: another section.")
    nb.cells.insert(-1, nbformat.v4.new_code_cell("print(6 * 7)"))      # a computed answer may sit between
    assert hygiene_problems(_write(nb, path)) == []


@pytest.mark.parametrize("text, missing", [
    ("## Check your understanding\n\n1. Why?\n2. How?\n\n" + _ANSWER, ["1"]),
    ("### Check Your Understanding\n\n1. Why?\n\n" + _ANSWER + "\n\n2. How?\n\n## Summary\n\n" + _ANSWER, ["2"]),
    ("## Check your understanding\n\n1. Why?\n\n<details><summary>Hint</summary>x</details>", ["1"]),
    ("## Check your understanding\n\n1. Why?\n2. How?\n3. What?", ["1", "2", "3"]),
])
def test_unanswered_questions_are_reported_with_what_to_add(scratch, tmp_path, text, missing):
    nb, path = _lesson(tmp_path)
    problems = [p for p in hygiene_problems(_write(_with_questions(nb, text), path)) if "no answer" in p]
    assert [p.split("question ")[1].split()[0] for p in problems] == missing
    assert all(ANSWER_BLOCK in p for p in problems)


def test_questions_outside_lessons_are_not_checked(tmp_path):
    nb = _with_questions(nbformat.v4.new_notebook(), "## Check your understanding\n\n1. Why?")
    assert unanswered_questions(nb) != []                      # the rule itself would fire ...
    path = tmp_path / "assignment.ipynb"
    nbformat.write(nb, path)
    assert not any("no answer" in p for p in hygiene_problems(path))   # ... but only lessons must answer
