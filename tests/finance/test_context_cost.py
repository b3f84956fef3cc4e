"""Exercise 2's cost model and filing: facts.md's reference figures, billing invariants, exact token counts."""
import math
import random

import numpy as np
import pytest

from frontier.finance import context_cost as cc
from frontier.finance import filing as fl


def test_reference_figures_match_facts_md():
    r = cc.reference_figures()
    assert r["prefill_80k_qk"] == pytest.approx(1.52e16, rel=0.005)            # QK^T only (Kaplan)
    assert r["prefill_80k_qk_av"] == pytest.approx(1.94e16, rel=0.005)         # QK^T and AV, causal
    assert r["rag_4096"] == pytest.approx(5.8e14, rel=0.01)
    assert r["rag_4000"] == pytest.approx(5.6e14, rel=0.01)
    assert round(r["ratio_4096"]) == 26 and round(r["ratio_4000"]) == 27
    assert r["map_reduce"] == pytest.approx(1.20e16, rel=0.005)
    assert r["kv_bytes_per_token"] == 327_680 and r["kv_bytes_80k"] / 1e9 == pytest.approx(26.2, abs=0.05)


def test_attention_term_is_kaplans_per_token_count_summed_causally():
    """Independent sum over positions: token t attends to t keys, 2 n_layer d_attn t FLOPs each (QK^T)."""
    N, L, d, T = 1000.0, 3, 16, 50
    exact = sum(2 * N + 2 * L * d * t for t in range(1, T + 1))
    got = cc.prefill_flops(N, L, d, T)
    assert got == pytest.approx(exact, rel=1 / T)                # T^2/2 vs T(T+1)/2: a 1/T difference
    assert cc.prefill_flops(N, L, d, T, "qk_av") - 2 * N * T == pytest.approx(2 * (got - 2 * N * T))
    dec = sum(2 * N + 2 * L * d * (10 + i) for i in range(1, 8))
    assert cc.decode_flops(N, L, d, 10, 7) == pytest.approx(dec)


def test_prefix_cache_costs_equal_a_simulated_bill():
    p = cc.Prices(3.0, 15.0, 0.3, 0.02)
    d, q = cc.approach_costs("whole", 80_000, p, prefix_cache=True)
    bill = 0.0
    for i in range(10):                                              # first query writes the prefix, others read it
        bill += 80_000 * (p.input if i == 0 else p.cached_input) / 1e6 + 50 * p.input / 1e6 + 200 * p.output / 1e6
    assert cc.total_cost(d, q, 10) == pytest.approx(bill)


def test_break_even_agrees_with_brute_force():
    rng = random.Random(0)
    n = np.arange(1, 200_001)
    for _ in range(300):
        a = (rng.choice([0, 0.1, 0.5]), rng.uniform(0.001, 0.3))
        b = (rng.uniform(0, 2), rng.uniform(0.001, 0.3))
        ok = np.flatnonzero(b[0] + b[1] * n <= a[0] + a[1] * n + 1e-12)
        want = int(n[ok[0]]) if ok.size else None
        assert cc.break_even_queries(a, b) == want, (a, b, want)


def test_caching_moves_the_break_even():
    D, p = 80_000, cc.Prices()
    mr = cc.approach_costs("map_reduce", D, p)
    plain = cc.break_even_queries(cc.approach_costs("whole", D, p), mr)
    cached = cc.break_even_queries(cc.approach_costs("whole", D, p, prefix_cache=True), mr)
    assert plain == 2 and cached >= 4 * plain


@pytest.mark.parametrize("call, match", [
    (lambda: cc.prefill_flops(1e9, 2, 64, 0), "tokens"),
    (lambda: cc.prefill_flops(1e9, 2, 64, 10, "flash"), "attention"),
    (lambda: cc.kv_cache_bytes(2, 1, 64, -1), "tokens"),
    (lambda: cc.Prices(input=-1.0), "price input"),
    (lambda: cc.Prices(input=1.0, cached_input=2.0), "cached_input"),
    (lambda: cc.approach_costs("summarise", 100), "approach"),
    (lambda: cc.approach_costs("rag", 0), "doc_tokens"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_bpe_counter_is_exact():
    tok = fl.course_bpe()
    count = fl.bpe_counter(tok)
    doc, corpus = fl.ten_k_filing(3000)
    rng = random.Random(1)
    texts = [doc.text] + [doc.text[a:a + rng.randrange(1, 3000)] for a in rng.sample(range(len(doc.text)), 60)]
    texts += ["a  b", " lead", "trail ", "x\n\n\ny", "it's $1,234.5 (up 3%)", "\n\nstart", "end\n\n"]
    for t in texts:
        assert count(t) == tok.count(t), repr(t[:60])


def test_filing_has_the_target_length_and_every_quarter():
    doc, corpus = fl.ten_k_filing(3000)
    n = fl.course_bpe().count(doc.text)
    assert 3000 <= n <= 3000 + 60
    qs = fl.fact_questions(doc, corpus)
    assert len(qs) == len(doc.fact_spans) and {p for (_, _, p) in doc.fact_spans} == {f"Q{q} 2024" for q in (1, 2, 3, 4)}
    for q, (s, e) in qs:
        ticker, metric, period = next(k for k, v in doc.fact_spans.items() if tuple(v[0]) == (s, e))
        assert metric in q and period in q
        assert f"{corpus.fact(ticker, metric, period).value:,}" in doc.text[s:e].replace("$", "")


def test_retrieval_hit_rate_falls_for_tiny_chunks():
    doc, corpus = fl.ten_k_filing(3000)
    qs = fl.fact_questions(doc, corpus)
    rates = cc.hit_rate_by_chunk_size(doc, qs, (3, 64, 10_000))
    assert rates[3] == 0.0 and rates[10_000] == 1.0 and 0 < rates[64] <= 1
