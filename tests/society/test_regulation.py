"""frontier.society.regulation: the questionnaire gives the documented tier and cites an article for every answer."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontier.society import regulation as R

ARTICLE = re.compile(r"^(Art\. \d+(\(\d+\))?|Annex [IVX]+)")


@pytest.mark.parametrize("key", list(R.FINANCE_CASES))
def test_finance_cases_get_their_documented_tier(key):
    case = R.FINANCE_CASES[key]
    c = R.classify(case.answers)
    assert c.tier == case.documented_tier, c.explain()


def test_documented_tiers_of_the_four_cases():
    tiers = {k: R.classify(v.answers).tier for k, v in R.FINANCE_CASES.items()}
    assert tiers == {"credit_scoring_assistant": "high-risk", "fraud_detector": "minimal",
                     "research_chatbot": "limited", "insurance_pricing": "high-risk"}
    assert "Annex III 5(b)" in R.classify(R.FINANCE_CASES["credit_scoring_assistant"].answers).decisive
    assert "Annex III 5(c)" in R.classify(R.FINANCE_CASES["insurance_pricing"].answers).decisive
    assert "Annex III 5(b)" in R.classify(R.FINANCE_CASES["fraud_detector"].answers).decisive   # the exception


@given(st.fixed_dictionaries({q.key: st.booleans() for q in R.QUESTIONS}))
@settings(max_examples=200, deadline=None)
def test_every_answer_cites_an_article_and_the_tier_is_consistent(answers):
    c = R.classify(answers)
    assert c.tier in R.TIER_ORDER
    assert len(c.steps) == len(R.QUESTIONS)
    for s in c.steps:
        assert ARTICLE.match(s.article), s
        assert s.consequence
    assert c.decisive and all(ARTICLE.match(a) for a in c.decisive)
    assert all(ARTICLE.match(art) for _, art in c.obligations)
    # monotone facts of the Act
    if answers["prohibited_practice"]:
        assert c.tier == "prohibited"
    elif answers["safety_component"]:
        assert c.tier == "high-risk"
    elif answers["credit_scoring"] and not answers["fraud_detection"] and answers["profiling"]:
        assert c.tier == "high-risk"                              # profiling voids the Art. 6(3) exemption
    if c.tier in ("minimal",):
        assert not (answers["interacts_with_people"] or answers["generates_content"])


def test_art_6_3_exemption_needs_no_profiling():
    base = {"credit_scoring": True, "narrow_procedural": True}
    assert R.classify({**base, "profiling": False}).tier == "minimal"
    assert R.classify({**base, "profiling": True}).tier == "high-risk"
    assert R.classify({**base, "profiling": False, "interacts_with_people": True}).tier == "limited"


def test_high_risk_chatbot_carries_transparency_duties_too():
    c = R.classify({"credit_scoring": True, "profiling": True, "interacts_with_people": True})
    assert c.tier == "high-risk" and "Art. 50(1)" in c.transparency
    assert "Art. 50(1)" in [a for _, a in c.obligations] and "Art. 14" in [a for _, a in c.obligations]


def test_questionnaire_rejects_bad_input():
    with pytest.raises(KeyError, match="credit_scorng"):
        R.classify({"credit_scorng": True})
    with pytest.raises(TypeError, match="credit_scoring"):
        R.classify({"credit_scoring": "yes"})
    with pytest.raises(TypeError):
        R.classify(["credit_scoring"])


@pytest.mark.parametrize("key, fixed, share", [("prohibited", 35e6, 0.07), ("obligations", 15e6, 0.03),
                                                ("information", 7.5e6, 0.01)])
def test_penalty_ceilings_whichever_is_higher(key, fixed, share):
    small, big = R.penalty_ceiling(key, 1e8), R.penalty_ceiling(key, 1e11)
    assert small.ceiling_eur == fixed                              # share of EUR 100M is below the fixed amount
    assert big.ceiling_eur == pytest.approx(share * 1e11)          # share of EUR 100bn is above it
    breakeven = fixed / share
    assert R.penalty_ceiling(key, breakeven).ceiling_eur == pytest.approx(fixed)
    sme = R.penalty_ceiling(key, 1e11, sme=True)
    assert sme.ceiling_eur == fixed and "lower" in sme.rule     # Art. 99(6): whichever is lower
    assert R.penalty_ceiling(key, 1e8, sme=True).ceiling_eur == pytest.approx(share * 1e8)


def test_penalty_bad_input():
    with pytest.raises(ValueError, match="infringement"):
        R.penalty_ceiling("murder", 1e9)
    with pytest.raises(ValueError, match="worldwide_turnover_eur"):
        R.penalty_ceiling("prohibited", -1)


def test_systemic_risk_threshold_and_dates():
    assert R.SYSTEMIC_RISK_FLOPS == 1e25
    assert R.systemic_risk_presumed(1.01e25) and not R.systemic_risk_presumed(9.9e24)
    dates = [d["date"] for d in R.AI_ACT_DATES]
    assert dates == sorted(dates) and "2025-02-02" in dates and "2026-08-02" in dates
    assert all(d["article"].startswith("Art. 113") for d in R.AI_ACT_DATES)


def test_annex_iii_finance_points_and_exception():
    assert "fraud" in R.ANNEX_III_FINANCE["5(b)"].lower() and "credit" in R.ANNEX_III_FINANCE["5(b)"]
    assert "life and health insurance" in R.ANNEX_III_FINANCE["5(c)"]


def test_sr_11_7_eo_14110_and_reg_b():
    assert R.SR_11_7["issued"] == "2011-04-04" and len(R.SR_11_7["pillars"]) == 3
    assert "validation" in R.SR_11_7["pillars"] and "inventory" in R.SR_11_7["pillars"][
        "governance, policies and controls"]
    eo = R.US_EXECUTIVE_ORDERS[0]
    assert eo["status"] == "revoked" and eo["revoked"] == "2025-01-20" and eo["checked"]
    assert R.REG_B_ADVERSE_ACTION["notice_within_days"] == 30


def test_principal_reasons_picks_the_most_harmful_features():
    contrib = {"utilisation": -0.8, "income": 0.5, "late payments": -1.2, "tenure": -0.1, "age of file": -0.05,
               "inquiries": -0.3}
    reasons = R.principal_reasons(contrib)
    assert [r for r, _ in reasons] == ["late payments", "utilisation", "inquiries", "tenure"]
    assert len(R.principal_reasons(contrib, k=2)) == 2
    with pytest.raises(ValueError, match="no feature lowered"):
        R.principal_reasons({"income": 0.3})
    with pytest.raises(TypeError):
        R.principal_reasons({"income": float("nan")})
