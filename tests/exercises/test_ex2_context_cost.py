"""Exercise 2's support: frozen values are literals computed by the library, the forbidden list covers the
cost model, and the gaming students are declared."""
from __future__ import annotations

import json

from frontier.exercises import ASSIGNMENTS
from frontier.exercises import ex2_context_cost as ex2
from frontier.finance import context_cost as cc


def test_registered():
    assert "ex2_context_cost" in ASSIGNMENTS


def test_frozen_values_are_literals_from_the_library():
    values = ex2.frozen_values()
    assert json.loads(json.dumps(values)) == values
    (n, L, d, T, a), want = values["_PREFILL_CASES"][0]
    assert want == cc.prefill_flops(n, L, d, T, a)
    (approach, D, prices, kw), want = values["_COST_CASES"][0]
    assert want == list(cc.approach_costs(approach, D, cc.Prices(**prices), **kw))
    assert {a for (a, *_), _ in values["_COST_CASES"]} == set(cc.APPROACHES)       # every approach is tested
    assert any(kw["prefix_cache"] for (_, _, _, kw), _ in values["_COST_CASES"])
    assert None in [w for _, w in values["_BREAK_EVEN_CASES"]] and 1 in [w for _, w in values["_BREAK_EVEN_CASES"]]
    for size, k, hits in values["_TOPK_CASES"]:
        assert 0 < sum(hits) < len(hits) or size >= 300                               # cases that discriminate


def test_forbidden_modules_hold_the_reference():
    assert "frontier.finance.context_cost" in ex2.LIBRARY_FORBIDDEN
    assert "frontier.finance.filing" not in ex2.LIBRARY_FORBIDDEN                    # students may make data
    assert set(ex2.MUST_WRITE) <= {"prefill_flops", "decode_flops", "kv_cache_bytes", "approach_costs",
                                   "break_even_queries", "answer_in_top_k"}


def test_gaming_students_are_declared():
    g = ex2.gaming_students()
    assert set(g) == {"delegates", "hardcodes"}
    assert g["delegates"]["auto_score"] < g["hardcodes"]["auto_score"] < 18
