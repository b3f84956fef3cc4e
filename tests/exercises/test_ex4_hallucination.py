"""Exercise 4's support: frozen expected values against independent computations, the import block, the guard."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from frontier.exercises import ex4_hallucination as ex4
from frontier.knowledge import evaluation as ev


def test_wilson_cases_match_the_course_library_and_a_direct_formula():
    for k, n, lo, hi in ex4.frozen_values()["_WILSON_CASES"]:
        assert ev.wilson_interval(k, n) == pytest.approx((lo, hi), abs=1e-10)
        z = 1.959963984540054
        p = k / n
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        h = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert (max(0, c - h), min(1, c + h)) == pytest.approx((lo, hi), abs=1e-10)


def test_mcnemar_cases_match_a_direct_binomial_sum():
    for b, c, p in ex4.frozen_values()["_MCNEMAR_CASES"]:
        n = b + c
        direct = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n)
        assert p == pytest.approx(direct, abs=1e-12) and ev.mcnemar_exact(b, c) == pytest.approx(p, abs=1e-12)


def test_metric_cases_separate_hallucination_from_one_minus_accuracy():
    cases = ex4.frozen_values()["_METRIC_CASES"]
    assert any(h is None for _, _, _, h, _ in cases)                   # nothing attempted: NaN
    assert any(h is not None and abs(h - (1 - acc)) > 0.1 for _, _, acc, h, _ in cases)
    for outcomes, n, acc, h, abst in cases:
        c = outcomes.count("correct")
        i = outcomes.count("incorrect")
        assert n == len(outcomes) and acc == pytest.approx(c / n)
        assert (h is None and c + i == 0) or h == pytest.approx(i / (c + i))


def test_strata_cases_cap_each_group():
    for strata, per, want in ex4.frozen_values()["_STRATA_CASES"]:
        counts = {}
        for s, f in strata:
            counts[f"{s} x{f}"] = counts.get(f"{s} x{f}", 0) + 1
        assert want == {k: min(per, v) for k, v in sorted(counts.items())}


def test_block_imports_hides_and_restores_statsmodels():
    import statsmodels.stats.contingency_tables as ct
    with ex4.block_imports():
        with pytest.raises(ImportError):
            from statsmodels.stats.contingency_tables import mcnemar  # noqa: F401
    assert sys.modules["statsmodels.stats.contingency_tables"] is ct


def test_guard_catches_a_student_who_delegates_to_the_library():
    from frontier.exercises.guard import DelegationError, no_delegation
    from frontier.knowledge.evaluation import wilson_interval as lib_wilson
    ns = {"lib_wilson": lib_wilson}
    with no_delegation(ns, ex4.LIBRARY_FORBIDDEN, part="wilson_interval"):
        with pytest.raises(DelegationError):
            ns["lib_wilson"](3, 10)


def test_hidden_test_pattern_stops_a_call_time_statsmodels_import_but_not_scipy():
    from frontier.exercises.guard import no_delegation

    def delegating(b, c):
        from statsmodels.stats.contingency_tables import mcnemar
        return float(mcnemar([[0, b], [c, 0]], exact=True).pvalue)

    def honest(b, c):
        from scipy.stats import binom
        return float(min(1.0, 2 * binom.cdf(min(b, c), b + c, 0.5)))

    ns = {"delegating": delegating, "honest": honest}
    want = ev.mcnemar_exact(3, 9)
    blocked = ex4.block_imports()                   # made before the guard stubs the module's functions
    with no_delegation(ns, ex4.LIBRARY_FORBIDDEN, part="mcnemar_exact_p"), blocked:
        with pytest.raises(ImportError):
            ns["delegating"](3, 9)
        assert ns["honest"](3, 9) == pytest.approx(want)
