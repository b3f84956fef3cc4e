"""Tests for frontier.models.tasks: one Batch shape for every task, and the next-token loss over target positions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from frontier.models.data import BOS, MarkovTask, RecallTask, markov_mixture, recall_batch, sample_batch
from frontier.models.sequence_tasks import MQAR, SelectiveCopying, mqar_batch, selective_copying_batch
from frontier.models.tasks import Batch, Task, batches, next_token_loss_fn

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TASKS = [
    SelectiveCopying(context_len=12, n_memorize=3, n_data_tokens=5),
    MQAR(n_pairs=4, n_queries=3, n_keys=8, n_values=8),
    MarkovTask(markov_mixture(2, 16, seed=0), seq_len=20),
    RecallTask(markov_mixture(1, 16, seed=0), n_keys=4, p_key=0.2, p_query=0.2, seq_len=40),
]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: type(t).__name__)
def test_every_task_samples_one_batch_shape(task):
    assert isinstance(task, Task)
    b = task.sample(6, np.random.default_rng(0))
    assert isinstance(b, Batch) and b.tokens.shape == (6, task.seq_len) == b.target_mask.shape
    assert b.tokens.dtype == torch.int64 and b.target_mask.dtype == torch.bool
    assert int(b.tokens.min()) >= 0 and int(b.tokens.max()) < task.vocab_size
    assert not b.target_mask[:, 0].any() and b.target_mask.any()
    again = task.sample(6, np.random.default_rng(0))
    assert torch.equal(again.tokens, b.tokens)                                   # seeded


def test_sample_equals_the_older_functions():
    copy, mqar = TASKS[0], TASKS[1]
    for task, old in ((copy, lambda r: selective_copying_batch(copy, 4, r)), (mqar, lambda r: mqar_batch(mqar, 4, r))):
        tokens, mask = old(np.random.default_rng(5))
        b = task.sample(4, np.random.default_rng(5))
        assert torch.equal(b.tokens, tokens) and torch.equal(b.target_mask, mask)
    markov = TASKS[2]
    tokens, src = sample_batch(markov.source, 4, 20, np.random.default_rng(5))
    b = markov.sample(4, np.random.default_rng(5))
    assert torch.equal(b.tokens, tokens) and torch.equal(b.meta["source"], src)
    assert b.target_mask[:, 1:].all() and torch.all(b.tokens[:, 0] == BOS)
    recall = TASKS[3]
    b = recall.sample(4, np.random.default_rng(5))
    assert torch.equal(b.tokens, recall_batch(recall, 4, 40, np.random.default_rng(5)))
    # the targets are exactly the tokens after a query, and each copies the latest key
    after_query = b.tokens[:, :-1] == recall.query_token
    assert torch.equal(b.target_mask[:, 1:], after_query)
    for row, m in zip(b.tokens.tolist(), b.target_mask.tolist()):
        for i in range(1, len(row)):
            if m[i]:
                keys = [t for t in row[:i] if recall.first_key <= t < recall.query_token]
                assert row[i] == keys[-1]


class _Fixed(torch.nn.Module):
    """Returns the same logits whatever the tokens (so the loss can be computed by hand)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(logits, requires_grad=False)

    def forward(self, tokens):
        class Out:
            pass
        out = Out()
        out.logits, out.aux_loss = self.logits, self.logits.new_zeros(())
        return out


def test_loss_counts_only_target_positions():
    b = TASKS[1].sample(3, np.random.default_rng(1))
    logits = torch.randn(3, TASKS[1].seq_len, TASKS[1].vocab_size, generator=torch.Generator().manual_seed(0))
    loss, metrics = next_token_loss_fn()(_Fixed(logits), b)
    per = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), b.tokens[:, 1:].reshape(-1),
                          reduction="none").view(3, -1)
    m = b.target_mask[:, 1:]
    assert float(loss) == pytest.approx(float(per[m].mean()), rel=1e-6)
    full, _ = next_token_loss_fn(target_mask_only=False)(_Fixed(logits), b)
    assert float(full) == pytest.approx(float(per.mean()), rel=1e-6)
    changed = logits.clone()
    changed[:, :-1][~m] += 5 * torch.randn_like(changed[:, :-1][~m])          # non-target predictions only
    assert float(next_token_loss_fn()(_Fixed(changed), b)[0]) == pytest.approx(float(loss), rel=1e-6)
    pred = logits[:, :-1].argmax(-1)
    assert metrics["accuracy"] == pytest.approx(float((pred[m] == b.tokens[:, 1:][m]).float().mean()))
    # a plain token tensor: every position from 1 is a target
    plain, _ = next_token_loss_fn()(_Fixed(logits), b.tokens)
    assert float(plain) == pytest.approx(float(per.mean()), rel=1e-6)


def test_batch_validation_and_helpers():
    with pytest.raises(TypeError, match="tokens"):
        Batch(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="target_mask"):
        Batch(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="rng"):
        TASKS[0].sample(2, 0)
    with pytest.raises(ValueError, match="seq_len"):
        MarkovTask(markov_mixture(1, 8, seed=0), seq_len=1)
    fn = batches(TASKS[2], 5)
    assert fn(np.random.default_rng(0)).tokens.shape == (5, 20)
    with pytest.raises(TypeError, match="Task protocol"):
        batches(object(), 5)


def test_batch_from_pairs_and_rows_pad_right_and_mark_only_the_targets():
    b = Batch.from_pairs([([1, 5, 6], [7, 2]), (torch.tensor([1, 9]), [2])], meta={"k": 1})
    assert b.tokens.tolist() == [[1, 5, 6, 7, 2], [1, 9, 2, 0, 0]]          # PAD (0) on the right
    assert b.target_mask.tolist() == [[False, False, False, True, True], [False, False, True, False, False]]
    assert b.meta == {"k": 1}
    r = Batch.from_rows([[1, 4, 4], [1]], [[False, True, False], [False]])
    assert r.tokens.tolist() == [[1, 4, 4], [1, 0, 0]] and r.target_mask.tolist() == [[False, True, False]] + [[False] * 3]
    with pytest.raises(ValueError, match="rows"):
        Batch.from_rows([], [])
    with pytest.raises(ValueError, match="masks"):
        Batch.from_rows([[1, 2]], [[False]])
    with pytest.raises(ValueError, match="masks"):
        Batch.from_rows([[1, 2]], [])
