"""frontier.models.token_logprobs / sequence_logprobs against hand-computed sums."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from frontier.models.logprobs import sequence_logprobs, token_logprobs
from frontier.models.protocol import ModelOutput
from frontier.models.tiny_lm import TinyLM, TinyLMConfig
from frontier.models.tiny_ssm import TinySSM, TinySSMConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class _Config:
    vocab_size: int
    max_seq_len: int = 64


class BigramLM(nn.Module):
    """Known weights: the logits after token ``a`` are row ``a`` of ``table``."""

    def __init__(self, table: np.ndarray):
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(table, dtype=torch.float64))
        self.config = _Config(table.shape[0])
        self.max_seq_len = 64

    def forward(self, tokens=None, *, embeds=None, cache=None, positions=None, mask=None, return_hidden=False):
        return ModelOutput(self.table[tokens], self.table.new_zeros(()))

    def embed(self, tokens):
        return self.table[tokens]

    def new_cache(self, batch_size):
        return None

    def n_parameters(self):
        return self.table.numel()

    def weight_matrices(self):
        return {"table": self.table}


def _hand_logprobs(table: np.ndarray, row: np.ndarray) -> np.ndarray:
    """log p(row[i] | row[i-1]) for i >= 1, from the table with NumPy (max-shifted log-sum-exp)."""
    out = []
    for a, b in zip(row[:-1], row[1:]):
        z = table[a] - table[a].max()
        out.append(z[b] - np.log(np.exp(z).sum()))
    return np.array(out)


def test_sequence_logprobs_equals_a_hand_computed_sum():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 7)) * 2
    model = BigramLM(table)
    tokens = torch.as_tensor(rng.integers(0, 7, (4, 9)))
    mask = torch.as_tensor(rng.random((4, 9)) < 0.5)
    got_all = sequence_logprobs(model, tokens).detach().numpy()
    got_masked = sequence_logprobs(model, tokens, mask).detach().numpy()
    per_token = token_logprobs(model, tokens).detach().numpy()
    for b in range(4):
        hand = _hand_logprobs(table, tokens[b].numpy())
        np.testing.assert_allclose(per_token[b, 1:], hand, rtol=1e-12)
        np.testing.assert_allclose(got_all[b], hand.sum(), rtol=1e-12)
        np.testing.assert_allclose(got_masked[b], hand[mask[b, 1:].numpy()].sum(), rtol=1e-12, atol=1e-12)
    assert np.all(per_token[:, 0] == 0.0)


@pytest.mark.parametrize("model", [
    TinyLM(TinyLMConfig(vocab_size=11, d_model=16, n_layers=2, n_heads=2, n_kv_heads=1, d_ff=16), seed=0),
    TinySSM(TinySSMConfig(vocab_size=11, d_model=16, n_layers=1, d_state=4), seed=0),
], ids=["tiny_lm", "tiny_ssm"])
def test_token_logprobs_match_a_softmax_over_each_prefix_separately(model):
    """One pass with shifted targets = running the model on every prefix and reading its last position."""
    tokens = torch.randint(0, 11, (3, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        lp = token_logprobs(model, tokens)
        for i in range(1, 8):
            last = model(tokens[:, :i]).logits[:, -1]
            want = torch.log(torch.softmax(last.double(), -1)).gather(-1, tokens[:, i:i + 1])[:, 0]
            torch.testing.assert_close(lp[:, i].double(), want, rtol=1e-4, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(bits=st.lists(st.booleans(), min_size=18, max_size=18), seed=st.integers(0, 1000))
def test_masks_select_exactly_the_target_positions(bits, seed):
    rng = np.random.default_rng(seed)
    model = BigramLM(rng.normal(size=(5, 5)))
    tokens = torch.as_tensor(rng.integers(0, 5, (2, 9)))
    mask = torch.tensor(bits).view(2, 9)
    per_token = token_logprobs(model, tokens)
    picked = sequence_logprobs(model, tokens, mask)
    want = torch.stack([per_token[b, 1:][mask[b, 1:]].sum() for b in range(2)])
    torch.testing.assert_close(picked, want)
    # the mask and its complement add up to the whole sequence; position 0 never counts
    rest = sequence_logprobs(model, tokens, ~mask)
    torch.testing.assert_close(picked + rest, sequence_logprobs(model, tokens))
    only_first = torch.zeros(2, 9, dtype=torch.bool)
    only_first[:, 0] = True
    assert torch.all(sequence_logprobs(model, tokens, only_first) == 0)


def test_logprobs_are_differentiable():
    model = TinyLM(TinyLMConfig(vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_ff=16), seed=0)
    tokens = torch.randint(0, 11, (2, 6), generator=torch.Generator().manual_seed(0))
    sequence_logprobs(model, tokens).sum().backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0


def test_logprobs_check_their_arguments():
    model = BigramLM(np.zeros((5, 5)))
    tokens = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(TypeError, match="tokens"):
        token_logprobs(model, tokens.float())
    with pytest.raises(ValueError, match="tokens"):
        token_logprobs(model, tokens + 5)
    with pytest.raises(ValueError, match="mask"):
        sequence_logprobs(model, tokens, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        sequence_logprobs(model, tokens, torch.ones(2, 4))
    with pytest.raises(TypeError, match="model"):
        sequence_logprobs(nn.Linear(2, 2), tokens)
