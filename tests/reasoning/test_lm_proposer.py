"""The TinyLM proposer: its training data and its compute counter."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.models import TinyLM
from frontier.reasoning.lm import SIZES, LMProposer, TraceTask, _config, tokenizer
from frontier.reasoning.steps import check_chain, parse_chain
from frontier.reasoning.strategies import best_of_n, tree_search
from frontier.reasoning.verifiers import NoisyOutcomeVerifier, NoisyProcessVerifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PUZZLES = [(4, 4, 6, 8), (3, 3, 8, 8), (1, 2, 3, 4), (2, 5, 7, 11)]


def test_training_data_is_solver_verified():
    task = TraceTask(PUZZLES)
    batch = task.sample(32, np.random.default_rng(0))
    tok = tokenizer()
    for row, mask in zip(batch.tokens.tolist(), batch.target_mask.tolist()):
        text = tok.decode(row)
        prompt, chain = text.split(":")
        puzzle = tuple(int(x) for x in prompt.split())
        steps, ok = parse_chain(chain)
        assert ok and check_chain(puzzle, steps).solved, text
        # the loss covers exactly the chain and the end marker
        assert sum(mask) == len(chain) + 1 and not any(mask[:len(prompt) + 2])


class _Counter:
    """Counts the token positions that go through the model's forward."""

    def __init__(self, model):
        self.n = 0
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        tokens = args[0] if args else kwargs.get("tokens")
        self.n += tokens.numel()


def test_compute_counters_equal_the_positions_the_network_processed():
    model = TinyLM(_config(SIZES["small"]), seed=0)          # untrained: the counting does not care
    counter = _Counter(model)
    prop = LMProposer(model)
    rng = np.random.default_rng(0)
    props = prop.extend(PUZZLES[0], (), 6, rng)
    assert sum(p.tokens for p in props) == counter.n == prop.tokens_processed
    before = counter.n
    out = best_of_n(prop, PUZZLES[1], rng, n=4, verifier=NoisyOutcomeVerifier())
    assert out.tokens == counter.n - before
    before = counter.n
    out = tree_search(prop, PUZZLES[2], rng, breadth=2, proposals=3, prm=NoisyProcessVerifier())
    assert out.tokens == counter.n - before > 0
