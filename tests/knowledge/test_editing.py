"""The rank-one edit: exact on the edited key, C⁻¹-orthogonal keys untouched, less interference with C⁻¹."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.knowledge.editing import (edit_tinylm_fact, ffn_key_covariance, interference, key_covariance,
                                        make_linear_memory,
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


def _tiny_model():
    from frontier.models import TinyLM, TinyLMConfig
    return TinyLM(TinyLMConfig(vocab_size=24, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=24), seed=1)


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("use_covariance", [False, True])
def test_edit_from_several_prompts_changes_each_prompts_answer(one_torch_thread, use_covariance, layer):
    """ROME-style edit from paraphrases: k* is the mean of the prompts' last keys, and the value is optimised
    through the edit itself, so every prompt given now answers the target; the change is rank one."""
    from frontier.knowledge.editing import ffn_keys
    model = _tiny_model()
    prompts = [torch.tensor([1, 5, 6, 7, 9]), torch.tensor([1, 7, 6, 5]), torch.tensor([1, 6, 3, 5, 7, 9, 4])]
    target = torch.tensor([17])
    cov = None
    if use_covariance:
        rng = torch.Generator().manual_seed(0)
        cov = ffn_key_covariance(model, [torch.randint(0, 24, (8, 12), generator=rng) for _ in range(4)], layer)
    keys = torch.stack([ffn_keys(model, p[None], layer)[0, -1] for p in prompts]).double().numpy()
    assert not any(model(p[None]).logits[0, -1].argmax().item() == 17 for p in prompts)
    other = torch.tensor([1, 9, 8, 11])
    other_before = model(other[None]).logits[0, -1].detach()
    res = edit_tinylm_fact(model, prompts, target, layer, cov, steps=150, lr=0.3, seed=0)
    np.testing.assert_allclose(res.key, keys.mean(0), rtol=1e-6)
    np.testing.assert_allclose(res.prompt_keys, keys, rtol=1e-6)
    assert np.linalg.matrix_rank(res.delta, tol=1e-8) == 1
    assert [model(p[None]).logits[0, -1].argmax().item() for p in prompts] == [17, 17, 17]
    assert (model(other[None]).logits[0, -1].detach() - other_before).abs().max() < 10


def test_single_prompt_edit_puts_the_whole_change_on_its_key(one_torch_thread):
    model = _tiny_model()
    prompt = torch.tensor([1, 5, 6, 7])
    res = edit_tinylm_fact(model, prompt, torch.tensor([11]), layer=0, steps=80, lr=0.3)
    W_old = model.blocks[0].ffn.w2.weight.detach().double().numpy() - res.delta
    np.testing.assert_allclose(res.delta @ res.key + W_old @ res.key, res.value, atol=1e-4)   # W' k* = v*
    assert model(prompt[None]).logits[0, -1].argmax().item() == 11


def test_edit_rejects_bad_prompts(one_torch_thread):
    model = _tiny_model()
    with pytest.raises(ValueError, match="prompt"):
        edit_tinylm_fact(model, [torch.tensor([1, 2]), torch.tensor([], dtype=torch.int64)], torch.tensor([3]), 0)
    with pytest.raises(ValueError, match="new_answer"):
        edit_tinylm_fact(model, torch.tensor([1, 2]), torch.tensor([], dtype=torch.int64), 0)
    with pytest.raises(ValueError, match="layer"):
        edit_tinylm_fact(model, torch.tensor([1, 2]), torch.tensor([3]), 5)


@pytest.mark.slow
def test_paraphrase_edit_claims(one_torch_thread):
    """Lesson 6.3, section 2: an edit made from phrasings 0-3 of a question also changes the answer in phrasing 4,
    which the edit never saw (the reader learned all five), and one made from phrasing 0 alone reaches all five,
    because the keys of one fact's phrasings nearly coincide; with C⁻¹ the other facts stay right, without it
    some move."""
    from frontier.knowledge import editing as ed
    from frontier.knowledge import experiments as ex
    from frontier.knowledge.reader import TEMPLATES
    w = ex.paraphrase_world(smoke=True, seed=0, progress=False)
    seen = [it for it in w.items if it.split == "seen"]
    n_t = len(TEMPLATES)
    before = ex.closed_book_correct(w.reader, seen, range(n_t))
    assert before.mean() > 0.95
    layer = w.reader.config.n_layers - 1
    prompt = lambda it, t: ex.prompt_tokens(w.reader, [it], template=t)[0]          # noqa: E731
    C = ed.ffn_key_covariance(w.reader.model, [prompt(it, t)[None] for it in w.items for t in range(n_t)], layer)
    rng = np.random.default_rng(0)
    known = [it for it, ok in zip(seen, before.all(0)) if ok]
    targets = [known[int(i)] for i in rng.choice(len(known), 6, replace=False)]
    values = [int(rng.choice([it.answer for it in seen if it.answer != t.answer])) for t in targets]
    kept = {}
    for name, cov, edit_from in (("C", C, (0, 1, 2, 3)), ("I", None, (0, 1, 2, 3)), ("C, one", C, (0,))):
        checks = [ex.edit_and_check(w.reader, seen, t, v, layer, cov, edit_templates=edit_from, before=before,
                                    templates=range(n_t)) for t, v in zip(targets, values)]
        assert all(c.success.all() for c in checks), name              # the edited and the held-out phrasings
        kept[name] = np.mean([[c.same_company, c.other_companies] for c in checks], axis=0)
    assert (kept["C"] >= 0.98).all() and (kept["C, one"] >= 0.98).all()
    assert kept["I"].mean() < kept["C"].mean()
    K = np.stack([[ed.ffn_keys(w.reader.model, prompt(it, t)[None], layer)[0, -1].numpy() for t in range(n_t)]
                  for it in targets])
    unit = K / np.linalg.norm(K, axis=-1, keepdims=True)
    same_fact = np.mean([(u @ u.T)[~np.eye(n_t, dtype=bool)].mean() for u in unit])
    same_phrasing = np.mean([(unit[:, t] @ unit[:, t].T)[~np.eye(len(targets), dtype=bool)].mean()
                             for t in range(n_t)])
    assert same_fact > 0.8 and same_fact > same_phrasing + 0.3
