"""Support for the course's assignments: one module per assignment, mirroring ``solutions/<assignment>/``.

* :mod:`~frontier.exercises.guard`                  the hidden tests' guard: library functions a student could
  delegate to raise while the student's function runs (:func:`~frontier.exercises.guard.no_delegation`)
* :mod:`~frontier.exercises.ex1_efficiency`         Exercise 1: configs as the exercise describes them, unseen
  configurations, the expected values frozen into the hidden tests
* :mod:`~frontier.exercises.ex2_context_cost`       Exercise 2: the cost model's expected values (from
  :mod:`frontier.finance.context_cost`) and the hidden filing's retrieval hits, frozen into the hidden tests
* :mod:`~frontier.exercises.ex3_dpo`                Exercise 3: unseen bandits, expected win counts, the expected values
  frozen into the hidden tests, a correct DPO loss swapped in while ``fit_dpo`` is tested
* :mod:`~frontier.exercises.ex4_hallucination`      Exercise 4: the expected values of the hidden tests (Wilson and
  McNemar from statsmodels, the metric and strata from :mod:`frontier.knowledge`)
* :mod:`~frontier.exercises.ex5_ssm_vs_transformer` Exercise 5: scan cases, timings with the shape real CPUs show,
  the depth of a scan, the expected values frozen into the hidden tests

Each assignment module has ``frozen_values() -> {name: literal}``: the expected values that
``python -m frontier.grading freeze`` writes into the hidden test cells, computed from the section modules (never
retyped), and ``LIBRARY_FORBIDDEN``: the modules whose functions a student may not call from graded answers.
This package may import any section (tests/test_layering.py); the grading tooling lives in :mod:`frontier.grading`.
"""
from __future__ import annotations

ASSIGNMENTS = ("ex1_efficiency", "ex2_context_cost", "ex3_dpo", "ex4_hallucination", "ex5_ssm_vs_transformer")

__all__ = ["ASSIGNMENTS", "assignment_module"]


def assignment_module(assignment: str):
    """The support module of ``assignment`` (``frontier.exercises.<assignment>``)."""
    import importlib

    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {list(ASSIGNMENTS)}, got {assignment!r}")
    return importlib.import_module(f"{__name__}.{assignment}")
