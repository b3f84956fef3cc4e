"""Sphinx configuration for the course website (``make site``; see docs/site/stage.py for the sources).

Sphinx, myst-nb and sphinx-book-theme, all from PyPI (the ``[site]`` extra); the build needs no network: the
notebooks are already executed (myst-nb never runs them), plotly.js is served once from ``_static/`` (copied from
the installed ``plotly`` package), and search is Sphinx's own (an index file, searched in the browser).

The source folder is the staged one, ``FRONTIER_SITE_STAGE`` (default ``build/site-src``): ``make site`` runs
``sphinx-build -c docs/site build/site-src build/site``.
"""
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGE = Path(os.environ.get("FRONTIER_SITE_STAGE", ROOT / "build" / "site-src")).resolve()
SITE = json.loads((STAGE / "_site.json").read_text()) if (STAGE / "_site.json").exists() else {"smoke": []}
REPOSITORY = "https://github.com/llm-frontiers/llm-frontiers"

project = "LLM Frontiers"
author = "The LLM Frontiers course team"
copyright = "the LLM Frontiers course team, MIT licence"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_site.json"]
root_doc = "index"

# -- Notebooks: shown as executed, never run again ----------------------------------------------------------------
nb_execution_mode = "off"
nb_output_stderr = "remove"          # tqdm's progress bars and warnings: noise on a web page
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Plotly's JSON mime type is not rendered by myst-nb; the text/html beside it (Plotly.newPlot) is.
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "myst.xref_missing"]

# -- plotly.js once, locally ----------------------------------------------------------------------------------------
_static = STAGE / "_static"
_static.mkdir(parents=True, exist_ok=True)
try:
    from plotly.offline import get_plotlyjs

    (_static / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
except ImportError:  # pragma: no cover - plotly is a base dependency
    pass
html_static_path = [str(_static), str(Path(__file__).parent / "_static")]
# In <head>, before the pages' inline Plotly.newPlot calls run (no defer/async).
html_js_files = [("plotly.min.js", {"priority": 200})]
html_css_files = ["frontier.css"]

# -- Theme --------------------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "LLM Frontiers"
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "use_repository_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
}
if SITE.get("smoke"):
    html_theme_options["announcement"] = (
        f"SMOKE runs: {len(SITE['smoke'])} of {len(SITE.get('lessons', {}))} lessons here were executed with small "
        "sizes (make notebooks). Their numbers are not the effects the prose describes; the published site uses "
        "full-mode executions.")
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
