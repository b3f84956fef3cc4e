"""The course website (`make site`) in Chromium, offline: navigation by section, Sphinx's search, figures that draw.

It tests the built site in ``build/site/`` (``FRONTIER_SITE_DIR`` to point elsewhere) and is skipped when there is
none, so `make test` does not build the site; `make test-site` builds it and runs this. The site is served by
Python's ``http.server`` on 127.0.0.1, and every request to another host is refused, as it would be offline.
Screenshots go to ``build/screenshots/site/``.
"""
from __future__ import annotations

import functools
import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("FRONTIER_SITE_DIR", ROOT / "build" / "site"))
STAGE = Path(os.environ.get("FRONTIER_SITE_STAGE", ROOT / "build" / "site-src"))
PLOTLY_MIME = "application/vnd.plotly.v1+json"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _site_info() -> dict:
    if not (SITE / "index.html").exists() or not (STAGE / "_site.json").exists():
        pytest.skip(f"no built site in {SITE} (run `make site`, or `make test-site`)")
    return json.loads((STAGE / "_site.json").read_text())


@pytest.fixture(scope="module")
def site_server():
    info = _site_info()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", info
    finally:
        httpd.shutdown()


@pytest.fixture
def offline_page(browser, site_server):
    """A page that may load only from the local server; refused URLs and uncaught errors are recorded."""
    base, _ = site_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    refused, errors = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                  else (refused.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{exc.name}: {exc.message}"))
    page.refused, page.errors = refused, errors
    try:
        yield page
    finally:
        context.close()


def _figure_titles(rel: str) -> list:
    """Titles of the static plotly figures in the staged (published) copy of a lesson."""
    nb = nbformat.read(STAGE / rel, as_version=4)
    titles = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if PLOTLY_MIME in out.get("data", {}) and "text/html" in out["data"]:
                t = out["data"][PLOTLY_MIME].get("layout", {}).get("title", {})
                titles.append(t.get("text", "") if isinstance(t, dict) else str(t or ""))
    return titles


def test_site_navigation_search_and_figures(offline_page, site_server, screenshots):
    base, info = site_server
    page, shots = offline_page, screenshots("site")
    lessons = sorted(info["lessons"])
    assert lessons, "the site has no lessons"
    smoke = set(info["smoke"])

    # 1. The home page: one navigation caption per section, every lesson linked under it.
    page.goto(f"{base}/index.html", wait_until="load")
    captions = page.locator(".bd-sidebar-primary p.caption").all_inner_texts()
    sections = sorted({Path(rel).parts[1] for rel in lessons if len(Path(rel).parts) > 2})
    for folder in sections:
        number, name = folder.split("_", 1)
        assert f"{int(number)}. {name.replace('_', ' ').capitalize()}" in [c.strip() for c in captions], captions
    assert "Reference" in [c.strip() for c in captions]
    hrefs = page.eval_on_selector_all(".bd-sidebar-primary a.reference.internal", "els => els.map(e => e.href)")
    for rel in lessons:
        assert any(unquote(urlparse(h).path).endswith(Path(rel).with_suffix(".html").as_posix()) for h in hrefs), rel
    if smoke:
        assert "SMOKE" in page.locator(".bd-header-announcement").inner_text()
    page.screenshot(path=str(shots / "01_home.png"))

    # 2. A lesson reached through the navigation: its figures draw (plotly.js from _static), its links point at
    #    the same repository path, and the page says whether it is a SMOKE run and that widgets need a kernel.
    rel = next((r for r in lessons if _figure_titles(r)), lessons[0])
    titles = _figure_titles(rel)
    assert titles, f"no lesson on the site has a static figure ({lessons})"
    page.locator(f'.bd-sidebar-primary a[href$="{Path(rel).with_suffix(".html").name}"]').first.click()
    page.wait_for_url(f"**/{Path(rel).with_suffix('.html').as_posix()}")
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.js-plotly-plot')].filter((g) => g._fullLayout).length >= n",
        arg=len(titles), timeout=60_000)
    drawn = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].filter((g) => g._fullLayout)"
                          ".map((g) => (g.layout.title && (g.layout.title.text ?? g.layout.title)) || '')")
    assert sorted(drawn) == sorted(titles)
    assert page.locator(".js-plotly-plot .main-svg").count() >= len(titles)  # drawn as SVG, not just a <div>
    colab = page.locator("a", has_text="Open in Colab").first.get_attribute("href")
    assert colab.endswith(f"/blob/main/{rel}"), colab
    hub = page.locator("a", has_text="Launch on the course JupyterHub").first.get_attribute("href")
    assert "/hub/user-redirect/git-pull?" in hub and rel.replace("/", "%2F") in hub, hub
    body = page.locator("main").inner_text()
    assert "need a running kernel" in body or "need a kernel to move" in body
    assert ("SMOKE run." in body) == (rel in smoke)
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "02_lesson_figure.png"))

    # 3. Sphinx's search, in the browser (searchindex.js): a word from the glossary finds the glossary page.
    page.goto(f"{base}/search.html?q=head_dim", wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length > 0", timeout=30_000)
    found = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    assert any("glossary" in h for h in found), found
    page.screenshot(path=str(shots / "03_search.png"))

    # 4. The glossary and the TA guide are pages of the site, reached from the navigation.
    for name, heading in (("glossary", "glossary"), ("ta_guide", "")):
        page.goto(f"{base}/index.html", wait_until="load")
        page.locator(f'.bd-sidebar-primary a[href="{name}.html"]').first.click()
        page.wait_for_url(f"**/{name}.html")
        assert page.locator("main h1").first.inner_text().strip()
        if heading:
            assert heading in page.locator("main h1").first.inner_text().lower()
    page.screenshot(path=str(shots / "04_ta_guide.png"))

    assert not page.errors, f"uncaught errors on the site: {page.errors}"
    # Only CDN files are refused (MathJax for formulas, the lessons' badge images); never a file of the site.
    assert all(urlparse(u).hostname not in ("127.0.0.1", "localhost") for u in page.refused)
