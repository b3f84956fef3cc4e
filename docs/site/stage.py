"""Stage the course website's sources: executed lessons + the glossary + the TA guide -> one Sphinx source folder.

    python docs/site/stage.py [SRC] [DEST]        (``make site`` runs it; SRC defaults to build/executed)

SRC holds executed copies of the lessons at their repository paths (``SRC/course/<section>/<lesson>.ipynb``), as
``python -m frontier.notebooks run course/ [--smoke] --out SRC`` writes them. Only ``course/`` is published
(never ``solutions/``). Each lesson is copied to ``DEST/course/...`` with these changes, so the built pages work
offline and say what they are:

* a note at the top: the execution mode (a SMOKE banner when papermill injected ``SMOKE = True``; the published
  site uses full-mode executions and has none), links to open the lesson in Colab and on the course JupyterHub,
  and that interactive controls need a kernel (the page shows the figure they drew last);
* plotly.js is removed from the outputs (the first figure of a lesson carries the 4.8 MB bundle): the site loads
  one copy from ``_static/plotly.min.js`` (``conf.py``), taken from the installed ``plotly`` package;
* MathJax ``<script src=...cdn...>`` tags inside figure outputs are dropped (they would fetch from a CDN);
* ipywidgets views are replaced by a short note (their JavaScript would come from a CDN and they cannot move
  without a kernel) and the notebook's widget state is dropped; progress bars are dropped.

It also writes ``DEST/index.md`` (one toctree per section, the order of the folders), copies ``docs/glossary.md``,
``docs/ta_guide.md`` and ``docs/img/``, and ``DEST/_site.json`` (which lessons ran in SMOKE mode; ``conf.py`` reads
it to show a site-wide banner).
"""
from __future__ import annotations

import json
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
REPO = "llm-frontiers/llm-frontiers"
BRANCH = "main"
#: The course JupyterHub (docs/deploy.md); override with FRONTIER_HUB_URL when building the site.
DEFAULT_HUB_URL = "https://hub.llm-frontiers.example.org"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
_CDN_SCRIPT = re.compile(r'<script\s+src="https?://[^"]*"\s*>\s*</script>')
SMOKE_BANNER = ("**SMOKE run.** This page shows a SMOKE execution (small sizes, made by `make notebooks` for CI), so "
                "its numbers and figures are smaller and noisier than the effects the prose describes. The published "
                "site uses full-mode executions.")
WIDGET_NOTE = ("Interactive controls need a running kernel: on this page each interactive figure shows the figure "
               "it drew last. Open the lesson in Colab or on the course JupyterHub to move the controls.")


def colab_url(rel: str) -> str:
    """The Colab link for a repository path, the same one the lesson's badge uses."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{rel}"


def hub_url(rel: str, hub: str = DEFAULT_HUB_URL) -> str:
    """An nbgitpuller link: the hub clones (or updates) the course into the user's home and opens the lesson."""
    repo = quote(f"https://github.com/{REPO}", safe="")
    path = quote(f"lab/tree/{REPO.split('/')[1]}/{rel}", safe="")
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?repo={repo}&branch={BRANCH}&urlpath={path}"


def is_smoke(nb) -> bool:
    """Did papermill run this notebook with ``SMOKE = True`` (the runner's ``--smoke``)?"""
    params = (nb.metadata.get("papermill") or {}).get("parameters") or {}
    return bool(params.get("SMOKE", False))


def _has_plotlyjs(out: dict) -> bool:
    html = "".join(out.get("data", {}).get("text/html", ""))
    return "<script" in html and "* plotly.js v" in html


def _clean_outputs(outputs: List[dict]) -> List[dict]:
    """Drop the plotly.js bundle, CDN script tags, widget views (a note for controls) and progress bars."""
    import nbformat

    has_figure = any(PLOTLY_MIME in o.get("data", {}) for o in outputs)
    cleaned = []
    for out in outputs:
        data = out.get("data", {})
        if _has_plotlyjs(out):
            continue
        if WIDGET_MIME in data:
            if has_figure and not any(WIDGET_MIME in c.get("data", {}) for c in cleaned):
                cleaned.append(nbformat.v4.new_output("display_data", data={"text/html": (
                    '<div class="frontier-widget-note admonition note"><p>Interactive controls here: they need a '
                    'kernel to move. The figure below is the one they drew last.</p></div>')}))
            continue
        if "text/html" in data:
            html = "".join(data["text/html"])
            out = nbformat.from_dict({**out, "data": {**data, "text/html": _CDN_SCRIPT.sub("", html)}})
        cleaned.append(out)
    return cleaned


_LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")
#: Repository documents that the site publishes, and their page on the site.
SITE_DOCS = {"docs/glossary.md": "glossary.md", "docs/ta_guide.md": "ta_guide.md"}


def fix_links(markdown: str, rel: str, published) -> str:
    """Relative links of a lesson (at repository path ``rel``) that the site cannot serve -> links that work.

    A link to a published lesson stays as it is (the site keeps the repository's paths under ``course/``); one to
    the glossary or the TA guide points at its page on the site; any other repository file (an assignment, a
    module, a lesson without an executed copy) points at the file on GitHub. Web links and anchors are untouched.
    """

    def repl(m: "re.Match") -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            return m.group(0)
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if resolved in published or resolved.startswith(("img/", "../")):
            return m.group(0)
        if resolved in SITE_DOCS:
            new = posixpath.relpath(SITE_DOCS[resolved], posixpath.dirname(rel) or ".")
        else:
            new = f"https://github.com/{REPO}/blob/{BRANCH}/{resolved}"
        return f"{m.group(1)}{new}{m.group(3) or ''}{m.group(4)}"

    return _LINK.sub(repl, markdown)


