"""The tiny hybrid model: made of the course models' own blocks, causal, validated."""
from __future__ import annotations

import pytest
import torch

from frontier.architecture.hybrid import HybridConfig, HybridLM
from frontier.models import TinySSM, TinySSMConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_without_attention_blocks_it_is_the_tiny_ssm():
    cfg = HybridConfig(vocab_size=11, d_model=16, n_layers=2, attention_layers=(), d_state=4)
    hybrid = HybridLM(cfg, seed=3)
    ssm = TinySSM(TinySSMConfig(vocab_size=11, d_model=16, n_layers=2, d_state=4), seed=3)
    x = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(hybrid(x).logits, ssm(x).logits, atol=1e-6)


def test_hybrid_is_causal_and_mixes_both_kinds():
    m = HybridLM(HybridConfig(vocab_size=11, d_model=16, n_layers=3, attention_layers=(1,), d_state=4), seed=0)
    assert m.kinds == ["mamba", "attention", "mamba"]
    x = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, 8:] = (y[:, 8:] + 1) % 11
    with torch.no_grad():
        a, b = m(x).logits, m(y).logits
    assert a.shape == (2, 12, 11)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6) and not torch.allclose(a[:, 8:], b[:, 8:])
    assert m.n_parameters() == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("kw", [dict(attention_layers=(2,)), dict(attention_layers=(0, 0)), dict(d_state=0)])
def test_bad_configs_are_rejected(kw):
    with pytest.raises(ValueError):
        HybridConfig(vocab_size=11, n_layers=2, **kw)
