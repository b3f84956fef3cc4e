"""The shared corpus's exact loss floor and the grid bookkeeping (no training)."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.efficiency import experiments as ex
from frontier.efficiency.distillation import non_embedding_parameters
from frontier.models import TinyLM


def test_sequence_entropy_equals_the_mean_true_nll_of_real_sequences():
    tokens = ex.corpus().sample(3000, np.random.default_rng(0)).tokens
    nll = ex.sequence_nll(tokens)
    assert nll.mean() == pytest.approx(ex.sequence_entropy(), abs=3 * nll.std() / np.sqrt(nll.size))
    assert ex.sequence_entropy() > ex.corpus_entropy()


def test_real_data_is_valid_and_never_switches_source():
    q = ex.data_quality(ex.corpus().sample(200, np.random.default_rng(1)).tokens)
    assert q["invalid"] == 0.0 and q["source_switches"] == 0.0


def test_scaling_grid_matches_its_budgets():
    specs = ex.scaling_grid([8, 16], [1e9, 4e9])
    for spec, c in zip(specs, [1e9, 1e9, 4e9, 4e9]):
        n = non_embedding_parameters(TinyLM(spec.config))
        assert 6 * n * spec.tokens == pytest.approx(c, rel=0.1)
    assert specs[0].config.n_heads == 2 and specs[1].config.n_heads == 4


def test_related_task_keeps_the_support():
    rel, orig = ex.related_task().source.transitions, ex.corpus().source.transitions
    assert np.array_equal(rel > 0, orig > 0)
    assert not np.allclose(rel, orig)
    np.testing.assert_allclose(rel.sum(-1)[orig.sum(-1) > 0], 1.0)
