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

from pathlib import Path, PurePosixPath

__all__ = ["GITHUB_REPO", "GITHUB_BRANCH", "REPO_ROOT", "colab_url", "colab_badge", "COLAB_SETUP_SOURCE"]

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


#: The first code cell of every lesson: installs the package on Colab only.
COLAB_SETUP_SOURCE = (
    "# Setup: on Google Colab, install the course package (elsewhere `make lab` already did).\n"
    "import sys\n"
    "if \"google.colab\" in sys.modules:\n"
    f"    %pip install -q \"llm-frontiers @ git+https://github.com/{GITHUB_REPO}.git@{GITHUB_BRANCH}\""
)
