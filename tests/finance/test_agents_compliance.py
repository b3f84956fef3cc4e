"""Financial tools through the agent loop, compounding errors in a chain of agents, compliance retrieval."""
import pytest

from frontier.finance import agents as ag
from frontier.finance import compliance as comp
from frontier.finance import database as db


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    path = db.build(tmp_path_factory.mktemp("ag") / "f.db", 0)
    return path, db.corpus_for(0, 0)


def test_tools_validate_arguments_and_never_raise(setup):
    path, _ = setup
    tools = ag.financial_tools(path)
    assert tools.call("ratio", {"numerator": 1, "denominator": 4}).content == 0.25
    assert tools.call("growth", {"current": 110, "previous": 100}).content == pytest.approx(10.0)
    bad = tools.call("ratio", {"numerator": 1})
    assert not bad.ok and bad.error.kind == "invalid_arguments"
    zero = tools.call("ratio", {"numerator": 1, "denominator": 0})
    assert not zero.ok and zero.error.kind == "tool_failed"
    drop = tools.call("sql", {"query": "DROP TABLE companies"})
    assert drop.ok and drop.content["ok"] is False and drop.content["error"].startswith("rejected")


def test_tool_answers_match_the_corpus_even_with_slips(setup):
    path, corpus = setup
    tools = ag.financial_tools(path)
    qs = ag.reasoning_questions(corpus, 12)
    assert {q.steps for q in qs} == {1, 3, 4}
    for i, q in enumerate(qs):
        for rate in (0.0, 0.3):
            ep = ag.answer_with_tools(q, tools, error_rate=rate, seed=i)
            if ep.finished:
                assert ep.answer == pytest.approx(q.answer, rel=1e-12)
            if rate == 0.0:
                assert ep.finished and ep.steps == len(q.plan) - sum(t == "pick" for t, _ in q.plan) + 1


def test_chain_success_is_the_product_of_stage_successes():
    r = ag.pipeline_success([0.1, 0.2, 0.05], trials=1500, seed=1)
    se = (r["predicted"] * (1 - r["predicted"]) / 1500) ** 0.5
    assert abs(r["measured"] - r["predicted"]) < 4 * se
    retry = ag.pipeline_success([0.3, 0.3, 0.3], trials=1500, seed=2, max_steps=2)
    assert retry["predicted"] == pytest.approx(0.91 ** 3)
    assert abs(retry["measured"] - retry["predicted"]) < 0.05
    with pytest.raises(ValueError):
        ag.pipeline_success([1.5])


def test_compliance_cites_rules_with_the_course_retrievers():
    top = comp.cite_rules("Can I buy 2 million dollars of bonds without a second trader approving?", k=3)
    assert top[0][0] == "T-1"
    for name in ("bm25", "dense", "hybrid"):
        r = comp.evaluate(name, k=3)
        assert 0 <= r["top1"] <= r["top_k"] <= 1
    assert comp.evaluate("bm25", k=len(comp.RULE_BOOK))["top_k"] == 1.0
    with pytest.raises(ValueError):
        comp.cite_rules("   ")
