"""Merge identities hold bit for bit; TIES and DARE behave as their definitions say."""
from __future__ import annotations

import pytest
import torch

from frontier.efficiency import merging as mg
from frontier.models import TinyLM, TinyLMConfig

CFG = TinyLMConfig(vocab_size=16, d_model=16, n_layers=1, n_heads=2, d_ff=32)


def _sd(seed):
    return TinyLM(CFG, seed=seed).state_dict()


def _equal(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_task_arithmetic_one_vector_weight_one_returns_the_finetune():
    base, ft = _sd(0), _sd(1)
    assert _equal(mg.task_arithmetic(base, [mg.task_vector(ft, base)], [1.0]), ft)


def test_slerp_of_a_model_with_itself_returns_it():
    a = _sd(3)
    for t in (0.0, 0.3, 0.5, 1.0):
        assert _equal(mg.slerp(a, a, t), a)


def test_slerp_endpoints_and_norm():
    a, b = _sd(0), _sd(1)
    assert _equal(mg.slerp(a, b, 0.0), a)
    v0, v1 = a["head.weight"].double(), b["head.weight"].double()
    mid = mg.slerp_tensor(v0, v1, 0.5)
    # halfway on the great circle between vectors of (nearly) equal norm keeps the norm
    assert float(mid.norm()) == pytest.approx(float((v0.norm() + v1.norm()) / 2), rel=0.02)


def test_ties_density_one_single_vector_is_task_arithmetic():
    base, ft = _sd(0), _sd(1)
    tv = mg.task_vector(ft, base)
    assert _equal(mg.ties_merge(base, [tv], density=1.0), mg.task_arithmetic(base, [tv]))


def test_dare_p_zero_is_task_arithmetic():
    base = _sd(0)
    tvs = [mg.task_vector(_sd(1), base), mg.task_vector(_sd(2), base)]
    assert _equal(mg.dare_merge(base, tvs, p=0.0, weights=[0.5, 0.7]),
                  mg.task_arithmetic(base, tvs, [0.5, 0.7]))


def test_ties_trims_elects_and_takes_the_disjoint_mean():
    base = {"w": torch.zeros(4)}
    t1 = {"w": torch.tensor([1.0, -2.0, 0.1, 3.0], dtype=torch.float64)}
    t2 = {"w": torch.tensor([3.0, 1.0, -0.2, -1.0], dtype=torch.float64)}
    out = mg.ties_merge(base, [t1, t2], density=1.0)["w"]
    # signs of the sums: +, -, -, +; disjoint means: (1+3)/2, -2, -0.2, 3
    torch.testing.assert_close(out, torch.tensor([2.0, -2.0, -0.2, 3.0]))
    trimmed = mg.ties_merge(base, [t1], density=0.5)["w"]
    torch.testing.assert_close(trimmed, torch.tensor([0.0, -2.0, 0.0, 3.0]))


def test_dare_keeps_the_expectation():
    tv = {"w": torch.ones(200_000, dtype=torch.float64)}
    out = mg.dare(tv, 0.9, seed=0)["w"]
    assert float((out == 0).double().mean()) == pytest.approx(0.9, abs=0.005)
    assert float(out.mean()) == pytest.approx(1.0, abs=0.02)


def test_bad_input():
    base = _sd(0)
    tv = mg.task_vector(_sd(1), base)
    with pytest.raises(ValueError, match="density"):
        mg.ties_merge(base, [tv], density=0.0)
    with pytest.raises(ValueError, match="p "):
        mg.dare(tv, 1.0)
    with pytest.raises(ValueError, match="weights"):
        mg.task_arithmetic(base, [tv], [1.0, 2.0])
    with pytest.raises(ValueError, match="t must"):
        mg.slerp(base, base, 1.5)
    with pytest.raises(ValueError, match="same keys"):
        mg.task_vector({"x": torch.zeros(1)}, base)
