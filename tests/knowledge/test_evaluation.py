"""Grading, hallucination rate, attribution, and the Wilson / McNemar statistics against statsmodels."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from frontier.knowledge.evaluation import (attributed, grade, mcnemar_exact, paired_table, rates,
                                           wilson_interval)


def test_grade_and_rates():
    out = [grade(5, False, 5), grade(4, False, 5), grade(None, True, 5), grade(None, False, 5)]
    assert out == ["correct", "incorrect", "abstained", "incorrect"]
    r = rates(out)
    assert r.accuracy == 0.25 and r.hallucination_rate == pytest.approx(2 / 3) and r.abstention_rate == 0.25
    assert rates(["abstained"]).hallucination_rate != rates(["abstained"]).hallucination_rate   # NaN
    with pytest.raises(ValueError):
        rates(["maybe"])


def test_attribution():
    assert attributed(4821, ["Revenue was $4,821 million.", "other"])
    assert not attributed(4821, ["Revenue was $4,822 million."])
    assert not attributed(None, ["4821"])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 500), data=st.data())
def test_wilson_matches_statsmodels(n, data):
    from statsmodels.stats.proportion import proportion_confint
    k = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(k, n)
    want = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert lo == pytest.approx(want[0], abs=1e-10) and hi == pytest.approx(want[1], abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(b=st.integers(0, 60), c=st.integers(0, 60))
def test_mcnemar_matches_statsmodels(b, c):
    from statsmodels.stats.contingency_tables import mcnemar
    want = mcnemar(np.array([[10, b], [c, 7]]), exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(want, abs=1e-12)


def test_paired_table():
    t = paired_table([1, 1, 0, 0, 1], [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(t, [[1, 2], [1, 1]])


def test_bad_statistics_input():
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)
