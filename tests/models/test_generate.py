"""frontier.models.generate: cached = recomputed decoding, sampling statistics, stop tokens, validation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from frontier.bench.generate import COLUMNS, generate_rows, verdicts
from frontier.models.generate import filter_logits, generate
from frontier.models.tiny_lm import TinyLM, TinyLMConfig
from frontier.models.tiny_ssm import TinySSM, TinySSMConfig
from frontier.timing import format_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")

V = 19
MODELS = {
    "mha": lambda: TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=32, max_seq_len=40),
                          seed=1),
    "gqa": lambda: TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=32,
                                       max_seq_len=40), seed=2),
    "moe": lambda: TinyLM(TinyLMConfig(vocab_size=V, d_model=32, n_layers=2, n_heads=4, d_ff=16, n_experts=4,
                                       experts_per_token=2, max_seq_len=40), seed=3),
    "ssm": lambda: TinySSM(TinySSMConfig(vocab_size=V, d_model=16, n_layers=2, d_state=4, scan="loop",
                                         max_seq_len=40), seed=4),
}


def _prompt(B=3, T=5, seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True)
class _FixedConfig:
    vocab_size: int
    max_seq_len: int = 64


class FixedLM(nn.Module):
    """A language model whose next-token distribution is softmax(``logits``) whatever the context."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.as_tensor(logits, dtype=torch.float32))
        self.config = _FixedConfig(len(logits))

    @property
    def max_seq_len(self):
        return self.config.max_seq_len

    def forward(self, tokens=None, *, embeds=None, cache=None, positions=None, mask=None, return_hidden=False):
        from frontier.models.protocol import ModelOutput
        B, T = tokens.shape
        return ModelOutput(self.logits.expand(B, T, -1), self.logits.new_zeros(()), cache=cache)

    def embed(self, tokens):
        return torch.zeros(*tokens.shape, 1)

    def new_cache(self, batch_size):
        return None

    def n_parameters(self):
        return self.logits.numel()

    def weight_matrices(self):
        return {}


# ------------------------------------------------------------------ cached == recomputed
@pytest.mark.parametrize("name", list(MODELS))
def test_greedy_with_cache_equals_greedy_by_recomputing(name):
    """In float64 near-ties cannot flip a token, so the two decodings must agree exactly."""
    model = MODELS[name]().double()
    prompt = _prompt()
    cached, lp_c = generate(model, prompt, 20, temperature=0, return_logprobs=True)
    again, lp_r = generate(model, prompt, 20, temperature=0, use_cache=False, return_logprobs=True)
    assert cached.shape == (3, 25) and torch.equal(cached[:, :5], prompt)
    assert torch.equal(cached, again)
    torch.testing.assert_close(lp_c, lp_r)
    # and every step took the argmax of the full-pass logits
    full = model(cached).logits[:, 4:-1]
    assert torch.equal(full.argmax(-1), cached[:, 5:])


@pytest.mark.parametrize("name", ["mha", "ssm"])
def test_seeded_sampling_is_reproducible_and_top_k_1_is_greedy(name):
    model = MODELS[name]()
    prompt = _prompt()
    a = generate(model, prompt, 15, seed=7)
    assert torch.equal(a, generate(model, prompt, 15, seed=7))
    assert torch.equal(a, generate(model, prompt, 15, seed=7, use_cache=False))
    assert not torch.equal(a, generate(model, prompt, 15, seed=8))
    greedy = generate(model, prompt, 15, temperature=0)
    assert torch.equal(generate(model, prompt, 15, top_k=1, seed=3, temperature=1.7), greedy)


@settings(max_examples=8, deadline=None)
@given(k=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_top_k_never_draws_outside_the_k_most_likely(k, seed):
    model = MODELS["gqa"]()
    tokens = generate(model, _prompt(B=8, seed=seed), 6, top_k=k, temperature=2.0, seed=seed)
    with torch.no_grad():
        logits = model(tokens).logits[:, 4:-1]                 # the distribution each new token was drawn from
    kth = torch.topk(logits, k, dim=-1).values[..., -1]
    drawn = logits.gather(-1, tokens[:, 5:, None])[..., 0]
    assert torch.all(drawn >= kth)


def test_sampled_frequencies_match_the_distribution():
    """Chi-square tests of temperature, top-k and top-p sampling against the distributions they should give."""
    logits = torch.log(torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04]))
    model = FixedLM(logits)
    n = 6000
    prompt = torch.zeros(n, 1, dtype=torch.long)
    cases = {
        "plain": (dict(temperature=1.0), torch.softmax(logits, 0)),
        "temperature": (dict(temperature=0.5), torch.softmax(logits / 0.5, 0)),
        "top_k": (dict(top_k=3), torch.tensor([0.4, 0.25, 0.15, 0, 0, 0]) / 0.8),
        # top_p = 0.7: 0.4 + 0.25 = 0.65 < 0.7, so the third token completes the nucleus
        "top_p": (dict(top_p=0.7), torch.tensor([0.4, 0.25, 0.15, 0, 0, 0]) / 0.8),
    }
    for i, (case, (kw, p)) in enumerate(cases.items()):
        tok = generate(model, prompt, 1, seed=100 + i, **kw)[:, 1]
        counts = np.bincount(tok.numpy(), minlength=6)
        assert counts[p.numpy() == 0].sum() == 0, case
        keep = p.numpy() > 0
        pval = stats.chisquare(counts[keep], n * p.numpy()[keep]).pvalue
        assert pval > 1e-3, (case, counts, pval)


