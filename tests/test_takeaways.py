"""Section 9 (course/09_takeaways.ipynb): each takeaway is computed by its lesson's library, not typed.

Read with ``ast`` and ``json`` (the notebook is not executed here; the notebook execution test runs it in SMOKE).
"""
from __future__ import annotations

import ast
import importlib
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from frontier.notebooks import REPO_ROOT

NOTEBOOK = REPO_ROOT / "course" / "09_takeaways.ipynb"

#: Library functions (and data) each takeaway must call or read, by their full dotted name.
REQUIRED: Dict[str, Tuple[str, ...]] = {
    "1 architecture": ("frontier.architecture.params.active_parameters",
                       "frontier.architecture.params.total_parameters",
                       "frontier.architecture.mixer_timing.time_mixers",
                       "frontier.architecture.mixer_timing.scaling_summary"),
    "2 test-time compute": ("frontier.reasoning.lm.train_proposer", "frontier.reasoning.experiments.sweep",
                            "frontier.reasoning.experiments.summarize"),
    "3 alignment": ("frontier.alignment.optimal_policy", "frontier.alignment.compare_methods",
                    "frontier.alignment.kl_divergence"),
    "4 hallucination": ("frontier.knowledge.experiments.make_world", "frontier.knowledge.experiments.run",
                        "frontier.knowledge.experiments.retrieve_contexts",
                        "frontier.knowledge.evaluation.mcnemar_exact"),
    "5 efficiency": ("frontier.efficiency.quantization.will_it_fit",
                     "frontier.efficiency.speculative.expected_tokens_per_call",
                     "frontier.efficiency.speculative.gamma_sweep"),
    "5 energy row": ("frontier.society.energy.CHAPTER_TABLE", "frontier.society.energy.PUBLISHED_RUNS"),
    "6 agents": ("frontier.reasoning.agent_tasks.train_policy", "frontier.reasoning.agent_tasks.step_error_rates",
                 "frontier.reasoning.agent_tasks.success_by_steps"),
    "6 finance": ("frontier.finance.sql.attack_report",),
}

#: Each takeaway section must link the lesson that taught it (paths relative to course/).
LESSON_LINKS: Dict[str, Tuple[str, ...]] = {
    "## 1.": ("01_architecture/04_mixture_of_experts.ipynb", "01_architecture/03_ssm_vs_attention.ipynb"),
    "## 2.": ("02_reasoning/01_test_time_compute.ipynb",),
    "## 3.": ("04_alignment/01_preference_optimisation.ipynb",),
    "## 4.": ("06_knowledge/01_rag_and_hallucination.ipynb",),
    "## 5.": ("05_efficiency/02_serving.ipynb", "07_society/01_energy_and_emissions.ipynb"),
    "## 6.": ("02_reasoning/03_agents.ipynb", "08_finance/01_structured_data.ipynb"),
}

#: The sizes cell must use the lesson's own value, so that the lesson's cached model is reused.
SHARED_SIZES: Dict[str, str] = {
    "TIMING_LOG2_T": "course/01_architecture/03_ssm_vs_attention.ipynb",
    "N_TEST": "course/02_reasoning/01_test_time_compute.ipynb",
    "NS": "course/02_reasoning/01_test_time_compute.ipynb",
    "POLICY_STEPS": "course/02_reasoning/03_agents.ipynb",
}

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _cells() -> List[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _code_cells(skip_sizes: bool = False) -> List[str]:
    out = []
    for c in _cells():
        if c["cell_type"] != "code":
            continue
        src = _src(c)
        if skip_sizes and ("parameters" in c.get("metadata", {}).get("tags", []) or "SMOKE else" in src):
            continue
        # IPython magics (the Colab install) become `pass`, keeping the indentation
        out.append("\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                             else line for line in src.splitlines()))
    return out


def _trees(skip_sizes: bool = False) -> List[ast.Module]:
    return [ast.parse(s) for s in _code_cells(skip_sizes)]


def _aliases(trees) -> Dict[str, str]:
    """Local name -> full dotted name, from every import in the notebook."""
    names: Dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def used_names(trees) -> Set[str]:
    """Full dotted names of every name or attribute chain the code reads (imports resolved)."""
    aliases = _aliases(trees)
    used: Set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Name, ast.Attribute)):
                d = _dotted(node)
                if d:
                    head, _, rest = d.partition(".")
                    if head in aliases:
                        used.add(aliases[head] + ("." + rest if rest else ""))
    return used


