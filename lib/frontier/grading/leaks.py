"""Finding solution, hidden-test and rubric text where students could read it (releases, feedback)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, List, Sequence

if TYPE_CHECKING:                       # annotations only: course.py imports nbgrader
    from .course import Course

__all__ = ["find_leaks"]


def _plain(text: str) -> str:
    """Text with markdown emphasis, list markers and runs of whitespace removed, for leak searches."""
    text = re.sub(r"(?m)^\s*(?:[-*+]|\d+\.)\s+", "", text)
    text = re.sub(r"[*_`#$\\]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def find_leaks(course: Course, assignment: str, files: Iterable[str | os.PathLike],
               kinds: Sequence[str] = ("solution", "hidden_tests", "mark_scheme"),
               allowed: Iterable[str] = (), skip_frozen: bool = False) -> List[str]:
    """Lines of the source's solution / hidden-test / rubric regions that appear in ``files``.

    Files may be notebooks (cell sources are searched) or HTML (tags removed,
    entities unescaped).  Both sides are compared without markdown emphasis,
    list markers and extra whitespace, so rendered markdown is caught too.
    A line that also occurs in one of the ``allowed`` texts is no secret (a
    student who writes ``import math as _math`` in an answer leaks nothing):
    see :meth:`Course.visible_text`.  Returns ``["<file>: <line>", ...]``;
    empty means nothing leaked.
    """
    import html as _html

    import nbformat

    from .cells import DELIMITERS, region_lines

    secrets = set()
    for path in course.source_notebooks(assignment):
        nb = nbformat.read(path, as_version=4)
        for kind in kinds:
            secrets.update(region_lines(nb, kind, skip_frozen=skip_frozen))
            secrets.update(DELIMITERS[kind])  # the markers themselves must not appear either
    plain = sorted({p for p in (_plain(s) for s in secrets) if len(p) >= 12} | set(
        m for kind in kinds for m in DELIMITERS[kind]))
    public = _plain("\n".join(allowed))
    plain = [p for p in plain if p not in public]
    found: List[str] = []
    for f in files:
        text = Path(f).read_text(encoding="utf-8", errors="replace")
        if str(f).endswith(".html"):
            text = _html.unescape(re.sub(r"<[^>]+>", "", text))
        elif str(f).endswith(".ipynb"):
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        text = _plain(text)
        found += [f"{Path(f).name}: {s}" for s in plain if s in text]
    return found

