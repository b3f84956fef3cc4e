"""Tests for frontier.models: synthetic data, the tiny transformer, the training loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.architecture.long_context import streaming_attention_mask
from frontier.models.data import BOS, RecallTask, entropy_rate, markov_mixture, recall_batch, sample_batch
from frontier.models.tiny_lm import TinyLM, TinyLMConfig, next_token_loss
from frontier.models.training import expert_load_record, train_lm


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_markov_sources_are_stochastic_and_disjoint():
    mix = markov_mixture(3, 31, branching=2, seed=1)
    np.testing.assert_allclose(mix.transitions.sum(-1), 1.0)
    tokens, src = sample_batch(mix, 20, 30, np.random.default_rng(0))
    assert tokens.shape == (20, 30) and torch.all(tokens[:, 0] == BOS)
    for s in range(3):                       # each source stays in its own block of the vocabulary
        used = set(tokens[src == s, 1:].flatten().tolist())
        allowed = set(np.flatnonzero(mix.start[s]).tolist())
        assert used <= allowed
    # a deterministic chain has entropy rate 0; a uniform 2-way branching has ln 2
    det = markov_mixture(1, 10, branching=1, seed=0)
    assert entropy_rate(det) == pytest.approx(0.0)


def test_recall_task_copies_the_latest_key_after_every_query():
    task = RecallTask(markov_mixture(1, 20, seed=0), n_keys=5, p_key=0.2, p_query=0.2)
    tok = recall_batch(task, 50, 80, np.random.default_rng(3)).numpy()
    assert tok.max() < task.vocab_size and (tok[:, 0] == BOS).all()
    n_queries = 0
    for row in tok:
        last = None
        for t in range(1, len(row)):
            if row[t - 1] == task.query_token:
                assert row[t] == last
                n_queries += 1
            if task.first_key <= row[t] < task.query_token:
                last = row[t]
    assert n_queries > 50


def _model(**kw):
    cfg = dict(vocab_size=12, d_model=16, n_layers=1, n_heads=2, d_ff=16)
    cfg.update(kw)
    return TinyLM(TinyLMConfig(**cfg), seed=0).double()


def test_same_seed_same_model_and_causality():
    a, b = _model(), _model()
    tok = torch.randint(0, 12, (2, 10), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a(tok).logits, b(tok).logits)
    changed = tok.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 12
    torch.testing.assert_close(a(tok).logits[:, :6], a(changed).logits[:, :6])     # no peeking ahead


def test_streaming_mode_equals_running_on_the_cache_contents():
    """One layer: the output at a late position equals a fresh pass over exactly what the cache holds."""
    model = _model()
    tok = torch.randint(1, 12, (3, 40), generator=torch.Generator().manual_seed(1))
    window, n_sink = 8, 3
    streamed = model(tok, streaming=(window, n_sink)).logits
    for i in (11, 25, 39):
        kept = list(range(n_sink)) + list(range(i + 1 - window, i + 1))
        fresh = model(tok[:, kept]).logits[:, -1]
        torch.testing.assert_close(streamed[:, i], fresh)
    # before the cache fills, streaming is plain causal attention
    torch.testing.assert_close(streamed[:, :window + n_sink], model(tok[:, :window + n_sink]).logits)
    # without renumbering, the mask alone gives a different answer once the sinks are far away
    masked = model(tok, mask=torch.from_numpy(streaming_attention_mask(40, window, n_sink))).logits
    assert not torch.allclose(masked[:, 39], streamed[:, 39])


def test_moe_model_reports_routing_and_aux_loss():
    model = _model(n_experts=4, experts_per_token=2, balance_coef=0.01)
    tok = torch.randint(0, 12, (2, 10))
    out = model(tok, return_attention=True)
    assert len(out.moe) == 1 and out.aux_loss.item() > 0
    assert out.attention[0].shape == (2, 2, 10, 10)
    torch.testing.assert_close(out.attention[0].sum(-1), torch.ones(2, 2, 10, dtype=torch.float64))
    rec = expert_load_record(model, out, 1)
    assert sum(rec["load"][0]) == 2 * 10 * 2


def test_training_lowers_the_loss():
    mix = markov_mixture(1, 10, branching=2, seed=0)
    model = TinyLM(TinyLMConfig(vocab_size=10, d_model=16, n_layers=1, n_heads=2, d_ff=16), seed=0)
    log = train_lm(model, lambda rng: sample_batch(mix, 8, 16, rng)[0], 40, lr=1e-2, record_every=10,
                   progress=False)
    assert log.step == [10, 20, 30, 40]
    assert log.loss[-1] < 0.7 * log.loss[0]
    assert not model.training


def test_bad_arguments():
    with pytest.raises(ValueError, match="experts_per_token"):
        TinyLMConfig(vocab_size=10, n_experts=2, experts_per_token=3)
    with pytest.raises(ValueError, match="n_kv_heads"):
        TinyLMConfig(vocab_size=10, d_model=16, n_heads=4, n_kv_heads=3)
    with pytest.raises(TypeError, match="max_seq_len"):
        TinyLMConfig(vocab_size=10, max_seq_len=2.5)
    with pytest.raises(ValueError, match="even"):
        TinyLMConfig(vocab_size=10, d_model=12, n_heads=4)
    model = _model()
    with pytest.raises(ValueError, match="mask"):
        model(torch.zeros(1, 5, dtype=torch.long), mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="either mask or streaming"):
        model(torch.zeros(1, 5, dtype=torch.long), mask=torch.ones(5, 5, dtype=torch.bool), streaming=(2, 1))
    with pytest.raises(ValueError, match="reduction"):
        next_token_loss(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long), reduction="sum")
