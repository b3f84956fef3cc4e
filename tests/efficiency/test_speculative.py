"""Exact speculative sampling: the output distribution is the target's, and tokens per call follow the formula."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from frontier.efficiency import speculative as sp
from frontier.models import TinyLM, TinyLMConfig, generate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

P = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
Q = np.array([0.1, 0.1, 0.3, 0.3, 0.1, 0.1])


def test_formula_examples_from_facts():
    assert sp.expected_tokens_per_call(0.8, 4) == pytest.approx(3.3616)
    assert sp.expected_speedup(0.8, 4, 0.05) == pytest.approx(2.8013, abs=1e-4)
    assert sp.expected_tokens_per_call(1.0, 4) == 5.0
    assert sp.expected_tokens_per_call(0.0, 4) == 1.0


def test_output_distribution_equals_target_chi_square():
    res = sp.speculate_iid(P, Q, gamma=3, n_calls=4000, seed=0)
    counts = np.bincount(res["tokens"], minlength=P.size)
    stat, pval = chisquare(counts, P * counts.sum())
    assert pval > 0.01
    # the draft's distribution is far from the target's: the same test rejects it
    assert chisquare(counts, Q * counts.sum()).pvalue < 1e-6


@pytest.mark.parametrize("gamma", [1, 2, 4, 8])
def test_tokens_per_call_match_formula_on_a_known_alpha(gamma):
    alpha = float(sp.acceptance_rate(P, Q))
    res = sp.speculate_iid(P, Q, gamma=gamma, n_calls=6000, seed=gamma)
    expected = sp.expected_tokens_per_call(alpha, gamma)
    se = res["per_call"].std() / np.sqrt(res["per_call"].size)
    assert abs(res["per_call"].mean() - expected) < 4 * se + 1e-9


def test_verify_rejects_where_p_is_zero_and_resamples_from_the_residual():
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    q = np.array([[1.0, 0.0]])
    out, n = sp.verify(p, q, [0], np.random.default_rng(0))
    assert n == 0 and out == [1]


def _pair():
    cfg_t = TinyLMConfig(vocab_size=12, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=64)
    cfg_d = TinyLMConfig(vocab_size=12, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_seq_len=64)
    return TinyLM(cfg_t, seed=0).eval(), TinyLM(cfg_d, seed=1).eval()


def test_greedy_speculative_equals_greedy_decoding():
    target, draft = _pair()
    prompt = torch.tensor([[0, 3, 5]])
    res = sp.speculative_generate(target, draft, prompt, 20, gamma=3, temperature=0.0)
    ref = generate(target, prompt, 20, temperature=0.0)
    assert torch.equal(res.tokens, ref)
    assert res.target_calls <= 20


@pytest.mark.slow
def test_model_speculative_first_token_distribution_is_the_targets():
    target, draft = _pair()
    prompt = torch.tensor([[0, 3, 5]])
    with torch.no_grad():
        p = torch.softmax(target(prompt).logits[0, -1].double(), -1).numpy()
    n = 1500
    firsts = [int(sp.speculative_generate(target, draft, prompt, 2, gamma=2, seed=s).tokens[0, 3]) for s in range(n)]
    counts = np.bincount(firsts, minlength=p.size)
    keep = p * n >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(p[keep], p[~keep].sum()) * n
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    assert chisquare(obs, exp).pvalue > 0.01


def test_kv_cache_rollback_gives_the_same_logits_as_recompute():
    target, draft = _pair()
    prompt = torch.tensor([[0, 3, 5, 7]])
    res = sp.speculative_generate(target, draft, prompt, 16, gamma=4, seed=3)
    assert res.tokens.shape == (1, 20)
    assert sum(res.accepted) + len(res.accepted) >= 16
    assert 0 <= res.acceptance_rate <= 1 and 0 <= res.alpha <= 1


def test_tree_accounting():
    assert sp.tree_expected_tokens(0.6, 4, 1) == pytest.approx(sp.expected_tokens_per_call(0.6, 4))
    assert sp.tree_expected_tokens(0.6, 4, 3) > sp.tree_expected_tokens(0.6, 4, 1)
    assert sp.simulate_tree(0.6, 4, 3, 20000, seed=0) == pytest.approx(sp.tree_expected_tokens(0.6, 4, 3), abs=0.03)
    assert sp.tree_target_tokens(4, 3) == 13


def test_early_exit_at_threshold_one_uses_every_layer():
    target, _ = _pair()
    tokens = torch.randint(0, 12, (3, 10), generator=torch.Generator().manual_seed(0))
    out = sp.early_exit(target, tokens, 1.0)
    assert out["layers_used"] == 1.0 and out["agree"] == 1.0
    ll = sp.layer_logits(target, tokens)
    assert torch.allclose(ll[-1], target(tokens).logits, atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        sp.expected_tokens_per_call(0.5, 0)
    with pytest.raises(TypeError, match="gamma"):
        sp.expected_tokens_per_call(0.5, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        sp.expected_tokens_per_call(1.5, 2)
    target, draft = _pair()
    with pytest.raises(ValueError, match="gamma"):
        sp.speculative_generate(target, draft, torch.tensor([[0, 1]]), 4, gamma=0)


def test_tree_pass_equals_one_pass_per_branch():
    target, _ = _pair()
    g = torch.Generator().manual_seed(3)
    ctx = torch.randint(0, 12, (1, 5), generator=g)
    branches = torch.randint(0, 12, (3, 4), generator=g)
    tokens = torch.cat([ctx, branches.reshape(1, -1)], dim=1)
    positions = np.concatenate([np.arange(5)] + [np.arange(5, 9)] * 3)
    with torch.no_grad():
        tree = target(tokens, positions=positions, mask=sp.tree_mask(5, 4, 3)).logits[0]
        for b in range(3):
            single = target(torch.cat([ctx, branches[b:b + 1]], dim=1)).logits[0]
            torch.testing.assert_close(tree[5 + 4 * b: 9 + 4 * b], single[5:], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(tree[:5], single[:5], atol=1e-5, rtol=1e-5)


def test_tree_round_with_the_target_as_its_own_draft_accepts_greedy_branches():
    target, _ = _pair()
    # a draft that equals the target is accepted only where its sample is the argmax; at least 1 token is emitted
    out = sp.tree_round(target, target, torch.tensor([[0, 3, 5]]), 3, 2, np.random.default_rng(0))
    assert 1 <= out["tokens"] <= 4 and out["target_tokens"] == 6
