"""Task exposure in the style of Eloundou et al. (2023), and the measured evidence on productivity.

Eloundou, Manning, Mishkin and Rock ("GPTs are GPTs", arXiv 2303.10130) rate
each task of an occupation:

* **E0**, no exposure: an LLM does not cut the time to do the task at equal quality by half or more;
* **E1**, direct exposure: the LLM alone (chat interface, no other tools) cuts it by at least half;
* **E2**, exposure with tools: software built on an LLM (retrieval, code execution, other systems) would.

An occupation's exposure averages over its tasks:
``alpha = share E1``, ``beta = E1 + 0.5 E2``, ``zeta = E1 + E2`` (their
lower, middle and upper measures).  We weight tasks by the share of working
time they take; the paper weights O*NET tasks equally within an occupation.

Exposure says a task *could* be done faster; it does not say whether workers
are replaced (automation) or made more productive (augmentation).
:data:`TASKS` labels each task with the course's judgement of which is more
likely, and :data:`EVIDENCE` gives the measured results.

The ratings in :data:`TASKS` are **this course's illustrative ratings** of a
small set of finance and software tasks, following the paper's rubric; they
are not the paper's ratings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence

import numpy as np

from ..validation import choice, fraction
from .sources import Source

__all__ = ["LEVELS", "MODES", "Task", "TASKS", "ROLES", "RoleExposure", "role_exposure", "exposure_table",
           "share_of_roles_exposed", "EVIDENCE", "ELOUNDOU", "BRYNJOLFSSON"]

#: Exposure levels and their weight in beta.
LEVELS = {"E0": 0.0, "E1": 1.0, "E2": 0.5}
#: What an exposed task is more likely to see.
MODES = ("augmentation", "automation", "none")


@dataclass(frozen=True)
class Task:
    """A task of a role, its share of working time, its exposure level and the likely mode of impact."""

    role: str
    task: str
    time_share: float
    level: str
    mode: str
    why: str

    def __post_init__(self) -> None:
        fraction("time_share", self.time_share)
        choice("level", self.level, tuple(LEVELS))
        choice("mode", self.mode, MODES)
        if self.level == "E0" and self.mode != "none":
            raise ValueError(f"{self.task!r}: an E0 task has mode 'none', got {self.mode!r}")


def _t(role, task, share, level, mode, why) -> Task:
    return Task(role, task, share, level, mode, why)


#: Illustrative ratings (this course's, following Eloundou et al.'s rubric) for five roles.
TASKS: List[Task] = [
    _t("financial analyst", "summarise earnings calls and filings", 0.25, "E1", "augmentation",
       "reading and condensing text; the analyst checks and decides what matters"),
    _t("financial analyst", "build and update valuation models", 0.30, "E2", "augmentation",
       "needs a spreadsheet or code tool and live data on top of the model"),
    _t("financial analyst", "write research notes", 0.20, "E1", "augmentation", "drafting text from notes"),
    _t("financial analyst", "meet management and clients", 0.25, "E0", "none", "relationships and judgement in person"),
    _t("loan officer", "collect and check application documents", 0.30, "E2", "automation",
       "extraction from documents with a document-processing tool"),
    _t("loan officer", "decide on credit and explain the decision", 0.30, "E0", "none",
       "a regulated decision (Annex III 5(b), Regulation B) that stays with a person"),
    _t("loan officer", "answer applicants' questions", 0.20, "E1", "augmentation", "routine questions in writing"),
    _t("loan officer", "visit and advise customers", 0.20, "E0", "none", "in-person advice"),
    _t("compliance analyst", "check communications against policies", 0.35, "E2", "augmentation",
       "retrieval over policies plus classification; a human reviews flags"),
    _t("compliance analyst", "draft regulatory reports", 0.30, "E1", "augmentation", "structured writing"),
    _t("compliance analyst", "investigate escalated cases", 0.35, "E0", "none", "judgement, interviews, evidence"),
    _t("software developer", "write and refactor code", 0.40, "E1", "augmentation",
       "code completion and generation, reviewed by the developer"),
    _t("software developer", "write tests and documentation", 0.20, "E1", "automation",
       "routine generation from existing code"),
    _t("software developer", "debug production incidents", 0.20, "E2", "augmentation",
       "needs logs, tools and execution around the model"),
    _t("software developer", "agree requirements with stakeholders", 0.20, "E0", "none", "negotiation and context"),
    _t("customer-support agent", "answer customers' written questions", 0.60, "E1", "augmentation",
       "suggested replies, as in Brynjolfsson et al.; the agent sends them"),
    _t("customer-support agent", "look up accounts and process changes", 0.25, "E2", "automation",
       "needs access to the firm's systems"),
    _t("customer-support agent", "calm and retain upset customers", 0.15, "E0", "none", "empathy on the phone"),
]

#: The roles, in table order.
ROLES: List[str] = list(dict.fromkeys(t.role for t in TASKS))


@dataclass(frozen=True)
class RoleExposure:
    """Time-weighted exposure of one role (fractions of working time)."""

    role: str
    alpha: float
    beta: float
    zeta: float
    augmentation: float
    automation: float
    n_tasks: int


def role_exposure(tasks: Sequence[Task], role: str) -> RoleExposure:
    """alpha, beta and zeta for ``role``, weighting its tasks by time share (which must sum to 1)."""
    rows = [t for t in tasks if t.role == role]
    if not rows:
        raise ValueError(f"no tasks for role {role!r}; roles are {sorted({t.role for t in tasks})}")
    w = np.array([t.time_share for t in rows])
    if not np.isclose(w.sum(), 1.0, atol=1e-9):
        raise ValueError(f"time shares of {role!r} must sum to 1, got {w.sum():.4f}")
    e1 = float(sum(t.time_share for t in rows if t.level == "E1"))
    e2 = float(sum(t.time_share for t in rows if t.level == "E2"))
    aug = float(sum(t.time_share for t in rows if t.mode == "augmentation"))
    auto = float(sum(t.time_share for t in rows if t.mode == "automation"))
    return RoleExposure(role, e1, e1 + 0.5 * e2, e1 + e2, aug, auto, len(rows))


def exposure_table(tasks: Sequence[Task] = TASKS) -> List[RoleExposure]:
    """:func:`role_exposure` for every role in ``tasks``, in order of appearance."""
    return [role_exposure(tasks, r) for r in dict.fromkeys(t.role for t in tasks)]


def share_of_roles_exposed(table: Iterable[RoleExposure], at_least: float, measure: str = "beta") -> float:
    """Fraction of roles with ``measure`` >= ``at_least`` (Eloundou et al. count workers; we count roles)."""
    at_least = fraction("at_least", at_least)
    choice("measure", measure, ("alpha", "beta", "zeta"))
    rows = list(table)
    if not rows:
        raise ValueError("table is empty")
    return float(np.mean([getattr(r, measure) >= at_least for r in rows]))


ELOUNDOU = Source("Eloundou, Manning, Mishkin, Rock 2023, GPTs are GPTs (arXiv 2303.10130)",
                  "abstract and section 4: ~80% of US workers have >= 10% of tasks exposed, ~19% have >= 50%",
                  "SECONDARY", note="via facts.md section 13; exposure, not measured adoption")
BRYNJOLFSSON = Source("Brynjolfsson, Li, Raymond 2023, Generative AI at Work (NBER w31161)",
                      "abstract: 5,179 customer-support agents; +14% issues resolved per hour on average, "
                      "+34% for novice and low-skilled workers, little effect for the most experienced",
                      "SECONDARY", note="via facts.md section 13")

#: The measured evidence the lesson quotes.
EVIDENCE: Dict[str, Dict[str, object]] = {
    "eloundou_2023": {"workers_with_10pct_tasks_exposed": 0.80, "workers_with_50pct_tasks_exposed": 0.19,
                      "kind": "exposure estimate (GPT-4 and human raters)", "source": ELOUNDOU},
    "brynjolfsson_2023": {"agents": 5_179, "productivity_gain_average": 0.14, "productivity_gain_novices": 0.34,
                          "kind": "field study of an AI assistant for support agents", "source": BRYNJOLFSSON},
}