def test_notebook_exists_and_parses():
    assert NOTEBOOK.exists()
    assert len(_trees()) >= 10


@pytest.mark.parametrize("takeaway", sorted(REQUIRED))
def test_each_takeaway_calls_its_lessons_library(takeaway):
    used = used_names(_trees())
    missing = [name for name in REQUIRED[takeaway] if name not in used]
    assert not missing, f"takeaway {takeaway}: the notebook does not use {missing}"


@pytest.mark.parametrize("name", sorted({n for names in REQUIRED.values() for n in names}))
def test_required_names_exist_in_the_library(name):
    module, _, attr = name.rpartition(".")
    assert hasattr(importlib.import_module(module), attr), f"{name} is gone from the library"


def test_the_alias_resolution_sees_a_forbidden_shortcut():
    """The checker itself: a notebook that typed the ratio instead of calling the library is caught."""
    typed = [ast.parse("from frontier.architecture.params import MIXTRAL_8X7B\nratio = 12.9 / 46.7")]
    assert "frontier.architecture.params.active_parameters" not in used_names(typed)
    assert _suspicious_literals(typed) == [12.9, 46.7]


def _reference_values() -> List[float]:
    """Numbers the takeaways compute; none of them may appear as a literal in the code."""
    from frontier.architecture.params import MIXTRAL_8X7B, LLAMA2_70B, active_parameters, total_parameters, weight_bytes
    from frontier.efficiency.quantization import will_it_fit
    from frontier.society.energy import CHAPTER_TABLE, PUBLISHED_RUNS

    total, active = total_parameters(MIXTRAL_8X7B), active_parameters(MIXTRAL_8X7B)
    row = next(r for r in CHAPTER_TABLE if r.label.startswith("LLaMA-2"))
    run = PUBLISHED_RUNS[row.runs[0]]
    return [total, active, active / total, total / 1e9, active / 1e9, weight_bytes(MIXTRAL_8X7B, "bf16") / 1e9,
            row.claimed_mwh, row.claimed_tco2e, run.energy_mwh(), run.reported_tco2e, run.accelerator_hours,
            will_it_fit(LLAMA2_70B, "q4_0")["weights_gb"], will_it_fit(LLAMA2_70B, "q4_0")["total_gb"]]


#: Literals allowed outside the sizes cells: units, "exact" verifier noise, β = 1, the lessons' split fraction.
_ALLOWED_FLOATS = {0.0, 0.25, 1.0, 1e3, 1e6, 1e9, 1e12}


def _suspicious_literals(trees) -> List[float]:
    out = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value not in _ALLOWED_FLOATS:
                out.append(node.value)
    return out


def test_no_float_literal_stands_in_for_a_result():
    assert _suspicious_literals(_trees(skip_sizes=True)) == []


def test_no_takeaway_number_is_typed():
    literals = [n.value for t in _trees() for n in ast.walk(t)
                if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)]
    for ref in _reference_values():
        hits = [v for v in literals if v and math.isclose(v, ref, rel_tol=1e-3)]
        assert not hits, f"the literal(s) {hits} equal a computed takeaway number {ref}"


def _markdown() -> List[str]:
    return [_src(c) for c in _cells() if c["cell_type"] == "markdown"]


