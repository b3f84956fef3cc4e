"""Preference optimisation on the TinyLM: the reward, the reward model, and the claims the lesson makes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from frontier.alignment.lm import (NEGATIVE, POSITIVE, ReviewWorld, evaluate_lm, fit_linear_reward_model,
                                   preference_pairs, pretrained_review_lm, train_dpo_lm, train_rlhf_lm)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reward_counts_positive_minus_negative_adjectives_in_the_continuation():
    w = ReviewWorld()
    text = ["the film was great and the plot was dull .", "the plot was great and the cast was superb ."]
    ids = torch.tensor([[w.tokenizer.BOS] + w.tokenizer.encode(t) for t in text])
    assert ids.shape[1] == w.PROMPT_LEN + w.CONT_LEN
    assert w.reward(ids).tolist() == [0.0, 2.0]
    ids[0, 2] = w.tokenizer.token_to_id("awful")          # the prompt is not scored
    assert w.reward(ids)[0] == 0.0
    corpus = w.sample(2000, seed=0)
    assert corpus.shape == (2000, 11) and abs(w.reward(corpus).mean()) < 0.1   # the corpus is balanced


def test_linear_reward_model_recovers_word_weights_up_to_scale_of_the_labels():
    g = np.random.default_rng(0)
    true_w = g.normal(size=6)
    fa, fb = g.poisson(1.0, size=(20_000, 6)).astype(float), g.poisson(1.0, size=(20_000, 6)).astype(float)
    first = g.random(20_000) < 1 / (1 + np.exp(-(fa - fb) @ true_w))
    fc, fr = np.where(first[:, None], fa, fb), np.where(first[:, None], fb, fa)
    w = fit_linear_reward_model(fc, fr, l2=0.0)
    assert np.abs(w - true_w).max() < 0.1
    with pytest.raises(ValueError, match="same shape"):
        fit_linear_reward_model(fc, fr[:, :3])


@pytest.mark.slow
def test_dpo_on_the_lm_raises_reward_while_both_implicit_rewards_fall_and_the_margin_grows():
    w = ReviewWorld()
    ref = pretrained_review_lm(w, progress=False)
    data = preference_pairs(w, ref, 1000, seed=0)
    run = train_dpo_lm(w, ref, data, 0.1, steps=80, eval_every=80, eval_n=128, progress=False)
    rec = {k: np.asarray(v) for k, v in run.records.items()}
    late = slice(-10, None)
    assert rec["margin"][late].mean() > 0.5                        # the margin grows from 0 ...
    assert rec["chosen"][late].mean() < -0.3                        # ... while the chosen response's reward falls
    assert rec["rejected"][late].mean() < rec["chosen"][late].mean()
    assert run.evals["reward"][-1] > evaluate_lm(w, ref, ref, n=128)["reward"] + 0.5


@pytest.mark.slow
def test_rlhf_on_the_lm_raises_the_true_reward_at_a_measured_kl():
    w = ReviewWorld()
    ref = pretrained_review_lm(w, progress=False)
    data = preference_pairs(w, ref, 1000, seed=0)
    rm = fit_linear_reward_model(w.features(data.chosen), w.features(data.rejected))
    ids = w.tokenizer.token_to_id
    assert min(rm[ids(a)] for a in POSITIVE) > max(rm[ids(a)] for a in NEGATIVE)
    run = train_rlhf_lm(w, ref, rm, 1.0, steps=60, eval_every=60, eval_n=128, progress=False)
    base = evaluate_lm(w, ref, ref, n=128)["reward"]
    assert run.evals["reward"][-1] > base + 0.3 and run.evals["kl"][-1] > 0
