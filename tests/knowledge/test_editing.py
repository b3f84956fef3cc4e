"""The rank-one edit: exact on the edited key, C⁻¹-orthogonal keys untouched, less interference with C⁻¹."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.knowledge.editing import (edit_tinylm_fact, interference, key_covariance, make_linear_memory,
                                        rank_one_edit, sequential_edits)


@pytest.fixture
def memory():
    return make_linear_memory(n_keys=40, d_k=24, d_v=12, correlation=0.8, seed=0)


def test_edit_is_exact_on_the_edited_key(memory):
    rng = np.random.default_rng(1)
    v_star = rng.normal(size=12)
    for C in (None, memory.covariance):
        W = rank_one_edit(memory.W, memory.keys[0], v_star, C)
        np.testing.assert_allclose(W @ memory.keys[0], v_star, atol=1e-9)


def test_c_inverse_orthogonal_keys_are_unchanged(memory):
    rng = np.random.default_rng(2)
    C = memory.covariance
    k_star = memory.keys[3]
    u = np.linalg.solve(C, k_star)                      # C⁻¹ k*
    W = rank_one_edit(memory.W, k_star, rng.normal(size=12), C)
    for _ in range(20):                                 # random keys projected to k*ᵀ C⁻¹ k = 0
        k = rng.normal(size=24)
        k -= (u @ k) / (u @ u) * u
        assert abs(k_star @ np.linalg.solve(C, k)) < 1e-9
        np.testing.assert_allclose(W @ k, memory.W @ k, atol=1e-9)
    # ...while a plain-orthogonal key does move under the C⁻¹ edit (C is not the identity)
    k = rng.normal(size=24)
    k -= (k_star @ k) / (k_star @ k_star) * k_star
    assert np.linalg.norm(W @ k - memory.W @ k) > 1e-6


def test_covariance_reduces_interference_on_typical_keys(memory):
    rng = np.random.default_rng(3)
    fresh = rng.multivariate_normal(np.zeros(24), memory.covariance, size=2000)
    v_star = rng.normal(size=12) * 3
    with_c = interference(memory.W, rank_one_edit(memory.W, memory.keys[0], v_star, memory.covariance), fresh)
    without = interference(memory.W, rank_one_edit(memory.W, memory.keys[0], v_star), fresh)
    assert with_c < without


def test_estimated_covariance_approaches_the_true_one(memory):
    rng = np.random.default_rng(4)
    keys = rng.multivariate_normal(np.zeros(24), memory.covariance, size=20_000)
    assert np.abs(key_covariance(keys, ridge=0) - memory.covariance).max() < 0.1


def test_sequential_edits_degrade_retained_keys(memory):
    out = sequential_edits(memory, 10)
    assert out["retained_error"][-1] > out["retained_error"][0] > 0
    assert out["edit_error"][0] < 1e-9


def test_bad_input(memory):
    with pytest.raises(ValueError, match="non-zero"):
        rank_one_edit(memory.W, np.zeros(24), np.ones(12))
    with pytest.raises(ValueError, match="k_star"):
        rank_one_edit(memory.W, np.ones(5), np.ones(12))
    with pytest.raises(ValueError, match="n_edits"):
        sequential_edits(memory, 40)


def test_edit_on_a_tiny_lm_changes_the_answer(one_torch_thread):
    from frontier.models import TinyLM, TinyLMConfig
    model = TinyLM(TinyLMConfig(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16), seed=0)
    prompt = torch.tensor([1, 5, 6, 7])
    before = model(prompt[None]).logits[0, -1].argmax().item()
    target = torch.tensor([(before + 3) % 20])
    other = torch.tensor([1, 9, 8, 11])
    other_before = model(other[None]).logits[0, -1].detach()
    res = edit_tinylm_fact(model, prompt, target, layer=1, steps=60, lr=0.3)
    assert model(prompt[None]).logits[0, -1].argmax().item() == target.item()
    assert res.delta.shape == (16, 32)
    np.testing.assert_allclose(np.linalg.matrix_rank(res.delta, tol=1e-8), 1)
    assert (model(other[None]).logits[0, -1].detach() - other_before).abs().max() < 10
