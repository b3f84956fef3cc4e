"""Executed notebooks -> standalone HTML pages whose plotly figures show offline (``make html``).

    python -m frontier.notebooks html build/executed build/html

Each notebook under SRC (executed by `make notebooks`, so its figures are saved as outputs) becomes one HTML file
at the same relative path under OUT. An executed notebook carries each figure as plotly JSON plus an HTML snippet
that calls ``Plotly.newPlot``. plotly.js itself is in the output of the first static figure when plotly's
``notebook`` renderer was active (``frontier.viz.setup_notebook``); when no output carries it, this script embeds
the copy shipped inside the installed ``plotly`` package once, at the top of ``<head>``. Either way the pages load
no plotly.js from a CDN.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["export_html", "to_html", "plotly_script", "main"]

MARKER = "<!-- plotly.js embedded by make html -->"


def plotly_script() -> str:
    import plotly
    from plotly.offline import get_plotlyjs

    return (f'{MARKER}\n<script type="text/javascript">/* plotly.js for plotly.py {plotly.__version__} */\n'
            f"{get_plotlyjs()}\n</script>\n")


def uses_plotly(nb) -> bool:
    return any("application/vnd.plotly.v1+json" in out.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


def carries_plotlyjs(nb) -> bool:
    """Does a cell output already hold the plotly.js bundle (plotly's ``notebook`` renderer puts it there)?"""
    return any("<script" in html and "* plotly.js v" in html
               for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
               for html in ["".join(out.get("data", {}).get("text/html", ""))])


def to_html(nb_path: Path, exporter, script: str) -> str:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": nb_path.stem}})
    if uses_plotly(nb) and not carries_plotlyjs(nb) and MARKER not in body:
        # Before any other script: plotly.js must define window.Plotly before the figures' newPlot calls run,
        # and before require.js (which nbconvert loads for widgets) could capture it as an AMD module.
        head = body.find("<head>")
        at = head + len("<head>") if head >= 0 else 0
        body = body[:at] + "\n" + script + body[at:]
    return body


def export_html(src: Path, out: Path, verbose: bool = True) -> list:
    """Write one HTML page under ``out`` for every notebook under ``src`` (same relative paths); return them."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise FileNotFoundError(f"no such folder: {src} (run `make notebooks` first)")
    notebooks = sorted(p for p in src.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        raise ValueError(f"no executed notebooks under {src}: run `make notebooks` first")
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    script = plotly_script()
    written = []
    for nb_path in notebooks:
        target = out / nb_path.relative_to(src).with_suffix(".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_html(nb_path, exporter, script), encoding="utf-8")
        written.append(target)
        if verbose:
            print(f"{target}  ({target.stat().st_size / 1e6:.1f} MB)")
    if verbose:
        print(f"{len(notebooks)} notebooks -> {out}/ (plotly.js embedded: the pages work offline)")
    return written


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m frontier.notebooks html SRC OUT", file=sys.stderr)
        return 2
    try:
        export_html(Path(args[0]), Path(args[1]))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
