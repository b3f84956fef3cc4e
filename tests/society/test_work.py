"""frontier.society.work: Eloundou-style exposure measures and the cited evidence."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.society import work as W


def test_measures_follow_the_rubric():
    for r in W.exposure_table():
        assert 0 <= r.alpha <= r.beta <= r.zeta <= 1
        assert r.beta == pytest.approx(r.alpha + 0.5 * (r.zeta - r.alpha))
        assert r.augmentation + r.automation == pytest.approx(r.zeta)    # every exposed task has a mode


def test_a_hand_computed_role():
    tasks = [W.Task("x", "a", 0.5, "E1", "augmentation", ""), W.Task("x", "b", 0.3, "E2", "automation", ""),
             W.Task("x", "c", 0.2, "E0", "none", "")]
    r = W.role_exposure(tasks, "x")
    assert (r.alpha, r.beta, r.zeta) == pytest.approx((0.5, 0.65, 0.8))
    assert (r.augmentation, r.automation) == pytest.approx((0.5, 0.3))


@given(st.lists(st.sampled_from(["E0", "E1", "E2"]), min_size=1, max_size=8))
@settings(max_examples=50, deadline=None)
def test_zeta_counts_any_exposure(levels):
    share = 1.0 / len(levels)
    tasks = [W.Task("r", f"t{i}", share, lv, "none" if lv == "E0" else "augmentation", "")
             for i, lv in enumerate(levels)]
    r = W.role_exposure(tasks, "r")
    assert r.zeta == pytest.approx(sum(lv != "E0" for lv in levels) * share)


def test_every_role_in_the_table_has_shares_summing_to_one_and_finance_and_software_are_present():
    assert {"financial analyst", "loan officer", "software developer"} <= set(W.ROLES)
    assert len(W.exposure_table()) == len(W.ROLES)
    assert W.share_of_roles_exposed(W.exposure_table(), 0.10, "zeta") == 1.0


def test_bad_tasks_are_rejected():
    with pytest.raises(ValueError, match="level"):
        W.Task("r", "t", 0.5, "E3", "none", "")
    with pytest.raises(ValueError, match="time_share"):
        W.Task("r", "t", 1.5, "E1", "augmentation", "")
    with pytest.raises(ValueError, match="E0"):
        W.Task("r", "t", 0.5, "E0", "automation", "")
    with pytest.raises(ValueError, match="sum to 1"):
        W.role_exposure([W.Task("r", "t", 0.5, "E1", "augmentation", "")], "r")
    with pytest.raises(ValueError, match="no tasks"):
        W.role_exposure(W.TASKS, "astronaut")


def test_evidence_numbers():
    b = W.EVIDENCE["brynjolfsson_2023"]
    assert (b["agents"], b["productivity_gain_average"], b["productivity_gain_novices"]) == (5_179, 0.14, 0.34)
    e = W.EVIDENCE["eloundou_2023"]
    assert e["workers_with_10pct_tasks_exposed"] == 0.80 and e["workers_with_50pct_tasks_exposed"] == 0.19
