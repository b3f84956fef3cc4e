"""The library's layering, read from the import statements with ``ast`` (nothing is imported).

Rules (issue 9, STYLE.md "The library"):

* only the tooling packages (``viz``, and ``bench``, ``notebooks``, ``grading``, ``exercises``, which drive
  figures) import plotly or ipywidgets; computation (shared modules and sections) never does;
* shared modules import no section and no tooling;
* a section imports shared modules and only *earlier* sections in course order;
* tooling may import anything.

``check_layering`` is a plain function so that the test can also run it on a synthetic package with a
forbidden import and see it fail.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

SECTIONS: Tuple[str, ...] = ("architecture", "reasoning", "multimodal", "alignment", "efficiency",
                             "knowledge", "society", "finance")
SHARED: Tuple[str, ...] = ("models", "kernels", "timing", "hardware", "validation", "env", "data",
                           "retrieval", "agents", "checks")
TOOLING: Tuple[str, ...] = ("viz", "bench", "exercises", "notebooks", "grading")
GUI_LIBRARIES: Tuple[str, ...] = ("plotly", "ipywidgets")

LIB = Path(__file__).resolve().parents[1] / "lib" / "frontier"


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _imports(path: Path, module: str) -> Iterator[Tuple[int, str]]:
    """``(line, absolute module name)`` for every import in the file, including ones inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:   # `from .. import hardware` imports the module frontier.hardware
                yield node.lineno, f"{target}.{alias.name}"


def _layer(module: str, package: str) -> Optional[str]:
    """The top-level subpackage of ``package`` a module belongs to (``None`` for the package itself)."""
    parts = module.split(".")
    if parts[0] != package or len(parts) == 1:
        return None
    return parts[1]


def check_layering(root: Path = LIB, package: str = "frontier") -> List[str]:
    """Every layering violation under ``root`` (the package folder), as ``'file:line: message'`` strings."""
    problems: List[str] = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root, package)
        layer = _layer(module, package)
        if layer is None or layer in TOOLING:
            continue
        kind = "section" if layer in SECTIONS else "shared" if layer in SHARED else None
        where = f"{path.relative_to(root.parent)}"
        if kind is None:
            problems.append(f"{where}:1: '{layer}' is in no layer: add it to SECTIONS, SHARED or TOOLING")
            continue
        seen: Dict[str, int] = {}
        for line, target in _imports(path, module):
            top = target.split(".")[0]
            if top in GUI_LIBRARIES:
                seen.setdefault(f"imports {top} (only frontier.viz draws)", line)
                continue
            other = _layer(target, package)
            if other is None or other == layer or other in SHARED:
                continue
            if other in TOOLING:
                seen.setdefault(f"{kind} module imports {package}.{other} (tooling)", line)
            elif other in SECTIONS and kind == "shared":
                seen.setdefault(f"shared module imports section {package}.{other}", line)
            elif other in SECTIONS and SECTIONS.index(other) > SECTIONS.index(layer):
                seen.setdefault(f"section {layer} imports the later section {package}.{other}", line)
        problems += [f"{where}:{line}: {msg}" for msg, line in seen.items()]
    return problems


def test_library_layering():
    problems = check_layering()
    assert not problems, "layering violations:\n" + "\n".join(problems)


def _write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def clean_tree(tmp_path) -> Path:
    root = tmp_path / "frontier"
    _write(root, "__init__.py")
    _write(root, "validation.py", "import numpy as np\n")
    _write(root, "hardware.py", "from .validation import choice\n")
    _write(root, "models/__init__.py", "from .. import hardware\nfrom ..validation import choice\n")
    _write(root, "architecture/__init__.py", "")
    _write(root, "architecture/costs.py", "from .. import hardware\nfrom ..models import layers\n")
    _write(root, "finance/__init__.py", "from ..architecture import costs\nfrom frontier.knowledge import rag\n")
    _write(root, "knowledge/__init__.py", "")
    _write(root, "knowledge/rag.py", "from frontier.architecture.params import x\n")
    _write(root, "viz/__init__.py", "import plotly.graph_objects as go\nfrom ..finance import y\n")
    return root


def test_checker_passes_a_clean_tree(clean_tree):
    assert check_layering(clean_tree) == []


@pytest.mark.parametrize("rel, text, expected", [
    ("models/tiny.py", "from ..architecture.moe import MoELayer\n", "shared module imports section"),
    ("hardware.py", "import frontier.architecture.params\n", "shared module imports section"),
    ("models/tiny.py", "from .. import architecture\n", "shared module imports section"),
    ("architecture/moe.py", "from ..finance import z\n", "later section frontier.finance"),
    ("knowledge/rag.py", "def f():\n    from frontier.finance import q\n", "later section frontier.finance"),
    ("architecture/costs.py", "import plotly.graph_objects as go\n", "imports plotly"),
    ("models/tiny.py", "from ipywidgets import IntSlider\n", "imports ipywidgets"),
    ("architecture/costs.py", "from ..viz import theme\n", "(tooling)"),
    ("mystery.py", "", "in no layer"),
])
def test_checker_fails_on_a_forbidden_import(clean_tree, rel, text, expected):
    _write(clean_tree, rel, text)
    problems = check_layering(clean_tree)
    assert problems and all(expected in p for p in problems), problems
    assert any(p.split(":")[0].endswith(rel) for p in problems)