def test_filter_logits_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.1, 0.5, 0.3, 0.1]]))
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [[False, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.51)).tolist() == [[False, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=1.0)).all()


def test_greedy_ties_go_to_the_lowest_id_and_logprobs_are_untempered():
    model = FixedLM([1.0, 3.0, 3.0, 0.0])
    tokens, lp = generate(model, torch.zeros(2, 1, dtype=torch.long), 4, temperature=0, return_logprobs=True)
    assert torch.all(tokens[:, 1:] == 1)
    torch.testing.assert_close(lp, torch.full((2, 4), float(torch.log_softmax(model.logits.detach(), 0)[1])))
    _, lp_hot = generate(model, torch.zeros(2, 1, dtype=torch.long), 4, temperature=0.3, seed=0,
                         return_logprobs=True)
    assert torch.all(lp_hot < 0) and torch.all(lp_hot > -2)       # log p of token 1 or 2, never tempered to ~0


def test_stop_token_pads_and_ends_generation():
    model = FixedLM([0.0, 0.0, 2.0])                               # the stop token 2 has probability ~0.79
    prompt = torch.zeros(50, 2, dtype=torch.long)
    tokens, lp = generate(model, prompt, 60, stop_token=2, seed=0, return_logprobs=True)
    assert tokens.shape[1] < 62                                    # every row stopped before the limit
    new = tokens[:, 2:]
    assert torch.all((new == 2).any(dim=1))
    first = (new == 2).int().argmax(dim=1)
    for row, f in enumerate(first.tolist()):
        assert torch.all(new[row, f:] == 2)
        assert torch.all(lp[row, f + 1:] == 0) and torch.all(lp[row, :f + 1] < 0)
    assert bool((new[:, -1] == 2).all()) and not bool((new[:, -2] == 2).all())   # ended when the last row stopped


def test_generate_keeps_training_mode_and_handles_zero_tokens():
    model = MODELS["mha"]()
    model.train()
    prompt = _prompt()
    out, lp = generate(model, prompt, 0, return_logprobs=True)
    assert torch.equal(out, prompt) and lp.shape == (3, 0)
    generate(model, prompt, 2)
    assert model.training


def test_generate_checks_its_arguments():
    model = MODELS["mha"]()
    prompt = _prompt()
    with pytest.raises(TypeError, match="prompt"):
        generate(model, prompt.float(), 2)
    with pytest.raises(TypeError, match="prompt"):
        generate(model, prompt.tolist(), 2)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, prompt[0], 2)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, prompt + V, 2)
    with pytest.raises(ValueError, match="max_seq_len"):
        generate(model, prompt, 36)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, prompt, 2, temperature=-0.1)
    for bad in (0, 1.5, -1):
        with pytest.raises(ValueError, match="top_p"):
            generate(model, prompt, 2, top_p=bad)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, prompt, 2, top_k=0)
    with pytest.raises(ValueError, match="stop_token"):
        generate(model, prompt, 2, stop_token=V)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, prompt, -1)
    with pytest.raises(TypeError, match="model"):
        generate(nn.Linear(2, 2), prompt, 2)


def test_bench_table_on_tiny_sizes():
    rows = generate_rows([8, 16], d_model=16, n_layers=1, n_heads=2, new_tokens=3, repeat=1, vocab_size=11)
    assert [r["context"] for r in rows] == [8, 16]
    assert all(r["same_tokens"] and r["cached_ms"] >= 0 and r["cached_tok_s"] > 0 for r in rows)
    for r in rows:
        assert r["speedup"] == pytest.approx(r["recompute_ms"] / max(r["cached_ms"], 1e-12))
    table = format_table(rows, COLUMNS)
    assert "recompute / cached" in table and len(table.splitlines()) == 4
    lines = verdicts(rows)
    assert "16 / context 8" in lines[0] and "not checked" in lines[1]
