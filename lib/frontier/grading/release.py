"""Comparing a generated release with the committed one (``python -m frontier.grading release --check``)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

__all__ = ["NotebookDiff", "compare_releases"]


@dataclass
class NotebookDiff:
    """How a generated release differs from the committed one (empty lists: identical)."""

    notebook: str
    problems: List[str] = field(default_factory=list)


def _comparable(cell) -> tuple:
    meta = dict(cell.metadata.get("nbgrader", {}))
    return (cell.cell_type, cell.get("id"), cell.source, tuple(sorted(cell.metadata.get("tags", []))),
            tuple(sorted((k, repr(v)) for k, v in meta.items())))


def compare_releases(generated: str | os.PathLike, committed: str | os.PathLike) -> List[NotebookDiff]:
    """Compare two release folders cell by cell (type, id, source, tags, nbgrader metadata).

    Outputs and other volatile fields are ignored.  Returns only the
    notebooks that differ (an empty list means the same release).
    """
    import nbformat

    generated, committed = Path(generated), Path(committed)
    diffs: List[NotebookDiff] = []
    names = sorted({p.name for p in generated.glob("*.ipynb")} | {p.name for p in committed.glob("*.ipynb")})
    for name in names:
        d = NotebookDiff(name)
        g, c = generated / name, committed / name
        if not c.exists():
            d.problems.append("not committed: run `make assignments`")
        elif not g.exists():
            d.problems.append("committed but no longer generated from solutions/")
        else:
            gc = nbformat.read(g, as_version=4).cells
            cc = nbformat.read(c, as_version=4).cells
            if len(gc) != len(cc):
                d.problems.append(f"{len(gc)} cells generated, {len(cc)} committed")
            for i, (a, b) in enumerate(zip(gc, cc)):
                if _comparable(a) != _comparable(b):
                    d.problems.append(f"cell {i} ({a.get('id')}) differs")
        if d.problems:
            diffs.append(d)
    other = sorted(p.name for p in generated.iterdir() if p.is_file() and p.suffix != ".ipynb") if generated.is_dir() else []
    for name in other:
        if not (committed / name).exists():
            diffs.append(NotebookDiff(name, ["file not committed"]))
    return diffs

