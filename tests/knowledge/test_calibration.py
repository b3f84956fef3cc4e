"""Calibration metrics against constructed cases, temperature scaling invariants, selective prediction."""
from __future__ import annotations

import numpy as np
import pytest

from frontier.knowledge.calibration import (brier_score, expected_calibration_error, fit_temperature_logits,
                                            fit_temperature_sequences, multiclass_nll, nll, reliability_curve,
                                            selective_prediction, sequence_confidence, softmax)


def test_ece_is_zero_for_a_perfectly_calibrated_predictor():
    # in every bin, the share correct equals the confidence exactly
    conf = np.repeat([0.2, 0.5, 0.8, 1.0], [5, 4, 10, 3])
    correct = np.concatenate([[1, 0, 0, 0, 0], [1, 1, 0, 0], [1] * 8 + [0] * 2, [1, 1, 1]])
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_a_sampled_calibrated_predictor_shrinks_with_n():
    rng = np.random.default_rng(0)
    eces = []
    for n in (200, 20_000):
        p = rng.uniform(size=n)
        eces.append(expected_calibration_error(p, rng.uniform(size=n) < p))
    assert eces[1] < eces[0] and eces[1] < 0.02


def test_ece_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    p, y = rng.uniform(size=500), rng.uniform(size=500) < 0.6
    edges = np.linspace(0, 1, 16)
    want = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p > lo) & (p <= hi) if lo > 0 else (p >= lo) & (p <= hi)
        if m.any():
            want += m.mean() * abs(y[m].mean() - p[m].mean())
    assert expected_calibration_error(p, y, n_bins=15) == pytest.approx(want)
    curve = reliability_curve(p, y, 15)
    assert curve["count"].sum() == 500 and len(curve["edges"]) == 16


def test_overconfidence_shows_in_ece_and_a_constant_predictor_games_it():
    y = np.array([1, 0] * 50)
    assert expected_calibration_error(np.full(100, 0.95), y) == pytest.approx(0.45)
    assert expected_calibration_error(np.full(100, 0.5), y) == 0.0            # ECE 0, yet says nothing
    assert nll(np.full(100, 0.5), y) == pytest.approx(np.log(2))
    assert brier_score(np.full(100, 0.5), y) == pytest.approx(0.25)


def test_temperature_scaling_keeps_accuracy_and_lowers_nll():
    rng = np.random.default_rng(0)
    n, c = 2000, 5
    labels = rng.integers(c, size=n)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), labels] += 1.0
    logits *= 4.0                                                            # overconfident
    T = fit_temperature_logits(logits, labels)
    assert T > 1.5
    assert (softmax(logits, T).argmax(1) == softmax(logits).argmax(1)).all()
    assert multiclass_nll(logits, labels, T) < multiclass_nll(logits, labels)
    conf_before = softmax(logits).max(1)
    conf_after = softmax(logits, T).max(1)
    right = softmax(logits).argmax(1) == labels
    assert expected_calibration_error(conf_after, right) < expected_calibration_error(conf_before, right)


def test_temperature_of_a_calibrated_model_is_near_one():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5000, 4)) * 2
    labels = np.array([rng.choice(4, p=p) for p in softmax(logits)])
    assert fit_temperature_logits(logits, labels) == pytest.approx(1.0, abs=0.1)


def test_sequence_confidence_and_its_temperature():
    z = [np.array([[3.0, 0.0], [0.0, 2.0]]), np.array([[0.0, 1.0]])]
    ids = [np.array([0, 1]), np.array([1])]
    c = sequence_confidence(z, ids)
    assert c[0] == pytest.approx(softmax(z[0][0])[0] * softmax(z[0][1])[1])
    assert (sequence_confidence(z, ids, 100.0) < c).all()
    T = fit_temperature_sequences(z * 50, ids * 50, [1, 0] * 50)
    assert 0.05 <= T <= 20


def test_selective_prediction():
    s = selective_prediction([0.9, 0.2, 0.6, 0.8], [1, 0, 0, 1])
    np.testing.assert_allclose(s["coverage"], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(s["accuracy"], [1, 1, 2 / 3, 0.5])


@pytest.mark.parametrize("conf, correct", [([], []), ([0.5, 1.2], [1, 0]), ([0.5], [2]), ([0.5, 0.5], [1])])
def test_bad_input(conf, correct):
    with pytest.raises(ValueError):
        expected_calibration_error(conf, correct)


def test_bad_bins():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0.5], [1], n_bins=0)


def test_auroc_and_score_report():
    from sklearn.metrics import roc_auc_score
    from frontier.knowledge.calibration import auroc, score_report
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    # pairs (right, wrong) ranked right: 9 pairs, 0.7 and 0.6 lose to 0.8 -> 7 / 9
    assert auroc(p, y) == pytest.approx(7 / 9) == pytest.approx(roc_auc_score(y, p))
    assert auroc(0.5 + 0.5 * p, y) == pytest.approx(auroc(p, y))            # ranking only: monotone map leaves it
    assert np.isnan(auroc([0.3, 0.9], [1, 1]))
    r = score_report(p, y, n_bins=5)
    assert r["n"] == 6 and r["accuracy"] == 0.5 and r["mean"] == pytest.approx(p.mean())
    assert r["ece"] == expected_calibration_error(p, y, 5) and r["brier"] == brier_score(p, y)
    with pytest.raises(ValueError, match="confidences"):
        score_report([1.5], [1])


@pytest.mark.slow
def test_self_evaluation_claims(one_torch_thread):
    """Lesson 6.2, section 7: on the reader's closed-book answers (seen and unseen facts), the answer's probability
    ranks right above wrong best, P(True) is the best calibrated and lets fewer hallucinations through a 0.5
    threshold, and P(IK) stays near 1 on the unseen facts' (wrong) answers."""
    from frontier.knowledge import experiments as ex
    from frontier.knowledge.calibration import auroc
    w = ex.self_eval_world(smoke=True, seed=0, progress=False)
    its, right, scores = ex.confidence_scores(w.reader, [it for it in w.items if it.split != "abstain"])
    unseen = np.array([it.split == "unseen" for it in its])
    assert not right[unseen].any() and 0 < right.mean() < 1          # fictional companies: unseen answers are guesses
    ans, pik, pt = scores["answer probability"], scores["P(IK)"], scores["P(True)"]
    assert auroc(ans, right) > max(auroc(pt, right), auroc(pik, right))
    assert min(auroc(pt, right), auroc(pik, right)) > 0.6
    ece = {k: expected_calibration_error(v, right) for k, v in scores.items()}
    assert ece["P(True)"] < ece["answer probability"] < ece["P(IK)"]
    assert np.mean(pt[unseen] >= 0.5) < np.mean(ans[unseen] >= 0.5)
    assert pik[unseen].mean() > 0.9
    assert pt[unseen].mean() < pt[~unseen].mean()
