"""Exercise 4 (measuring hallucination: closed-book against RAG): cases and the expected values of the hidden tests.

Students write the metric, the stratified question set, the Wilson interval and McNemar's exact test; they may call
the course's corpus, retrieval and reader to *produce* answers.  :func:`frozen_values` computes every expected value
of the hidden tests: the statistics with ``statsmodels`` (``proportion_confint(method="wilson")`` and
``mcnemar(exact=True)``), an implementation independent of the course library, and the metric and strata from
:mod:`frontier.knowledge`; ``python -m frontier.grading freeze`` writes them into the hidden cells.
"""
from __future__ import annotations

import contextlib
import math
import sys
from typing import Dict, Iterator, List, Sequence

import numpy as np

from ..knowledge import evaluation as _ev

__all__ = ["LIBRARY_FORBIDDEN", "MAY_CALL", "MUST_WRITE", "frozen_values", "gaming_students", "block_imports",
           "BLOCKED_PACKAGES"]

#: Packages a graded statistics function may not import while it runs (:func:`block_imports`).
BLOCKED_PACKAGES = ("statsmodels",)


@contextlib.contextmanager
def block_imports(packages: Sequence[str] = BLOCKED_PACKAGES) -> Iterator[None]:
    """While the block runs, ``import`` of ``packages`` (and their submodules) raises ImportError.

    :func:`frontier.exercises.guard.no_delegation` swaps the functions of the forbidden modules where the student's
    namespace and the ``frontier`` modules hold them; a function that imports ``statsmodels`` afresh when it is
    called would still reach the real one, so the hidden tests also hide the package from ``sys.modules``.
    """
    saved = {n: m for n, m in sys.modules.items() if any(n == p or n.startswith(p + ".") for p in packages)}
    for n in list(saved) + list(packages):
        sys.modules[n] = None                      # type: ignore[assignment]
    try:
        yield
    finally:
        for n in packages:
            sys.modules.pop(n, None)
        sys.modules.update(saved)

#: Modules whose functions raise while a graded function of Exercise 4 runs (see :mod:`frontier.exercises.guard`).
LIBRARY_FORBIDDEN = ("frontier.knowledge.evaluation", "frontier.knowledge.calibration", "frontier.knowledge.qa",
                     "frontier.exercises.ex4_hallucination", "statsmodels.stats.proportion",
                     "statsmodels.stats.contingency_tables")
#: What graded functions may call.
MAY_CALL = ("math", "numpy", "scipy.stats (distributions such as binom and norm)", "collections")
#: The graded functions.
MUST_WRITE = ("grade_answer", "hallucination_metrics", "stratified_questions", "wilson_interval", "mcnemar_exact_p",
              "discordant_counts")


def _wilson_cases() -> List[list]:
    from statsmodels.stats.proportion import proportion_confint
    cases = [(0, 1), (1, 1), (0, 17), (17, 17), (3, 40), (20, 40), (99, 100), (7, 1000), (123, 321), (5, 6)]
    out = []
    for k, n in cases:
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        out.append([k, n, round(float(lo), 12), round(float(hi), 12)])
    return out


def _mcnemar_cases() -> List[list]:
    from statsmodels.stats.contingency_tables import mcnemar
    cases = [(0, 0), (0, 1), (1, 0), (3, 3), (0, 9), (2, 11), (14, 5), (30, 41), (1, 25), (60, 40)]
    return [[b, c, round(float(mcnemar(np.array([[5, b], [c, 5]]), exact=True).pvalue), 14)] for b, c in cases]


def _grade_cases() -> List[list]:
    cases = [(4821, False, 4821), (4822, False, 4821), (None, True, 4821), (None, False, 7), (-12, False, -12),
             (12, False, -12), (7, True, 7), ("4821", False, 4821)]
    return [[p, a, t, _ev.grade(None if p is None else int(p), a, t)] for p, a, t in cases]


def _metric_cases() -> List[list]:
    rng = np.random.default_rng(4)
    out = []
    for n_c, n_i, n_a in [(5, 1, 2), (0, 3, 0), (0, 0, 4), (10, 0, 0), (7, 7, 7), (1, 9, 30)]:
        outcomes = ["correct"] * n_c + ["incorrect"] * n_i + ["abstained"] * n_a
        outcomes = [outcomes[int(i)] for i in rng.permutation(len(outcomes))]
        r = _ev.rates(outcomes)
        h = r.hallucination_rate
        out.append([outcomes, r.n, round(r.accuracy, 12), None if math.isnan(h) else round(h, 12),
                    round(r.abstention_rate, 12)])
    return out


def _strata_cases() -> List[list]:
    rng = np.random.default_rng(7)
    out = []
    for per in (1, 3, 5):
        strata = [("seen", 1)] * int(rng.integers(2, 9)) + [("seen", 2)] * int(rng.integers(1, 6)) + \
                 [("seen", 8)] * int(rng.integers(1, 3)) + [("unseen", 0)] * int(rng.integers(3, 9)) + \
                 [("abstain", 0)] * int(rng.integers(0, 4))
        strata = [strata[int(i)] for i in rng.permutation(len(strata))]
        counts: Dict[str, int] = {}
        for s in strata:
            counts[f"{s[0]} x{s[1]}"] = counts.get(f"{s[0]} x{s[1]}", 0) + 1
        want = {k: min(per, v) for k, v in sorted(counts.items())}
        out.append([[list(s) for s in strata], per, want])
    return out


def frozen_values() -> Dict[str, object]:
    """Every expected value of Exercise 4's hidden tests (statistics from statsmodels, metric from the library)."""
    return {"_WILSON_CASES": _wilson_cases(), "_MCNEMAR_CASES": _mcnemar_cases(), "_GRADE_CASES": _grade_cases(),
            "_METRIC_CASES": _metric_cases(), "_STRATA_CASES": _strata_cases()}


def gaming_students() -> Dict[str, Dict[str, object]]:
    """Fake students who try to pass without doing the work, with the autograded score a TA would give them."""
    delegates = {
        "ex4-wilson": """def wilson_interval(successes, n, z=1.959963984540054):
    from frontier.knowledge.evaluation import wilson_interval as library_wilson
    return library_wilson(successes, n)""",
        "ex4-mcnemar": """def mcnemar_exact_p(b, c):
    from statsmodels.stats.contingency_tables import mcnemar
    return float(mcnemar([[0, b], [c, 0]], exact=True).pvalue)""",
    }
    one_minus_accuracy = {
        "ex4-metrics": """def hallucination_metrics(outcomes):
    n = len(outcomes)
    correct = sum(o == "correct" for o in outcomes)
    abstained = sum(o == "abstained" for o in outcomes)
    return {"n": n, "accuracy": correct / n, "hallucination_rate": 1 - correct / n,
            "abstention_rate": abstained / n}""",
    }
    return {
        "delegates": {"answers": delegates, "auto_score": 15.0 - 3.0 - 3.0,
                      "ta": "loses C1 and C2 (6 points): calls the course library and statsmodels instead of "
                            "computing the interval and the test"},
        "one_minus_accuracy": {"answers": one_minus_accuracy, "auto_score": 15.0 - 3.0,
                               "ta": "loses A2 (3 points): 1 - accuracy counts abstentions as hallucinations"},
    }
