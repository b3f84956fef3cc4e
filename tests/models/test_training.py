"""Tests for frontier.models.training: the generic loop `train` and its next-token wrapper `train_lm`."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from frontier.models.data import MarkovTask, markov_mixture
from frontier.models.tasks import next_token_loss, next_token_loss_fn
from frontier.models.tiny_lm import TinyLM, TinyLMConfig
from frontier.models.training import TrainLog, expert_load_record, train, train_lm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Out:
    def __init__(self, logits, aux_loss):
        self.logits, self.aux_loss = logits, aux_loss


class _Encoder(nn.Module):
    """Maps a point to a unit vector; used for a contrastive loss that has nothing to do with next tokens."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 8))

    def forward(self, x):
        return nn.functional.normalize(self.net(x), dim=-1)


def _pairs(rng):
    """Two noisy views of 16 random points: an InfoNCE toy problem (the positive of row i is column i)."""
    x = rng.standard_normal((16, 4))
    a = x + 0.05 * rng.standard_normal((16, 4))
    b = x + 0.05 * rng.standard_normal((16, 4))
    return torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)


def _info_nce(model, batch):
    a, b = batch
    logits = model(a) @ model(b).T / 0.1
    loss = nn.functional.cross_entropy(logits, torch.arange(len(a)))
    return loss, {"accuracy": float((logits.argmax(-1) == torch.arange(len(a))).float().mean())}


def test_train_lowers_a_contrastive_loss():
    model = _Encoder()
    fixed = _pairs(np.random.default_rng(99))
    with torch.no_grad():
        before = float(_info_nce(model, fixed)[0])
    log = train(model, _info_nce, _pairs, 150, lr=1e-2, seed=0, progress=False, record_every=50)
    with torch.no_grad():
        after = float(_info_nce(model, fixed)[0])
    assert after < 0.5 * before
    assert log.step == [50, 100, 150] and len(log.metrics) == 3 and "accuracy" in log.metrics[0]
    assert not model.training


