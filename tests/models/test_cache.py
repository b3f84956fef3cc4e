"""Tests for frontier.models.cache: trained once, loaded after; retrained when anything it depends on changes."""
from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np
import pytest
import torch

from frontier.models.cache import cache_dir, cache_path, cached, clear_cache, model_code_digest
from frontier.models.data import MarkovTask, markov_mixture
from frontier.models.tiny_lm import TinyLM, TinyLMConfig
from frontier.models.training import train_lm

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = TinyLMConfig(vocab_size=12, d_model=16, n_layers=1, n_heads=2, d_ff=16)
CALLS = []            # one entry per call of a train function in this process


def build():
    return TinyLM(CFG, seed=0)


def train_a(model):
    CALLS.append("a")
    task = MarkovTask(markov_mixture(2, 12, seed=0), seq_len=10)
    return train_lm(model, lambda r: task.sample(8, r).tokens, 5, lr=1e-2, seed=0, progress=False)


def train_b(model):
    CALLS.append("b")
    task = MarkovTask(markov_mixture(2, 12, seed=0), seq_len=10)
    return train_lm(model, lambda r: task.sample(8, r).tokens, 6, lr=1e-2, seed=0, progress=False)


def _logits(model):
    tok = torch.arange(12).remainder(12).view(2, 6)
    with torch.no_grad():
        return model(tok).logits


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_MODEL_CACHE", str(tmp_path / "cache"))
    CALLS.clear()


def test_second_call_loads_without_training(capsys):
    first = cached("teacher", build, train_a, key={"cfg": CFG, "steps": 5})
    assert CALLS == ["a"] and "trained" in capsys.readouterr().out
    second, log = cached("teacher", build, train_a, key={"cfg": CFG, "steps": 5}, return_result=True)
    assert CALLS == ["a"] and "loaded from cache" in capsys.readouterr().out
    assert torch.equal(_logits(first), _logits(second)) and not second.training
    assert not torch.equal(_logits(second), _logits(build()))          # the weights are the trained ones
    assert log["step"] == [5] and len(log["loss"]) == 1                  # the TrainLog comes back as a dict
    assert list(cache_dir().glob("teacher-*.pt")) == [cache_path("teacher", {"cfg": CFG, "steps": 5}, build, train_a)]


def test_an_edited_model_or_building_block_retrains(monkeypatch):
    import frontier.models.cache as cache_module

    cached("m", build, train_a, key=1)
    real = model_code_digest
    monkeypatch.setattr(cache_module, "model_code_digest", lambda model: "edited " + real(model))
    cached("m", build, train_a, key=1)
    assert CALLS == ["a", "a"]
    # what the digest reads: the model's module and its building blocks' modules, not torch's
    import inspect
    read = []
    monkeypatch.setattr(inspect, "getsource", lambda obj: read.append(getattr(obj, "__name__", "")) or "")
    real(build())
    assert "frontier.models.tiny_lm" in read and not any(r.startswith("torch") for r in read)


def test_a_changed_key_or_train_function_retrains():
    cached("m", build, train_a, key={"steps": 5})
    cached("m", build, train_a, key={"steps": 6})
    cached("m", build, train_b, key={"steps": 6})
    cached("other-name", build, train_b, key={"steps": 6})
    assert CALLS == ["a", "a", "b", "b"]
    cached("m", build, train_b, key={"steps": 6})
    assert CALLS == ["a", "a", "b", "b"]
    assert clear_cache("m") == 3 and clear_cache() == 1


def _only_file():
    (path,) = cache_dir().glob("*.pt")
    return path


def test_corrupt_or_mismatched_files_are_retrained(capsys):
    good = cached("m", build, train_a, key=1)
    path = _only_file()
    path.write_bytes(path.read_bytes()[:200])                             # a truncated write
    again = cached("m", build, train_a, key=1)
    assert CALLS == ["a", "a"] and "unreadable" in capsys.readouterr().out
    assert torch.equal(_logits(good), _logits(again))                     # seeded training: same weights

    data = torch.load(path, weights_only=True)                            # weights that do not fit
    data["state_dict"].pop("head.weight")
    torch.save(data, path)
    cached("m", build, train_a, key=1)
    assert CALLS == ["a", "a", "a"] and "do not fit" in capsys.readouterr().out

    data = torch.load(path, weights_only=True)                            # a file recorded for another key
    data["record"]["key"] = "2"
    torch.save(data, path)
    cached("m", build, train_a, key=1)
    assert CALLS == ["a", "a", "a", "a"] and "different key" in capsys.readouterr().out
    cached("m", build, train_a, key=1)
    assert len(CALLS) == 4


def test_bad_arguments():
    with pytest.raises(TypeError, match="key"):
        cached("m", build, train_a, key=object())
    with pytest.raises(ValueError, match="name"):
        cached("", build, train_a, key=1)
    with pytest.raises(TypeError, match="build_fn"):
        cached("m", lambda: 3, train_a, key=1)


def _slow_train(model):
    with open(os.environ["FRONTIER_TEST_COUNTER"], "a") as fh:
        fh.write("x")
    time.sleep(0.5)                                    # long enough for the other process to arrive meanwhile
    train_a(model)


def _worker(queue):
    torch.set_num_threads(1)
    model = cached("race", build, _slow_train, key=0, verbose=False)
    queue.put(_logits(model).numpy())


def test_two_processes_racing_get_one_valid_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_TEST_COUNTER", str(tmp_path / "count"))
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(queue,)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    np.testing.assert_array_equal(results[0], results[1])
    assert (tmp_path / "count").read_text() == "x"                        # trained once; the other waited and loaded
    model = cached("race", build, _slow_train, key=0)
    np.testing.assert_array_equal(_logits(model).numpy(), results[0])
    assert (tmp_path / "count").read_text() == "x"
