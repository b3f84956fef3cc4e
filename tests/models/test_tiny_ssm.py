"""The tiny Mamba-style model and the synthetic sequence tasks (selective copying, MQAR)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.models.sequence_tasks import (
    MQAR, SelectiveCopying, answer_accuracy, mqar_batch, selective_copying_batch,
)
from frontier.models.tiny_ssm import SCANS, TinySSM, TinySSMConfig
from frontier.models.training import train_lm


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ tasks
@pytest.mark.parametrize("random_spacing", [True, False])
def test_selective_copying_sequences(random_spacing):
    task = SelectiveCopying(context_len=12, n_memorize=3, n_data_tokens=5, random_spacing=random_spacing)
    tok, mask = selective_copying_batch(task, 50, np.random.default_rng(0))
    assert tok.shape == mask.shape == (50, task.seq_len) == (50, 16)
    assert int(tok.max()) < task.vocab
    for row, m in zip(tok.numpy(), mask.numpy()):
        context = row[:12]
        data = context[context >= 2]
        assert len(data) == 3 and row[12] == task.SEP
        np.testing.assert_array_equal(row[13:], data)         # the copy, in order
        assert m[13:].all() and not m[:13].any()
    positions = {tuple(np.flatnonzero(r[:12] >= 2)) for r in tok.numpy()}
    assert (len(positions) > 1) == random_spacing


def test_mqar_sequences():
    task = MQAR(n_pairs=5, n_queries=3, n_keys=8, n_values=6)
    tok, mask = mqar_batch(task, 40, np.random.default_rng(1))
    assert tok.shape == (40, task.seq_len) == (40, 16)
    for row, m in zip(tok.numpy(), mask.numpy()):
        keys, values = row[0:10:2], row[1:10:2]
        assert len(set(keys)) == 5 and (keys < 8).all() and ((values >= 8) & (values < 14)).all()
        table = dict(zip(keys, values))
        for q, a in zip(row[10::2], row[11::2]):
            assert table[q] == a
        np.testing.assert_array_equal(np.flatnonzero(m), [11, 13, 15])


def test_tasks_check_arguments():
    with pytest.raises(ValueError, match="cannot exceed"):
        SelectiveCopying(context_len=3, n_memorize=4)
    with pytest.raises(ValueError, match="distinct keys"):
        MQAR(n_pairs=9, n_queries=2, n_keys=8)
    with pytest.raises(ValueError, match="cannot exceed n_pairs"):
        MQAR(n_pairs=2, n_queries=3)
    with pytest.raises(TypeError, match="Generator"):
        mqar_batch(MQAR(), 2, 0)


def test_answer_accuracy_scores_only_the_answers():
    task = MQAR(n_pairs=2, n_queries=2, n_keys=4, n_values=4)
    tok, mask = mqar_batch(task, 3, np.random.default_rng(0))
    perfect = torch.full((3, task.seq_len, task.vocab), -10.0)
    perfect[:, :-1].scatter_(-1, tok[:, 1:, None], 10.0)
    assert answer_accuracy(perfect, tok, mask) == 1.0
    wrong = perfect.clone()
    wrong[:, :-1] = 0.0
    wrong[:, :-1, 0] = 1.0           # always predicts key 0, never a value
    assert answer_accuracy(wrong, tok, mask) == 0.0
    with pytest.raises(ValueError):
        answer_accuracy(perfect[0], tok, mask)


# ------------------------------------------------------------------ model
@pytest.mark.parametrize("selective", [True, False])
def test_tiny_ssm_is_causal_and_the_scans_agree(selective):
    cfg = TinySSMConfig(vocab_size=11, d_model=16, n_layers=2, d_state=4, selective=selective)
    tok = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(0))
    outs = []
    for scan in SCANS:
        model = TinySSM(TinySSMConfig(**{**cfg.__dict__, "scan": scan}), seed=3)
        outs.append(model(tok).logits.detach())
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-4, atol=1e-5)
    changed = tok.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 11
    model = TinySSM(cfg, seed=3)
    a, b = model(tok).logits.detach(), model(changed).logits.detach()
    torch.testing.assert_close(a[:, :6], b[:, :6])          # the past does not see the future
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_tiny_ssm_gradients_agree_between_compiled_and_loop():
    grads = []
    tok = torch.randint(0, 7, (3, 8), generator=torch.Generator().manual_seed(1))
    for scan in ("compiled", "loop"):
        model = TinySSM(TinySSMConfig(vocab_size=7, d_model=8, n_layers=1, d_state=3, scan=scan), seed=0)
        model(tok).logits.square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=1e-3, atol=1e-6)


def test_tiny_ssm_config_and_seed():
    cfg = TinySSMConfig(vocab_size=5, d_model=32, d_state=8)
    assert cfg.d_inner == 64 and cfg.rank == 2 and cfg.state_numbers == 512
    a, b = TinySSM(cfg, seed=1), TinySSM(cfg, seed=1)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    with pytest.raises(ValueError, match="scan must be one of"):
        TinySSMConfig(vocab_size=5, scan="magic")
    with pytest.raises(TypeError):
        TinySSM({"vocab_size": 5})
    with pytest.raises(ValueError, match="no attention mask"):
        TinySSM(cfg)(torch.zeros(1, 3, dtype=torch.long), mask=torch.ones(3, 3, dtype=torch.bool))


def test_tiny_ssm_trains_with_the_shared_loop():
    task = SelectiveCopying(context_len=8, n_memorize=2, n_data_tokens=3)
    model = TinySSM(TinySSMConfig(vocab_size=task.vocab, d_model=16, n_layers=1, d_state=4), seed=0)
    log = train_lm(model, lambda rng: selective_copying_batch(task, 16, rng)[0], steps=30, lr=1e-2,
                   progress=False, record_every=10)
    assert log.loss[-1] < log.loss[0]
