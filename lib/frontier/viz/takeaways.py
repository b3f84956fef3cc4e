"""Section 9, the takeaways: the course map (every lesson and assignment, what it measures, its measured runtime).

Runtimes are *read*, never typed: the SMOKE column comes from the table that the notebook-execution test writes
(``build/notebook-times.txt``, :func:`frontier.notebooks.runner.format_table`'s format), the full-mode column from a
table in the same format if one exists (:data:`FULL_TIMES`; nothing in the repository writes it yet, so the map says
"not yet measured").
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional, Union

from ..notebooks import REPO_ROOT

__all__ = ["SMOKE_TIMES", "FULL_TIMES", "NOT_MEASURED", "MEASURES", "read_notebook_times", "notebook_title",
           "course_map", "course_map_markdown"]

#: The SMOKE-mode wall-time table written by ``tests/notebooks/test_execute_all.py``.
SMOKE_TIMES = REPO_ROOT / "build" / "notebook-times.txt"
#: A full-mode table in the same format (``python -m frontier.notebooks run course solutions | tee`` it there).
FULL_TIMES = REPO_ROOT / "build" / "notebook-times-full.txt"
#: What the map shows where no table has a time for a notebook.
NOT_MEASURED = "not yet measured"

#: Notebook (relative to the repository root) -> what it measures, in a few words.
MEASURES: Dict[str, str] = {
    "course/00_start_here.ipynb": "your environment: CPU or GPU, CuPy, widgets",
    "course/01_architecture/01_attention_cost.ipynb": "FLOPs, memory and traffic of attention variants against length",
    "course/01_architecture/02_efficient_attention.ipynb": "tiled attention = naive attention; Performer error",
    "course/01_architecture/03_ssm_vs_attention.ipynb": "selective scan equivalences; timing slopes and crossover",
    "course/01_architecture/04_mixture_of_experts.ipynb": "routing, load balance, expert collapse; total vs active",
    "course/01_architecture/05_long_context.ipynb": "RoPE extensions, KV-cache memory, ring attention traffic",
    "course/02_reasoning/01_test_time_compute.ipynb": "accuracy against compute for sampling, verifiers and search",
    "course/02_reasoning/02_tools_and_formal_reasoning.ipynb": "accuracy with a calculator and with a solver",
    "course/02_reasoning/03_agents.ipynb": "agent success against steps; per-step error rates",
    "course/03_multimodal/01_vision_language.ipynb": "visual token budgets; contrastive retrieval accuracy",
    "course/03_multimodal/02_beyond_vision.ipynb": "audio/video token budgets; image tokens generated",
    "course/04_alignment/01_preference_optimisation.ipynb": "RLHF, DPO, IPO, ORPO against the closed-form optimum",
    "course/04_alignment/02_oversight_and_robustness.ipynb": "red-team success; layered defences; probes, debate",
    "course/05_efficiency/01_compute_optimal.ipynb": "Chinchilla fits, iso-FLOP curves, distillation",
    "course/05_efficiency/02_serving.ipynb": "speculative decoding speedup, quantization error, will it fit",
    "course/05_efficiency/03_peft.ipynb": "LoRA, composed adapters, soft prompts: quality per trained parameter",
    "course/06_knowledge/01_rag_and_hallucination.ipynb": "closed-book vs RAG hallucination rates with intervals",
    "course/06_knowledge/02_calibration.ipynb": "reliability diagrams, ECE, abstention vs coverage",
    "course/06_knowledge/03_editing_and_memory.ipynb": "rank-one edits: efficacy and side effects; agent memory",
    "course/07_society/01_energy_and_emissions.ipynb": "training energy and CO2 from published inputs; your own run",
    "course/07_society/02_regulation_and_work.ipynb": "EU AI Act risk tiers; task exposure",
    "course/08_finance/01_structured_data.ipynb": "text-to-SQL test-suite accuracy; refused attacks",
    "course/08_finance/02_markets_and_deployment.ipynb": "latency budgets, synthetic scenarios, on-premises sizing",
    "course/09_takeaways.ipynb": "the chapter's six takeaways, recomputed",
    "solutions/ex1_efficiency/ex1_efficiency.ipynb": "Exercise 1: total/active parameters, FLOPs per token, memory",
    "solutions/ex2_context_cost/ex2_context_cost.ipynb": "Exercise 2: long context vs RAG vs map-reduce cost",
    "solutions/ex3_dpo/ex3_dpo.ipynb": "Exercise 3: DPO's implicit reward and its optimum",
    "solutions/ex4_hallucination/ex4_hallucination.ipynb": "Exercise 4: a hallucination measurement with intervals",
    "solutions/ex5_ssm_vs_transformer/ex5_ssm_vs_transformer.ipynb": "Exercise 5: 100K-token cost, a scan, scaling",
}

_ROW = re.compile(r"^(?P<path>\S+\.ipynb)\s+(?P<status>ok|FAILED)\s+(?P<seconds>[0-9.]+)\s*$")


def _relative(path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix()


def read_notebook_times(path: Union[str, Path] = SMOKE_TIMES) -> Dict[str, Dict[str, object]]:
    """Parse a runner timing table: ``{notebook (relative to the repo): {"seconds": float, "ok": bool}}``.

    The table is :func:`frontier.notebooks.runner.format_table`'s text (header, one row per notebook, a total,
    then failure notes, which are skipped).  A missing file gives ``{}``.
    """
    path = Path(path)
    if not path.exists():
        return {}
    out: Dict[str, Dict[str, object]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line.strip())
        if m:
            out[_relative(m["path"])] = {"seconds": float(m["seconds"]), "ok": m["status"] == "ok"}
    return out


def notebook_title(path: Union[str, Path]) -> str:
    """The first ``# `` heading of a notebook's first markdown cell (``""`` if it has none)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for line in src.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            return ""
    return ""


def _cell(times: Dict[str, Dict[str, object]], key: str) -> str:
    t = times.get(key)
    if t is None:
        return NOT_MEASURED
    return f"{t['seconds']:.1f} s" + ("" if t["ok"] else " (failed)")


def course_map(smoke_times: Union[str, Path] = SMOKE_TIMES, full_times: Union[str, Path] = FULL_TIMES,
               root: Path = REPO_ROOT) -> List[Dict[str, str]]:
    """One row per notebook in :data:`MEASURES` that exists under ``root``: ``notebook``, ``title``,
    ``measures``, ``smoke`` and ``full`` (runtimes as text, read from the two tables, or :data:`NOT_MEASURED`)."""
    smoke, full = read_notebook_times(smoke_times), read_notebook_times(full_times)
    rows = []
    for rel, what in MEASURES.items():
        nb = Path(root) / rel
        if not nb.exists():
            continue
        rows.append({"notebook": rel, "title": notebook_title(nb), "measures": what,
                     "smoke": _cell(smoke, rel), "full": _cell(full, rel)})
    return rows


def course_map_markdown(rows: List[Dict[str, str]], link_from: Optional[str] = "course") -> str:
    """The map as a Markdown table; links are relative to the folder ``link_from`` (relative to the repo)."""
    import os

    lines = ["| notebook | what it measures | SMOKE | full |", "|---|---|---|---|"]
    for r in rows:
        target = r["notebook"] if link_from is None else os.path.relpath(r["notebook"], link_from)
        lines.append(f"| [{r['title'] or r['notebook']}]({Path(target).as_posix()}) | {r['measures']} | "
                     f"{r['smoke']} | {r['full']} |")
    return "\n".join(lines)
