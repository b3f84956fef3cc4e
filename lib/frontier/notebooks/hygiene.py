"""Clean notebooks and check the rules every committed notebook follows."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Iterable, List

import nbformat

from . import COLAB_EXTRAS, REPO_ROOT, colab_url, parse_colab_install

__all__ = ["find_notebooks", "tracked_notebooks", "clean_notebook", "hygiene_problems", "is_lesson",
           "is_solution", "control_character_problems", "unanswered_questions", "ANSWER_BLOCK"]

_VOLATILE_CELL_KEYS = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")
_SMOKE_RE = re.compile(r"^\s*SMOKE\s*=", re.MULTILINE)
_BADGE_RE = re.compile(r"\(https://colab\.research\.google\.com/github/[^)\s]+\)")
# Control characters other than newline (a "\f" or "\t" typed into a Python string that builds markdown
# turns LaTeX's \frac or \times into a form feed or a tab); \r\n line endings are reported too.
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CHECK_HEADING_RE = re.compile(r"check\s+your\s+understanding", re.IGNORECASE)
_QUESTION_RE = re.compile(r"^ {0,3}(\d+)[.)]\s+(.*)$")
_SUMMARY_RE = re.compile(r"<summary>\s*(?:<b>|<strong>)?\s*Answer\b", re.IGNORECASE)
#: What every check-your-understanding question in a lesson is followed by.
ANSWER_BLOCK = "<details><summary>Answer</summary>\n\n...the answer (computed where it is a number)...\n</details>"


def find_notebooks(paths: Iterable[str | Path]) -> List[Path]:
    """Expand files and folders into a sorted list of notebooks; a missing path is an error."""
    found: List[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"no such notebook or folder: {p}")
        if path.is_dir():
            found.extend(q for q in sorted(path.rglob("*.ipynb"))
                         if ".ipynb_checkpoints" not in q.parts and "build" not in q.parts)
        elif path.suffix == ".ipynb":
            found.append(path)
        else:
            raise ValueError(f"not a notebook (.ipynb) or folder: {p}")
    return sorted(dict.fromkeys(p.resolve() for p in found))


def tracked_notebooks(root: Path = REPO_ROOT) -> List[Path]:
    """Notebooks git tracks (or would track: untracked but not ignored) under ``root``."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.ipynb"],
                         cwd=root, capture_output=True, text=True, check=True).stdout.split()
    return [root / f for f in out if (root / f).exists()]


def _rel(path: Path, root: Path = REPO_ROOT) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def is_lesson(path: Path) -> bool:
    return _rel(path).startswith("course/")


def is_solution(path: Path) -> bool:
    return _rel(path).startswith("solutions/")


def clean_notebook(path: str | Path, write: bool = True) -> bool:
    """Strip outputs, execution counts, widget state and volatile metadata; keep ids, tags and nbgrader data.

    Cells without an id get a fresh one (once; ids are stable afterwards).
    Returns True when the file changed.
    """
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("execution", None)
    seen = set()
    for cell in nb.cells:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = nbformat.v4.new_code_cell().id
        seen.add(cell["id"])
        for key in _VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    after = nbformat.writes(nb)
    after += "" if after.endswith("\n") else "\n"
    changed = after != before
    if changed and write:
        path.write_text(after, encoding="utf-8")
    return changed


