"""pyproject.toml, environment.yml and the constraints file describe the same environment."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}
#: Extras a local install gets (`make setup`): the course, the tests and every section extra (`all`).
LOCAL_EXTRAS = ("course", "test", "reasoning", "multimodal", "alignment", "efficiency", "knowledge", "society",
                "finance")


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_lists_the_same_packages_as_pyproject():
    proj = _pyproject()
    pip_side = {_name(r) for r in proj["dependencies"]}
    for extra in LOCAL_EXTRAS:
        pip_side |= {_name(r) for r in proj["optional-dependencies"][extra]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            n = _name(dep)
            if n not in ("python", "pip"):
                conda_side.add(CONDA_TO_PIP.get(n, n))
        elif isinstance(dep, dict):          # the `pip:` list
            conda_side |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-")}
    assert conda_side == pip_side


def test_runtime_requirements_are_lower_bounds_that_admit_colab():
    reqs = {_name(r): r for r in _pyproject()["dependencies"]}
    for name, req in reqs.items():
        assert "==" not in req and "<" not in req, f"{req}: pins belong in .ci/constraints.txt"
    assert reqs["ipywidgets"].endswith(">=7.7") and reqs["plotly"].endswith(">=5.24")


def test_constraints_pin_every_requirement_exactly():
    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    proj = _pyproject()
    wanted = {_name(r) for r in proj["dependencies"]}
    for extra in (*LOCAL_EXTRAS, "hf"):
        wanted |= {_name(r) for r in proj["optional-dependencies"][extra]}
    missing = sorted(n for n in wanted if n not in pins)
    assert not missing, f"not pinned in .ci/constraints.txt: {missing}"
    assert pins["torch"] == "2.13.0"


def test_all_extra_is_every_section_extra_and_nothing_heavy():
    extras = _pyproject()["optional-dependencies"]
    (req,) = extras["all"]
    inside = set(req.split("[", 1)[1].rstrip("]").split(","))
    sections = {"reasoning", "multimodal", "alignment", "efficiency", "knowledge", "society", "finance"}
    assert inside == sections and sections <= set(extras)
    assert not inside & {"hf", "gpu", "gpu-dev"}
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[course,test,all]"' in makefile


def test_section_extras_are_lower_bounds_that_admit_colab():
    """Colab ships these; the bounds must admit its versions (early-2026 runtime, see .ci/colab-constraints.txt)."""
    colab = {"sympy": (1, 13), "jsonschema": (4, 23), "scikit-learn": (1, 6), "scikit-image": (0, 25),
             "statsmodels": (0, 14)}
    extras = _pyproject()["optional-dependencies"]
    for extra in LOCAL_EXTRAS + ("hf", "gpu-dev"):
        for req in extras[extra]:
            assert "==" not in req and "<" not in req, f"{req}: pins belong in .ci/constraints.txt"
            name = _name(req)
            if name in colab:
                low = tuple(int(x) for x in req.split(">=")[1].split(".")[:2])
                assert low <= colab[name], f"{req} excludes Colab's {name} {colab[name]}"
