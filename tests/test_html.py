"""`make html`: an executed lesson becomes one HTML page that carries its figures' data and plotly.js itself.

One lesson is executed in SMOKE mode with the course's runner into a temporary folder, then converted with
`make html HTML_SRC=... HTML_OUT=...`. The page must hold every figure's data (its title and its trace arrays, as
the executed notebook has them), plotly.js exactly once, and no <script> that would fetch plotly.js from a CDN.
tests/browser/test_html_offline.py opens such a page in Chromium with the network cut off.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = "course/00_start_here.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    env = {k: v for k, v in os.environ.items() if k != "FRONTIER_HEADLESS"}
    run = subprocess.run([sys.executable, "-m", "frontier.notebooks", "run", LESSON, "--smoke", "--no-progress",
                          "--out", str(tmp / "executed")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    conv = subprocess.run(["make", "--no-print-directory", "html", f"HTML_SRC={tmp / 'executed'}",
                           f"HTML_OUT={tmp / 'html'}"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert conv.returncode == 0, conv.stdout + conv.stderr
    executed = tmp / "executed" / LESSON
    page = (tmp / "html" / LESSON).with_suffix(".html")
    assert page.exists(), f"make html wrote no {page.relative_to(tmp)}:\n{conv.stdout}"
    return nbformat.read(executed, as_version=4), page


def _figures(nb):
    """The plotly figures among the executed notebook's cell outputs (static figures, not widget state)."""
    return [out["data"][PLOTLY_MIME] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if PLOTLY_MIME in out.get("data", {})]


def _array_fingerprint(values) -> list:
    """Strings that must appear in the page for one data array: its base64 payload (as plotly writes it into a
    <script>, with '/' escaped), or the first numbers of a plain list."""
    if isinstance(values, dict) and "bdata" in values:
        return [values["bdata"][:200].replace("/", "\\u002f"), values["bdata"][:200]]
    if isinstance(values, list) and values:
        head = json.dumps(values[:4], separators=(",", ":"))[1:-1]
        return [head]
    return []


@pytest.mark.slow
def test_html_page_carries_its_figures_and_plotlyjs(rendered):
    from plotly.offline import get_plotlyjs

    nb, page = rendered
    html = page.read_text(encoding="utf-8")
    figures = _figures(nb)
    assert figures, f"{LESSON} executed without a single static figure; nothing to check"
    for fig in figures:
        title = fig.get("layout", {}).get("title", {})
        title = title.get("text", "") if isinstance(title, dict) else str(title or "")
        assert title and json.dumps(title)[1:-1] in html, f"figure title {title!r} is not in the page"
        for trace in fig.get("data", []):
            for axis in ("x", "y", "z"):
                prints = _array_fingerprint(trace.get(axis))
                assert not prints or any(p in html for p in prints), \
                    f"the {axis} data of trace {trace.get('name')!r} in {title!r} is not in the page"
    bundle = get_plotlyjs()
    probe = bundle[len(bundle) // 2: len(bundle) // 2 + 2000]  # a slice from the middle of the library
    assert html.count(probe) == 1, f"plotly.js should be embedded exactly once, found {html.count(probe)} copies"
    # (plotly.js itself mentions cdn.plot.ly, for map topologies, so look at <script src=...> only.)
    cdn = re.findall(r"<script[^>]*\bsrc=[\"'][^\"']*(?:plotly|plot\.ly)[^\"']*[\"']", html, flags=re.IGNORECASE)
    assert not cdn, f"the page loads plotly.js from the network: {cdn[:3]}"
