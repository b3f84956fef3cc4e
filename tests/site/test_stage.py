"""The website's staging (docs/site/stage.py): what a published page keeps, drops and says, on synthetic lessons."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("frontier_site_stage", ROOT / "docs" / "site" / "stage.py")
stage_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = stage_mod  # dataclasses look their module up there
_spec.loader.exec_module(stage_mod)

WIDGET = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"
PLOTLYJS = "<script type=\"text/javascript\">/**\n* plotly.js v9.9.9\n*/ window.Plotly = {};</script>"
FIGURE = ('<div><script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/3.2.2/es5/tex-svg.min.js"></script>'
          '<div id="fig"></div><script>Plotly.newPlot("fig", [], {})</script></div>')


def lesson(smoke) -> nbformat.NotebookNode:
    """A lesson as the runner leaves it: plotly.js in the first output, a widget view beside a figure, a bar."""
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell("# 9.1 A synthetic lesson\n\nThe hook."),
                v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
                v4.new_code_cell("explorer", outputs=[
                    v4.new_output("display_data", data={"text/html": PLOTLYJS}),
                    v4.new_output("display_data", data={WIDGET: {"model_id": "a", "version_major": 2,
                                                                 "version_minor": 0}, "text/plain": "VBox()"}),
                    v4.new_output("display_data", data={PLOTLY: {"data": [], "layout": {"title": {"text": "t"}}},
                                                        "text/html": FIGURE})]),
                v4.new_code_cell("train()", outputs=[
                    v4.new_output("display_data", data={WIDGET: {"model_id": "b", "version_major": 2,
                                                                 "version_minor": 0}, "text/plain": "bar"})])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    if smoke is not None:
        nb.metadata["papermill"] = {"parameters": {"SMOKE": smoke}}
    return nb


def write_executed(src: Path, rels_smoke: dict) -> None:
    for rel, smoke in rels_smoke.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(lesson(smoke), src / rel)


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.parametrize("smoke", [True, False, None])
def test_a_staged_lesson_says_its_mode_and_keeps_only_offline_content(tmp_path, smoke):
    rel = "course/09_synthetic/01_lesson.ipynb"
    write_executed(tmp_path / "src", {rel: smoke})
    staged = stage_mod.stage(tmp_path / "src", tmp_path / "dest", hub="https://hub.example.test")
    assert staged.lessons == {rel: bool(smoke)}
    nb = nbformat.read(tmp_path / "dest" / rel, as_version=4)
    # The title stays first (it is the page title); the note comes right after it.
    assert nb.cells[0].source.startswith("# 9.1") and "frontier-site-note" in nb.cells[1].metadata["tags"]
    note = nb.cells[1].source
    assert ("SMOKE run." in note) == bool(smoke)
    assert f"https://colab.research.google.com/github/llm-frontiers/llm-frontiers/blob/main/{rel}" in note
    assert ("https://hub.example.test/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fllm-frontiers"
            "%2Fllm-frontiers&branch=main&urlpath=lab%2Ftree%2Fllm-frontiers%2Fcourse%2F09_synthetic%2F01_lesson"
            ".ipynb") in note
    outs = outputs(nb)
    html = ["".join(o.get("data", {}).get("text/html", "")) for o in outs]
    assert not any("plotly.js v" in h for h in html), "the 4.8 MB plotly.js bundle must not be in every page"
    assert not any("cdnjs" in h for h in html)
    assert not any(WIDGET in o.get("data", {}) for o in outs) and "widgets" not in nb.metadata
    # One note for the controls (beside the figure), nothing for the progress bar, the figure kept.
    assert sum("need a kernel to move" in h for h in html) == 1
    assert sum(PLOTLY in o.get("data", {}) for o in outs) == 1 and any("Plotly.newPlot" in h for h in html)
    assert len(nb.cells[-1].outputs) == 0


def test_index_groups_lessons_by_section_in_course_order(tmp_path):
    write_executed(tmp_path / "src", {"course/02_reasoning/01_a.ipynb": True,
                                      "course/01_architecture/02_b.ipynb": False,
                                      "course/01_architecture/01_a.ipynb": False})
    (tmp_path / "src" / "solutions").mkdir()
    nbformat.write(lesson(True), tmp_path / "src" / "solutions" / "ex.ipynb")  # never published
    staged = stage_mod.stage(tmp_path / "src", tmp_path / "dest")
    index = (tmp_path / "dest" / "index.md").read_text()
    order = [index.index(s) for s in (":caption: 1. Architecture", "course/01_architecture/01_a",
                                      "course/01_architecture/02_b", ":caption: 2. Reasoning",
                                      "course/02_reasoning/01_a", ":caption: Reference", "glossary", "ta_guide")]
    assert order == sorted(order)
    assert "1 of 3 lessons on this site are SMOKE runs" in index
    assert not (tmp_path / "dest" / "solutions").exists()
    info = json.loads((tmp_path / "dest" / "_site.json").read_text())
    assert info["smoke"] == ["course/02_reasoning/01_a.ipynb"] == staged.smoke
    assert (tmp_path / "dest" / "glossary.md").read_text() == (ROOT / "docs" / "glossary.md").read_text()


def test_links_the_site_cannot_serve_point_at_github_or_the_site_pages():
    rel = "course/01_architecture/01_a.ipynb"
    published = {rel, "course/01_architecture/02_b.ipynb"}
    md = ("[next](02_b.ipynb) [start](../00_start_here.ipynb#goals) [ex](../../assignments/ex1/ex1.ipynb) "
          "[glossary](../../docs/glossary.md#sizes) [web](https://arxiv.org/abs/2205.14135) [here](#section)")
    fixed = stage_mod.fix_links(md, rel, published)
    gh = "https://github.com/llm-frontiers/llm-frontiers/blob/main/"
    assert "[next](02_b.ipynb)" in fixed                                   # published: the site's own page
    assert f"[start]({gh}course/00_start_here.ipynb#goals)" in fixed        # not executed: GitHub, anchor kept
    assert f"[ex]({gh}assignments/ex1/ex1.ipynb)" in fixed
    assert "[glossary](../../glossary.md#sizes)" in fixed                   # the site's glossary page
    assert "[web](https://arxiv.org/abs/2205.14135)" in fixed and "[here](#section)" in fixed


def test_no_executed_lessons_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="make notebooks"):
        stage_mod.stage(tmp_path / "nothing", tmp_path / "dest")
    assert stage_mod.section_caption("07_society") == "7. Society"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_full_mode_site_has_no_smoke_banner_and_a_smoke_site_has_one(tmp_path):
    """Sphinx on the staged sources (what `make site` runs): the banner follows the executions' mode."""
    pytest.importorskip("myst_nb")
    pytest.importorskip("sphinx_book_theme")
    rel = "course/09_synthetic/01_lesson.ipynb"
    pages = {}
    for mode in (True, False):
        src, dest, out = (tmp_path / f"{mode}" / name for name in ("src", "stage", "site"))
        write_executed(src, {rel: mode})
        stage_mod.stage(src, dest)
        env = {**os.environ, "FRONTIER_SITE_STAGE": str(dest)}
        done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(ROOT / "docs" / "site"),
                               str(dest), str(out)], env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        pages[mode] = (out / rel).with_suffix(".html").read_text()
        assert (out / "_static" / "plotly.min.js").stat().st_size > 1e6
        assert "_static/plotly.min.js" in pages[mode] and (out / "searchindex.js").exists()
    assert "bd-header-announcement" in pages[True] and "SMOKE run." in pages[True]
    assert "bd-header-announcement" not in pages[False] and "SMOKE run." not in pages[False]