def _top_cell(rel: str, smoke: bool, hub: str) -> str:
    lines = []
    if smoke:
        lines += ["```{warning}", SMOKE_BANNER, "```", ""]
    lines += ["```{note}", f"[Open in Colab]({colab_url(rel)}) · [Launch on the course JupyterHub]({hub_url(rel, hub)})",
              "", WIDGET_NOTE, "```"]
    return "\n".join(lines)


def stage_notebook(src: Path, dest: Path, rel: str, hub: str = DEFAULT_HUB_URL, published=()) -> bool:
    """Copy one executed lesson for the site (see the module docstring); return whether it was a SMOKE run.

    ``published``: repository paths of every lesson on the site (links to others go to GitHub, :func:`fix_links`).
    """
    import nbformat

    nb = nbformat.read(src, as_version=4)
    smoke = is_smoke(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _clean_outputs(cell.get("outputs", []))
        elif cell.cell_type == "markdown":
            cell.source = fix_links(cell.source, rel, set(published) or {rel})
    note = nbformat.v4.new_markdown_cell(_top_cell(rel, smoke, hub))
    note.metadata["tags"] = ["frontier-site-note"]
    # After the title cell, so the page's title stays the lesson's first heading.
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("#") else 0
    nb.cells.insert(at, note)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return smoke


def section_caption(folder: str) -> str:
    """``01_architecture`` -> ``1. Architecture``."""
    m = re.match(r"(\d+)_(.*)", folder)
    if not m:
        return folder.replace("_", " ").capitalize()
    return f"{int(m.group(1))}. {m.group(2).replace('_', ' ').capitalize()}"


@dataclass
class Staged:
    dest: Path
    lessons: Dict[str, bool] = field(default_factory=dict)   # repository path -> SMOKE run?
    missing: List[str] = field(default_factory=list)         # lessons in course/ with no executed copy

    @property
    def smoke(self) -> List[str]:
        return [rel for rel, s in self.lessons.items() if s]


def _index(staged: Staged) -> str:
    intro = ["# LLM Frontiers", "",
             "A hands-on course on where large language models are heading. Each page is a lesson notebook, executed; "
             "open it in Colab or on the course JupyterHub to run it and move its controls.", ""]
    if staged.smoke:
        intro += ["```{warning}", f"{len(staged.smoke)} of {len(staged.lessons)} lessons on this site are SMOKE runs "
                  "(small sizes, for CI): their numbers are not the effects the prose describes.", "```", ""]
    groups: Dict[str, List[str]] = {}
    for rel in staged.lessons:
        parts = Path(rel).parts  # course/<section>/<lesson>.ipynb or course/<lesson>.ipynb
        groups.setdefault(parts[1] if len(parts) > 2 else "", []).append(Path(rel).with_suffix("").as_posix())
    out = list(intro)
    for folder in sorted(groups):
        caption = "Start here" if not folder else section_caption(folder)
        out += ["```{toctree}", f":caption: {caption}", ":maxdepth: 1", "", *groups[folder], "```", ""]
    out += ["```{toctree}", ":caption: Reference", ":maxdepth: 1", "", "glossary", "ta_guide", "```", ""]
    return "\n".join(out)


def stage(src: Path, dest: Path, hub: Optional[str] = None) -> Staged:
    """Build the Sphinx source folder ``dest`` from the executed lessons under ``src``; return what was staged."""
    import os

    src, dest = Path(src), Path(dest)
    hub = hub or os.environ.get("FRONTIER_HUB_URL", DEFAULT_HUB_URL)
    if not (src / "course").is_dir():
        raise FileNotFoundError(f"no executed lessons under {src}/course (run `make notebooks` first)")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    staged = Staged(dest)
    found = [p for p in sorted((src / "course").rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    published = {p.relative_to(src).as_posix() for p in found}
    for nb_path in found:
        rel = nb_path.relative_to(src).as_posix()
        staged.lessons[rel] = stage_notebook(nb_path, dest / rel, rel, hub, published)
    if not staged.lessons:
        raise ValueError(f"no executed lessons under {src}/course (run `make notebooks` first)")
    staged.missing = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "course").rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts
                            and p.relative_to(ROOT).as_posix() not in staged.lessons)
    for name in ("glossary.md", "ta_guide.md"):
        shutil.copy2(ROOT / "docs" / name, dest / name)
    if (ROOT / "docs" / "img").is_dir():
        shutil.copytree(ROOT / "docs" / "img", dest / "img")
    (dest / "index.md").write_text(_index(staged), encoding="utf-8")
    (dest / "_site.json").write_text(json.dumps({"lessons": staged.lessons, "smoke": staged.smoke,
                                                  "missing": staged.missing, "hub": hub}, indent=1))
    return staged


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    src = Path(args[0]) if args else ROOT / "build" / "executed"
    dest = Path(args[1]) if len(args) > 1 else ROOT / "build" / "site-src"
    try:
        staged = stage(src, dest)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"site: {len(staged.lessons)} lessons from {src} ({len(staged.smoke)} SMOKE runs) -> {dest}")
    if staged.missing:
        print(f"site: {len(staged.missing)} lessons have no executed copy in {src} and are left out: "
              + ", ".join(staged.missing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