def test_params_leave_every_other_parameter_bit_identical():
    model = TinyLM(TinyLMConfig(vocab_size=16, d_model=16, n_layers=2, n_heads=2, d_ff=32), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = [model.head.weight]                          # as LoRA would pass only its adapters
    task = MarkovTask(markov_mixture(2, 16, seed=0), seq_len=12)
    train(model, next_token_loss_fn(), lambda r: task.sample(8, r), 20, lr=1e-2, seed=0, progress=False, params=trained,
          weight_decay=0.5)
    after = model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == ["head.weight"]
    assert all(p.requires_grad for p in model.parameters())            # frozen only during the run
    assert all(p.grad is None for n, p in model.named_parameters() if n != "head.weight")


def _reference_train_lm(model, batch_fn, steps, lr, seed):
    """The loop train_lm had before it became a wrapper of train (kept to pin its numbers)."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    losses = []
    for _ in range(steps):
        tokens = batch_fn(rng)
        out = model(tokens)
        loss = next_token_loss(out.logits, tokens)
        opt.zero_grad(set_to_none=True)
        (loss + out.aux_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("n_experts", [1, 4])
def test_train_lm_matches_the_original_loop(n_experts):
    cfg = TinyLMConfig(vocab_size=16, d_model=16, n_layers=1, n_heads=2, d_ff=16, n_experts=n_experts,
                       **({"balance_coef": 0.01} if n_experts > 1 else {}))
    task = MarkovTask(markov_mixture(2, 16, seed=0), seq_len=10)

    def batch_fn(r):
        return task.sample(4, r).tokens

    ref = _reference_train_lm(TinyLM(cfg, seed=0), batch_fn, 12, 1e-2, 3)
    model = TinyLM(cfg, seed=0)
    log = train_lm(model, batch_fn, 12, lr=1e-2, seed=3, record_every=1, progress=False,
                   record=expert_load_record if n_experts > 1 else None)
    np.testing.assert_allclose(log.loss, ref, rtol=1e-6)
    if n_experts > 1:
        assert len(log.records) == 12 and len(log.records[0]["load"]) == 1
        assert all(a > 0 for a in log.aux_loss)
    assert isinstance(log, TrainLog) and log.lr[0] == pytest.approx(1e-2)     # warm-up of max(1, 12 // 10) = 1 step


def test_aux_loss_is_added_unless_the_loss_takes_it_over():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([2.0]))

        def forward(self, x):
            return _Out(self.w * x, (self.w ** 2).sum())   # aux pulls w towards 0

    def plain(model, batch):
        return (model(batch).logits - 3.0).pow(2).mean(), {}

    def takes_over(model, batch):
        return (model(batch).logits - 3.0).pow(2).mean(), {"aux_included": True}

    def ones(r):
        return torch.ones(1)

    a, b = Toy(), Toy()
    log = train(a, plain, ones, 400, lr=0.05, optimizer="sgd", progress=False, seed=0)
    train(b, takes_over, ones, 400, lr=0.05, optimizer="sgd", progress=False, seed=0)
    # minimum of (w - 3)^2 + w^2 is w = 1.5; of (w - 3)^2 alone, w = 3
    assert a.w.item() == pytest.approx(1.5, abs=0.02) and b.w.item() == pytest.approx(3.0, abs=0.02)
    assert log.aux_loss[-1] == pytest.approx(a.w.item() ** 2, rel=0.05)


def test_schedules_warmup_and_eval():
    model = _Encoder()
    log = train(model, _info_nce, _pairs, 20, lr=1.0, optimizer="sgd", warmup=4, schedule="cosine",
                record_every=1, progress=False, seed=0, eval_fn=lambda m: {"train_mode": m.training},
                eval_every=5)
    lr = np.array(log.lr)
    np.testing.assert_allclose(lr[:4], [0.25, 0.5, 0.75, 1.0])
    assert np.all(np.diff(lr[3:]) < 0) and lr[-1] > 0
    assert log.eval_step == [5, 10, 15, 20] and all(e["train_mode"] is False for e in log.evals)
    arrays = log.as_arrays()
    assert arrays["loss"].shape == (20,) and arrays["accuracy"].shape == (20,)


def test_iterable_batches_and_clear_errors():
    model = _Encoder()
    data = [_pairs(np.random.default_rng(i)) for i in range(3)]
    log = train(model, _info_nce, iter(data), 3, lr=1e-3, progress=True, desc="contrastive")
    assert log.step == [3]
    with pytest.raises(ValueError, match="batches ran out"):
        train(model, _info_nce, data, 5, lr=1e-3, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        train(model, _info_nce, _pairs, 1, lr=1e-3, optimizer="lion", progress=False)
    with pytest.raises(ValueError, match="schedule"):
        train(model, _info_nce, _pairs, 1, lr=1e-3, schedule="linear", progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(model, _info_nce, _pairs, 1, lr=-1.0, progress=False)
    with pytest.raises(TypeError, match="batches"):
        train(model, _info_nce, 5, 1, lr=1e-3, progress=False)
    with pytest.raises(TypeError, match="loss_fn must return"):
        train(model, lambda m, b: 1.0, _pairs, 1, lr=1e-3, progress=False)
    with pytest.raises(ValueError, match="params"):
        train(model, _info_nce, _pairs, 1, lr=1e-3, params=[torch.zeros(2)], progress=False)


def test_seeded_runs_are_reproducible_and_leave_the_global_rng_alone():
    def run():
        torch.manual_seed(123)
        model = _Encoder()
        train(model, _info_nce, _pairs, 5, lr=1e-2, seed=7, progress=False)
        return model.net[0].weight.detach().clone(), torch.rand(1)

    (w1, r1), (w2, r2) = run(), run()
    assert torch.equal(w1, w2) and torch.equal(r1, r2)
    torch.manual_seed(123)
    _Encoder()
    assert torch.equal(torch.rand(1), r1)               # training consumed none of the caller's random numbers


def test_frontier_models_train_is_the_function():
    import frontier.models as fm

    assert callable(fm.train) and fm.train is train
