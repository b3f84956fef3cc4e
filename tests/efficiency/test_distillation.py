"""Distillation loss identities and FLOP counting."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from frontier.efficiency import distillation as di
from frontier.models import TinyLM, TinyLMConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_hard_weight_one_is_cross_entropy_and_kl_of_self_is_zero():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 5, 7, generator=g), torch.randn(2, 5, 7, generator=g)
    tok = torch.randint(0, 7, (2, 5), generator=g)
    loss, m = di.distillation_loss(s, t, tok, hard_weight=1.0)
    ce = F.cross_entropy(s[:, :-1].reshape(-1, 7), tok[:, 1:].reshape(-1))
    torch.testing.assert_close(loss, ce)
    loss, m = di.distillation_loss(s, s, tok, temperature=3.0)
    assert abs(float(loss)) < 1e-6


def test_flops_per_token_counts_every_matmul():
    cfg = TinyLMConfig(vocab_size=32, d_model=64, n_layers=2, n_heads=4, d_ff=128)
    model = TinyLM(cfg)
    matmul_params = sum(w.numel() for n, w in model.weight_matrices().items() if n != "embedding")
    assert di.forward_flops_per_token(cfg) == 2 * matmul_params
    assert di.non_embedding_parameters(model) == model.n_parameters() - 32 * 64


def test_eval_loss_of_uniform_model_is_log_vocab():
    class Uniform(torch.nn.Module):
        def forward(self, tokens):
            return torch.zeros(*tokens.shape, 10)
    tok = torch.randint(0, 10, (4, 9))
    out = di.eval_loss(Uniform(), tok)
    assert out["loss"] == pytest.approx(torch.log(torch.tensor(10.0)).item())


def test_bad_input():
    x = torch.zeros(1, 3, 4)
    tok = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        di.distillation_loss(x, x, tok, temperature=0.0)
    with pytest.raises(ValueError, match="hard_weight"):
        di.distillation_loss(x, x, tok, hard_weight=1.5)
