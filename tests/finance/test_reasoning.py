"""Multi-step financial reasoning: exact answers against SQL, step counts, the tool path, the measured effect."""
import sqlite3

import numpy as np
import pytest

from frontier.finance import database as db
from frontier.finance import reasoning as R

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_Q = """SELECT {expr} FROM income_statements s JOIN companies c ON s.company_id = c.company_id
        JOIN periods p ON s.period_id = p.period_id WHERE c.name = ? AND p.label = ?"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    path = db.build(tmp_path_factory.mktemp("reason") / "f.db", 0)
    corpus = db.corpus_for(0, 0)
    return path, corpus, R.make_questions(path, corpus)


def _one(con, expr, company, period):
    return con.execute(_Q.format(expr=expr), (company, period)).fetchone()[0]


def test_answers_match_sql(setup):
    path, corpus, qs = setup
    con = sqlite3.connect(path)
    names, periods = [c.name for c in corpus.companies], [p.label for p in corpus.periods]
    by = {}
    for q in qs:
        by.setdefault(q.kind, []).append(q)
    assert {k: len(v) for k, v in by.items()} == {"margin": 96, "growth": 84, "margin_change": 84, "portfolio": 462}
    c, p, p0 = names[3], periods[5], periods[4]
    margin = _one(con, "100.0 * s.net_income / s.revenue", c, p)
    assert by["margin"][3 * 8 + 5].answer == pytest.approx(margin, rel=1e-12)
    growth = 100.0 * (_one(con, "s.revenue", c, p) - _one(con, "s.revenue", c, p0)) / _one(con, "s.revenue", c, p0)
    assert by["growth"][3 * 7 + 4].answer == pytest.approx(growth, rel=1e-12)
    change = margin - _one(con, "100.0 * s.net_income / s.revenue", c, p0)
    assert by["margin_change"][3 * 7 + 4].answer == pytest.approx(change, rel=1e-12, abs=1e-12)
    a, b = names[0], names[1]
    now = _one(con, "s.revenue", a, periods[1]) + _one(con, "s.revenue", b, periods[1])
    before = _one(con, "s.revenue", a, periods[0]) + _one(con, "s.revenue", b, periods[0])
    assert by["portfolio"][0].answer == pytest.approx(100.0 * (now - before) / before, rel=1e-12)
    # the portfolio growth is the revenue-weighted average of the two companies' growths
    ga = 100.0 * (_one(con, "s.revenue", a, periods[1]) / _one(con, "s.revenue", a, periods[0]) - 1)
    gb = 100.0 * (_one(con, "s.revenue", b, periods[1]) / _one(con, "s.revenue", b, periods[0]) - 1)
    wa = _one(con, "s.revenue", a, periods[0]) / before
    assert by["portfolio"][0].answer == pytest.approx(wa * ga + (1 - wa) * gb, rel=1e-9)


def test_step_counts_and_traces(setup):
    _, _, qs = setup
    for q in qs[:50] + qs[-50:]:
        assert q.steps == len(R.program(q.kind)) == R.target_text(q, "cot").count(";")
        assert R.target_text(q, "tool").count(";") == q.steps
    assert sorted({q.steps for q in qs}) == [1, 2, 3, 4]


def test_perfect_tool_policy_and_trace_score_one(setup):
    path, _, qs = setup
    tools = R.calculator_tools(path)
    preds = {"tool": [R.run_program(R.target_text(q, "tool"), q.figures, tools) for q in qs],
             "cot": [R.parse_answer(R.target_text(q, "cot")) for q in qs],
             "direct": [None] * len(qs)}
    acc = R.accuracy_by_steps(qs, preds)
    assert all(acc["tool"][s]["accuracy"] == 1.0 for s in (1, 2, 3, 4))
    assert all(acc["cot"][s]["accuracy"] == 1.0 for s in (1, 2, 3, 4))
    assert all(acc["direct"][s]["accuracy"] == 0.0 and acc["direct"][s]["high"] > 0 for s in (1, 2, 3, 4))
    n = acc["tool"][4]["n"]
    assert acc["tool"][4]["low"] < 1.0 and n == 462


def test_digit_vocab_round_trip():
    v = R.DigitVocab()
    text = "r1 = sub x1 x2 = -75 ; r2 = pct r1 x2 = 12.5 ; ans = 12.5"
    assert v.decode(v.encode(text)) == text
    assert len(v.encode("1234")) == 4


def test_bad_input_raises(setup):
    path, _, qs = setup
    tools = R.calculator_tools(path)
    with pytest.raises(ValueError, match="way"):
        R.target_text(qs[0], "oracle")
    with pytest.raises(ValueError, match="vocabulary"):
        R.DigitVocab().encode("drop table")
    with pytest.raises(ValueError, match="questions"):
        R.accuracy_by_steps([], {})
    with pytest.raises(ValueError, match="entries"):
        R.accuracy_by_steps(qs[:2], {"tool": [1.0]})
    with pytest.raises(TypeError, match="spec"):
        R.train_reasoner("tool", spec="big")
    with pytest.raises(ValueError, match="tools"):
        R.answer(None, R.DigitVocab(), qs[:1], "tool")
    assert R.run_program("r1 = div x1 x2 ; ans = r1", (1, 2), tools) is None
    assert R.run_program("r1 = pct x1 x2 ; ans = r1", (1, 0), tools) is None   # the ratio tool refuses


@pytest.mark.slow
def test_tools_beat_direct_and_cot_at_every_step_count(setup):
    path, _, qs = setup
    rng = np.random.default_rng(0)
    test = [q for k in R.KINDS for q in rng.permutation([x for x in qs if x.kind == k])[:25]]
    spec = R.ReasonerSpec(steps=120, batch=32)
    tools = R.calculator_tools(path)
    preds = {}
    for way in R.WAYS:
        model, vocab = R.train_reasoner(way, spec, progress=False, use_cache=False)
        preds[way] = R.answer(model, vocab, test, way, tools)
    acc = R.accuracy_by_steps(test, preds)
    for s in (1, 2, 3, 4):
        assert acc["tool"][s]["low"] > acc["direct"][s]["high"]
        assert acc["tool"][s]["low"] > acc["cot"][s]["high"]


def test_accuracy_figure_carries_the_numbers(setup):
    from frontier.viz.finance import make_reasoning_accuracy_figure
    _, _, qs = setup
    acc = R.accuracy_by_steps(qs, {"tool": [q.answer for q in qs], "direct": [q.answer + 1 for q in qs]})
    fig = make_reasoning_accuracy_figure(acc)
    assert len(fig.data) == 2 and list(fig.data[0].y) == [1.0] * 4 and list(fig.data[1].y) == [0.0] * 4
    assert fig.data[1].error_y.array[0] == pytest.approx(acc["direct"][1]["high"])