def test_every_relative_link_resolves():
    base = NOTEBOOK.parent
    links = [m for text in _markdown() for m in _LINK.findall(text) if not re.match(r"[a-z]+:", m)]
    assert links, "the notebook should link its lessons"
    broken = [m for m in links if not (base / m.split("#")[0]).resolve().exists()]
    assert not broken, f"links that resolve to no file: {broken}"


@pytest.mark.parametrize("heading", sorted(LESSON_LINKS))
def test_each_takeaway_links_its_lesson(heading):
    text = "\n".join(_markdown())
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else None]
    links = set(_LINK.findall(section))
    missing = [p for p in LESSON_LINKS[heading] if p not in links]
    assert not missing, f"section {heading} does not link {missing}"


def _assignment(source: str, name: str) -> str:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.unparse(node.value)
    return ""


@pytest.mark.parametrize("name", sorted(SHARED_SIZES))
def test_sizes_match_the_lesson_so_the_cache_is_shared(name):
    mine = "\n".join(s for s in _code_cells() if "SMOKE else" in s)
    lesson = json.loads((REPO_ROOT / SHARED_SIZES[name]).read_text(encoding="utf-8"))
    theirs = "\n".join(_src(c) for c in lesson["cells"] if c["cell_type"] == "code" and "SMOKE else" in _src(c))
    assert _assignment(mine, name) and _assignment(mine, name) == _assignment(theirs, name)


# ---- the course map -------------------------------------------------------------------------------------------
def test_timing_table_round_trip(tmp_path):
    """The reader parses what the runner's own formatter writes (failure notes included)."""
    from frontier.notebooks.runner import NotebookResult, format_table
    from frontier.viz.takeaways import read_notebook_times

    results = [NotebookResult("course/01_architecture/01_attention_cost.ipynb", "x", 12.34, True),
               NotebookResult("solutions/ex1_efficiency/ex1_efficiency.ipynb", "y", 3.0, False, "failed: boom")]
    path = tmp_path / "times.txt"
    path.write_text(format_table(results) + "\n")
    times = read_notebook_times(path)
    assert times == {"course/01_architecture/01_attention_cost.ipynb": {"seconds": 12.3, "ok": True},
                     "solutions/ex1_efficiency/ex1_efficiency.ipynb": {"seconds": 3.0, "ok": False}}


def test_course_map_reads_times_and_never_guesses(tmp_path):
    from frontier.notebooks.runner import NotebookResult, format_table
    from frontier.viz.takeaways import NOT_MEASURED, course_map

    smoke = tmp_path / "smoke.txt"
    smoke.write_text(format_table([NotebookResult("course/09_takeaways.ipynb", "o", 21.0, True)]) + "\n")
    rows = {r["notebook"]: r for r in course_map(smoke, tmp_path / "absent.txt")}
    assert rows["course/09_takeaways.ipynb"]["smoke"] == "21.0 s"
    assert rows["course/09_takeaways.ipynb"]["full"] == NOT_MEASURED
    assert rows["course/00_start_here.ipynb"]["smoke"] == NOT_MEASURED
    assert rows["course/09_takeaways.ipynb"]["title"].startswith("9 ")


def test_course_map_covers_every_lesson_and_assignment():
    from frontier.viz.takeaways import MEASURES

    notebooks = {p.relative_to(REPO_ROOT).as_posix()
                 for folder in ("course", "solutions") for p in (REPO_ROOT / folder).rglob("*.ipynb")
                 if ".ipynb_checkpoints" not in p.parts}
    missing = sorted(notebooks - set(MEASURES))
    assert not missing, f"add these notebooks to frontier.viz.takeaways.MEASURES: {missing}"


def test_course_map_links_resolve_from_the_course_folder():
    from frontier.viz.takeaways import course_map, course_map_markdown

    text = course_map_markdown(course_map(), link_from="course")
    links = _LINK.findall(text)
    assert len(links) == len(course_map())
    broken = [m for m in links if not (REPO_ROOT / "course" / m).resolve().exists()]
    assert not broken, broken
