"""Notebook tooling: run notebooks with papermill, clean them, check their hygiene.

Command line::

    python -m frontier.notebooks run course/ solutions/ --smoke --jobs 2
    python -m frontier.notebooks clean            # strip outputs from every tracked notebook
    python -m frontier.notebooks check            # report hygiene problems, exit 1 if any
    python -m frontier.notebooks html             # build/executed/ -> build/html/, plotly.js embedded

Conventions every lesson and solution notebook follows (the hygiene tests
enforce them):

* nbformat 4.5, unique cell ids, no outputs, execution counts or widget state;
* a code cell tagged ``parameters`` that defines ``SMOKE = False``;
* lessons: an Open-in-Colab badge whose link matches the file's own path, and
  a setup cell that installs the package only when running on Colab.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional, Tuple

__all__ = ["GITHUB_REPO", "GITHUB_BRANCH", "REPO_ROOT", "colab_url", "colab_badge", "COLAB_SETUP_SOURCE",
           "COLAB_EXTRAS", "colab_install_cell", "parse_colab_install"]

#: Where the course lives on GitHub; Colab badges and the Colab install cell use it.
GITHUB_REPO = "llm-frontiers/llm-frontiers"
GITHUB_BRANCH = "main"

#: The repository root when the package is installed in editable mode from a checkout.
REPO_ROOT = Path(__file__).resolve().parents[3]


def colab_url(relpath: str | PurePosixPath) -> str:
    """The Colab address that opens the notebook at ``relpath`` (relative to the repo root)."""
    rel = PurePosixPath(str(relpath).replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"relpath must be relative to the repository root, got {relpath!r}")
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_BRANCH}/{rel}"


def colab_badge(relpath: str | PurePosixPath) -> str:
    """Markdown for an Open-in-Colab badge pointing at ``relpath``."""
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(relpath)})")


#: Extras (pyproject.toml) a lesson's Colab cell may install: the section extras and the real-model adapter.
#: Not `course`/`test` (Colab has its own notebook stack) nor `gpu`/`gpu-dev`.
COLAB_EXTRAS: Tuple[str, ...] = ("reasoning", "multimodal", "alignment", "efficiency", "knowledge", "society",
                                 "finance", "hf")

_INSTALL_RE = re.compile(
    r'%pip install -q "llm-frontiers(?:\[(?P<extras>[a-z0-9_,-]+)\])? @ '
    + re.escape(f"git+https://github.com/{GITHUB_REPO}.git@{GITHUB_BRANCH}") + r'"')


def colab_install_cell(extras: Iterable[str] = ()) -> str:
    """The first code cell of a lesson: on Colab only, install the course package with ``extras``.

    ``extras`` are names from :data:`COLAB_EXTRAS` (for example
    ``["knowledge"]`` for a retrieval lesson); they are de-duplicated and
    sorted so that every lesson writes the same cell for the same needs.
    """
    if isinstance(extras, str):
        raise TypeError("extras must be a list of extra names, not a single string")
    chosen = sorted(set(extras))
    unknown = [e for e in chosen if e not in COLAB_EXTRAS]
    if unknown:
        raise ValueError(f"extras must be among {list(COLAB_EXTRAS)}, got {unknown}")
    spec = "llm-frontiers" + (f"[{','.join(chosen)}]" if chosen else "")
    return (
        "# Setup: on Google Colab, install the course package (elsewhere `make lab` already did).\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install -q \"{spec} @ git+https://github.com/{GITHUB_REPO}.git@{GITHUB_BRANCH}\""
    )


def parse_colab_install(source: str) -> Optional[Tuple[str, ...]]:
    """The extras a standard Colab install cell installs (``()`` for none), or None if ``source`` is not one.

    A standard cell is guarded by ``"google.colab" in sys.modules`` and
    installs ``llm-frontiers[...]`` from this repository with extras from
    :data:`COLAB_EXTRAS` (what :func:`colab_install_cell` writes).
    """
    if '"google.colab" in sys.modules' not in source:
        return None
    m = _INSTALL_RE.search(source)
    if m is None:
        return None
    extras = tuple(e for e in (m.group("extras") or "").split(",") if e)
    if any(e not in COLAB_EXTRAS for e in extras):
        return None
    return extras


#: The first code cell of a lesson that needs no extra: installs the package on Colab only.
COLAB_SETUP_SOURCE = colab_install_cell()
