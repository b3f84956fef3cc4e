"""pyproject.toml, environment.yml and the constraints file describe the same environment."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_lists_the_same_packages_as_pyproject():
    proj = _pyproject()
    pip_side = {_name(r) for r in proj["dependencies"]}
    for extra in ("course", "test"):
        pip_side |= {_name(r) for r in proj["optional-dependencies"][extra]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            n = _name(dep)
            if n not in ("python", "pip"):
                conda_side.add(CONDA_TO_PIP.get(n, n))
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
    for extra in ("course", "test"):
        wanted |= {_name(r) for r in proj["optional-dependencies"][extra]}
    missing = sorted(n for n in wanted if n not in pins)
    assert not missing, f"not pinned in .ci/constraints.txt: {missing}"
    assert pins["torch"] == "2.13.0"