def hygiene_problems(path: str | Path) -> List[str]:
    """Everything wrong with one committed notebook, as human-readable lines (empty when clean)."""
    path = Path(path)
    rel = _rel(path)
    problems: List[str] = []
    try:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # unreadable JSON or a wrong schema
        return [f"{rel}: cannot be read as a notebook: {exc}"]
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        problems.append(f"{rel}: nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor')}, expected 4.5 "
                        "(run `make clean-notebooks`)")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        problems.append(f"{rel}: invalid nbformat: {exc.message}")
    ids = [c.get("id") for c in json.loads(path.read_text(encoding="utf-8")).get("cells", [])]
    if any(not i for i in ids):
        problems.append(f"{rel}: some cells have no id")
    if len(set(ids)) != len(ids):
        problems.append(f"{rel}: duplicate cell ids")
    if "widgets" in nb.metadata:
        problems.append(f"{rel}: saved widget state in metadata")
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"{rel}: cell {i} has outputs or an execution count (run `make clean-notebooks`)")
            break
    if is_lesson(path) or is_solution(path):
        params = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
        if len(params) != 1:
            problems.append(f"{rel}: needs exactly one code cell tagged 'parameters', found {len(params)}")
        elif not _SMOKE_RE.search(params[0].source):
            problems.append(f"{rel}: the 'parameters' cell does not define SMOKE")
        elif len(re.findall(r"\bSMOKE\b", params[0].source)) > 1:
            problems.append(f"{rel}: the 'parameters' cell uses SMOKE to derive other values; papermill injects "
                            "its values in a cell *after* it, so move derived sizes to the next cell")
    problems.extend(control_character_problems(nb, rel))
    if is_lesson(path):
        problems.extend(unanswered_questions(nb, rel))
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        links = _BADGE_RE.findall(text)
        want = f"({colab_url(rel)})"
        if "colab-badge.svg" not in text or want not in links:
            problems.append(f"{rel}: needs an Open-in-Colab badge linking to {want[1:-1]}")
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code or parse_colab_install(code[0].source) is None:
            problems.append(f"{rel}: the first code cell must install the package only on Colab, from this "
                            f"repository, with extras among {list(COLAB_EXTRAS)}; write it with "
                            "frontier.notebooks.colab_install_cell([...])")
    return problems


def control_character_problems(nb, rel: str = "notebook") -> List[str]:
    """One line for each cell whose source holds a control character other than newline.

    In markdown they are nearly always an escape gone wrong (``"\\frac"``
    written in a normal Python string becomes a form feed and ``rac``), and
    they render as garbage; in code a tab or carriage return is noise.
    """
    out = []
    for i, c in enumerate(nb.cells):
        found = sorted(set(_CONTROL_RE.findall(c.source)))
        if found:
            names = ", ".join(repr(ch) for ch in found)
            out.append(f"{rel}: cell {i} ({c.cell_type}) contains control characters {names}; only newlines "
                       "are allowed (write LaTeX such as \\frac, \\times, \\right in a raw string, "
                       "and indent with spaces)")
    return out


def _check_sections(nb):
    """Yield the markdown lines of each "Check your understanding" section, as (cell index, line) pairs.

    A section starts at a heading that contains "Check your understanding" and
    ends at the next heading of the same or a higher level (in any later
    markdown cell); code cells inside it are skipped.
    """
    section, level = None, 0
    for i, c in enumerate(nb.cells):
        if c.cell_type != "markdown":
            continue
        for line in c.source.splitlines():
            h = _HEADING_RE.match(line)
            if h:
                if section is not None and len(h.group(1)) <= level:
                    yield section
                    section = None
                if section is None and _CHECK_HEADING_RE.search(h.group(2)):
                    section, level = [], len(h.group(1))
                    continue
            if section is not None:
                section.append((i, line))
    if section is not None:
        yield section


def unanswered_questions(nb, rel: str = "notebook") -> List[str]:
    """Check-your-understanding questions that have no answer block right after them.

    A *question* is a numbered item (``1. ...`` or ``1) ...``, indented at
    most three spaces) in a section whose heading contains "Check your
    understanding", outside any ``<details>`` block.  Its answer is a
    ``<details><summary>Answer</summary> ... </details>`` block that comes
    after it and before the next question or the end of the section (it may
    sit in a later markdown cell; code cells that compute the answer may come
    in between).
    """
    out = []
    for section in _check_sections(nb):
        questions = []                       # [cell, number, first line, answered]
        depth = 0
        for i, line in section:
            if depth == 0:
                q = _QUESTION_RE.match(line)
                if q:
                    questions.append([i, q.group(1), q.group(2).strip(), False])
            opened = len(re.findall(r"<details\b", line, re.IGNORECASE))
            if questions and (depth > 0 or opened) and _SUMMARY_RE.search(line):
                questions[-1][3] = True
            depth = max(0, depth + opened - len(re.findall(r"</details>", line, re.IGNORECASE)))
        for i, number, first, answered in questions:
            if not answered:
                short = first if len(first) <= 70 else first[:67] + "..."
                out.append(f"{rel}: cell {i}, check-your-understanding question {number} (\"{short}\") has no "
                           "answer; add a collapsed answer block right after the question (after its last line, "
                           "before the next question or heading), with a blank line before it:\n" + ANSWER_BLOCK)
    return out
