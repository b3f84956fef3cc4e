"""Tests for frontier.models.io: save -> load gives the same model."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from frontier.models.io import load, save
from frontier.models.tiny_lm import TinyLM, TinyLMConfig
from frontier.models.tiny_ssm import TinySSM, TinySSMConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tokens(V, B=2, T=9):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("make", [
    lambda: TinyLM(TinyLMConfig(vocab_size=11, d_model=16, n_layers=2, n_heads=2, d_ff=16), seed=3),
    lambda: TinyLM(TinyLMConfig(vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_ff=16, n_experts=4), seed=3),
    lambda: TinyLM(TinyLMConfig(vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_ff=16), seed=3).double(),
    lambda: TinySSM(TinySSMConfig(vocab_size=11, d_model=16, n_layers=2, d_state=4, scan="loop"), seed=3),
])
def test_save_load_gives_identical_logits(tmp_path, make):
    model = make().eval()
    with torch.no_grad():                                # change the weights, so a fresh init cannot pass
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save(model, tmp_path / "m.pt")
    back = load(path)
    assert type(back) is type(model) and not back.training
    tok = _tokens(11)
    with torch.no_grad():
        assert torch.equal(model(tok).logits, back(tok).logits)
    assert next(back.parameters()).dtype == next(model.parameters()).dtype


@dataclass(frozen=True)
class _MLPConfig:
    d_in: int = 3
    d_hidden: int = 5


class _MLP(nn.Module):
    def __init__(self, config: _MLPConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.Linear(config.d_in, config.d_hidden), nn.ReLU(), nn.Linear(config.d_hidden, 1))

    def forward(self, x):
        return self.net(x)


def test_any_model_with_a_dataclass_config_and_the_allow_list(tmp_path):
    model = _MLP(_MLPConfig(d_hidden=7))
    path = save(model, tmp_path / "mlp.pt")
    with pytest.raises(ValueError, match="refusing to build"):
        load(path)                                       # defined outside frontier: needs an explicit allow
    back = load(path, allowed_prefixes=(_MLP.__module__,))
    x = torch.randn(4, 3)
    assert back.config == model.config and torch.equal(back(x), model(x))


def test_bad_files_and_models(tmp_path):
    with pytest.raises(TypeError, match="config"):
        save(nn.Linear(2, 2), tmp_path / "x.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a model file"):
        load(tmp_path / "other.pt")
