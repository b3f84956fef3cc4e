"""What we change in nbgrader's output: clean releases and feedback that keeps hidden tests hidden.

``nbgrader_config.py`` plugs the two preprocessors below into nbgrader's own
pipelines, so they apply however a TA runs nbgrader (our commands, the
``nbgrader`` command line or the formgrader):

* :class:`NormalizeRelease` runs last in ``generate_assignment``: no outputs,
  no execution counts, no volatile metadata, every cell keeps its id.  The
  committed ``assignments/`` is then exactly what regenerating gives.
* :class:`HideHiddenTests` runs first in ``generate_feedback``.  The
  autograded notebook holds the hidden tests (nbgrader restores them from
  the gradebook to run them) and the rubrics; feedback is for students, so
  we drop both and cut the tracebacks of hidden tests down to the message.

The helpers (:func:`strip_regions`, :func:`region_lines`) are what the
grading tests use to prove that no solution, hidden test or rubric leaks.
"""
from __future__ import annotations

import re
from typing import List, Tuple

from nbformat import NotebookNode
from traitlets import Bool, Unicode

from nbconvert.preprocessors import Preprocessor

from .cells import DELIMITERS, region_lines  # noqa: F401  (re-exported: the markers and region search live in cells)

__all__ = [
    "WARNING_PATTERN", "DELIMITERS", "HIDDEN_TESTS_NOTE",
    "strip_regions", "region_lines", "normalize_notebook",
    "NormalizeRelease", "HideHiddenTests",
    "generate_assignment_preprocessors", "generate_feedback_preprocessors",
]

#: stderr text that is a Python warning (``path:line: SomeWarning: message``).
#: nbgrader's IgnorePattern drops stderr chunks that match, so warnings do not
#: cost points (nbgrader scores a test cell zero if it wrote to stderr).
WARNING_PATTERN = r"(?m)^.*:\d+: [A-Za-z_]*Warning: "

#: What feedback shows where hidden tests were.
HIDDEN_TESTS_NOTE = "# Hidden tests ran here when your work was graded; their source is not shown."

#: Notebook-level metadata a release keeps; everything else (widget state,
#: papermill, toolbars) is dropped.
_KEEP_NB_METADATA = ("kernelspec", "language_info")
#: Cell-level metadata a release keeps.
_KEEP_CELL_METADATA = ("nbgrader", "tags", "deletable", "editable", "slideshow")


def strip_regions(source: str, begin: str, end: str, replacement: str | None = None) -> Tuple[str, bool]:
    """Remove every ``begin`` ... ``end`` region (marker lines included) from ``source``.

    Markers are matched anywhere in a line, as nbgrader does (``### BEGIN
    HIDDEN TESTS``).  ``replacement``, if given, is put once where each region
    was, indented like its first marker.  Returns the new source and whether
    anything was removed.  Raises ``ValueError`` on a region that is not
    closed or is nested.
    """
    out: List[str] = []
    inside = found = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"nested {begin!r} regions")
            inside = found = True
            if replacement is not None:
                indent = re.match(r"\s*", line).group(0)
                out.append(indent + replacement)
        elif end in line:
            if not inside:
                raise ValueError(f"{end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{begin!r} region is not closed")
    return "\n".join(out), found


def normalize_notebook(nb: NotebookNode) -> NotebookNode:
    """Strip outputs, execution counts and volatile metadata, in place; returns ``nb``.

    Cell ids are kept (nbformat 4.5); a cell without one gets a stable id made
    from its nbgrader ``grade_id`` or its position.
    """
    nb.metadata = NotebookNode({k: v for k, v in nb.metadata.items() if k in _KEEP_NB_METADATA})
    if "language_info" in nb.metadata:
        # the kernel's exact Python version is volatile; the language name is not
        nb.metadata["language_info"] = NotebookNode({"name": nb.metadata["language_info"].get("name", "python")})
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    seen = set()
    for i, cell in enumerate(nb.cells):
        cell.metadata = NotebookNode({k: v for k, v in cell.metadata.items() if k in _KEEP_CELL_METADATA})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if "attachments" in cell and not cell["attachments"]:
            del cell["attachments"]
        cid = cell.get("id")
        if not cid or cid in seen:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            cid = gid if gid and gid not in seen else f"cell-{i:03d}"
            cell["id"] = cid
        seen.add(cid)
    return nb


class NormalizeRelease(Preprocessor):
    """Last step of ``generate_assignment``: see :func:`normalize_notebook`."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        return normalize_notebook(nb), resources

    def preprocess_cell(self, cell, resources, index):  # pragma: no cover - preprocess handles all
        return cell, resources


class HideHiddenTests(Preprocessor):
    """First step of ``generate_feedback``: keep hidden tests and rubrics out of feedback.

    * hidden test regions in any cell become one comment line
      (:data:`HIDDEN_TESTS_NOTE`);
    * rubric (mark scheme) regions are removed;
    * a cell that held hidden tests keeps only ``ErrorName: message`` of its
      errors, since IPython's traceback quotes the failing source line.
    """

    enabled = Bool(True).tag(config=True)
    begin_hidden = Unicode(DELIMITERS["hidden_tests"][0]).tag(config=True)
    end_hidden = Unicode(DELIMITERS["hidden_tests"][1]).tag(config=True)
    begin_mark_scheme = Unicode(DELIMITERS["mark_scheme"][0]).tag(config=True)
    end_mark_scheme = Unicode(DELIMITERS["mark_scheme"][1]).tag(config=True)
    note = Unicode(HIDDEN_TESTS_NOTE).tag(config=True)
    hide_rubrics = Bool(True, help="Also remove mark-scheme regions (rubrics)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            src, hidden = strip_regions(cell.source, self.begin_hidden, self.end_hidden, self.note)
            cell.source = src
            if hidden:
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        message = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".rstrip(": ")
                        out["traceback"] = [message, "(traceback hidden: it quotes hidden test code)"]
        if self.hide_rubrics:
            cell.source, _ = strip_regions(cell.source, self.begin_mark_scheme, self.end_mark_scheme)
        return cell, resources


def generate_assignment_preprocessors() -> list:
    """nbgrader's ``generate_assignment`` steps followed by :class:`NormalizeRelease`."""
    from nbgrader.converters import GenerateAssignment

    steps = list(GenerateAssignment.class_traits()["preprocessors"].default())
    return steps + [NormalizeRelease]


def generate_feedback_preprocessors() -> list:
    """:class:`HideHiddenTests` followed by nbgrader's ``generate_feedback`` steps."""
    from nbgrader.converters import GenerateFeedback

    return [HideHiddenTests] + list(GenerateFeedback.class_traits()["preprocessors"].default())
